"""`carsynth build` as a user sees it (issue 16): warnings, unverified quotes, --strict, --only
counts, what changed (CHANGES.md) and the progress line. Each test starts from a fresh copy of
the shipped review (review.yaml + studies/, no output folder), as a fresh clone would.

Reference numbers (R metafor 3.8-1) for CRS incidence pooled with the default model (the
shipped plan pools proportions with a GLMM, so these tests use a plan of their own, PLAN):
    rma(measure="PLO", xi=c(76,110,41), ni=c(93,120,45), method="REML", test="adhoc")
      predict(transf=transf.ilogit): 0.8820546 [0.6476682, 0.9681780]; QE = 5.177700
    xi=c(75,110,41): 0.8796301 [0.6198812, 0.9703680]; QE = 6.163635
  I² = (QE - 2)/QE = 61.4% and 67.6%.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synthesis.cli import main

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"
# the three percentages Ma 2024 prints inconsistently (recorded as discrepancies)
MA_WARNINGS = [
    ("icans_any", r"records\[\d+\]\(icans_any\)\.percent: printed 5\.3% does not match 16/93 = "
     r"17\.2% at the printed precision \(a paper inconsistency, recorded as discrepancies\[0\]\)"),
    ("icans_grade3plus", r"records\[\d+\]\(icans_grade3plus\)\.percent: printed 2\.65% does not "
     r"match 8/93 = 8\.602% at the printed precision \(a paper inconsistency, recorded as "
     r"discrepancies\[1\]\)"),
    ("treatment_use_tcz", r"records\[\d+\]\(treatment_use_tcz\)\.percent: printed 48\.3% does "
     r"not match 45/93 = 48\.39% at the printed precision \(a paper inconsistency, recorded as "
     r"discrepancies\[2\]\)"),
]


def _assert_at_its_line(line: str, proj: Path, pattern: str) -> None:
    """``    studies/ma2024.yaml:N: <message>``, and line N of that file is the field named."""
    m = re.fullmatch(r"    (studies/ma2024\.yaml):(\d+): (.*)", line)
    assert m and re.fullmatch(pattern, m.group(3)), line
    text = (proj / m.group(1)).read_text().splitlines()[int(m.group(2)) - 1]
    assert text.strip().startswith("percent:"), (line, text)


PLAN = """review_version: 1
title: CRS incidence and GC
studies: studies
output: output
analyses:
  - id: crs_any_incidence
    title: Incidence of CRS, any grade
    select: {kind: proportion, outcome: [crs_any]}
    measure: PLO
    model: {primary: random}  # the default model leads (not the small-k Bayesian rule)
  - id: gc_cr
    title: GC vs no GC, complete response
    select: {kind: binary, outcome: [cr], exposure: [gc], timepoint: [day 28, day 30, 1 month]}
    measure: OR
"""


@pytest.fixture()
def project(tmp_path):
    """The shipped review as a fresh clone has it: review.yaml and studies/, no output."""
    proj = tmp_path / "review"
    proj.mkdir()
    shutil.copy(REPO / "review.yaml", proj / "review.yaml")
    shutil.copytree(REPO / "studies", proj / "studies")
    return proj


@pytest.fixture()
def small(project):
    """The shipped studies under PLAN (the default pooling model)."""
    (project / "review.yaml").write_text(PLAN)
    return project


def _set_sources(proj: Path, value: str) -> None:
    plan = proj / "review.yaml"
    text = plan.read_text()
    plan.write_text(re.sub(r"(?m)^sources: .*$", f"sources: {value}", text, count=1))


def _build(proj, capsys, *args):
    rc = main(["build", "--plan", str(proj / "review.yaml"), "--jobs", "1", *args])
    out, err = capsys.readouterr()
    return rc, out.replace(str(proj), "PROJ"), err.replace(str(proj), "PROJ")


def test_misspelled_sources_folder_is_one_notice_and_warnings_are_grouped(project, capsys):
    _set_sources(project, "../shared/seedz")
    rc, out, err = _build(project, capsys, "--only", "gc_cr")
    assert rc == 0
    assert re.fullmatch(r"carsynth build: 1 analysis built, 0 unchanged; \d+ files written to "
                        r"PROJ/output", out.splitlines()[0])
    lines = err.splitlines()
    assert lines[0] == "3 warnings in 1 study file (the build went on; --strict fails on them):"
    assert lines[1] == "  Ma 2024 (studies/ma2024.yaml)"
    for line, (_, pattern) in zip(lines[2:5], MA_WARNINGS):
        _assert_at_its_line(line, project, pattern)
    assert lines[5] == ("quotes not verified: the sources folder ../shared/seedz (review.yaml, "
                        "sources:) does not exist; 3 study files were checked without their papers")
    assert len(lines) == 6


def test_strict_fails_on_warnings_and_writes_nothing(project, capsys):
    _set_sources(project, "../shared/seedz")
    rc, out, err = _build(project, capsys, "--only", "gc_cr", "--strict")
    assert rc == 1 and out == ""
    assert err.splitlines()[-1] == ("build stopped: 3 warnings and an unverified sources folder "
                                    "under --strict; previous outputs left untouched")
    assert not (project / "output").exists()


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed papers not in ../shared/seeds")
def test_strict_with_the_papers_still_fails_on_paper_inconsistencies(project, capsys):
    rc, _, err = _build(project, capsys, "--only", "gc_cr", "--strict",
                        "--sources", str(SEEDS))
    assert rc == 1
    assert "quotes not verified" not in err
    assert err.splitlines()[-1] == ("build stopped: 3 warnings under --strict; previous outputs "
                                    "left untouched")


def test_only_counts_only_the_analyses_asked_for(project, capsys):
    rc, out, _ = _build(project, capsys, "--only", "gc_cr", "gc_pfs_family_hr")
    assert rc == 0
    assert out.splitlines()[0].startswith("carsynth build: 2 analyses built, 0 unchanged; ")
    rc, out, _ = _build(project, capsys, "--only", "gc_cr")
    assert out.splitlines()[0].startswith("carsynth build: 0 analyses built, 1 unchanged; ")


def test_changes_after_a_corrected_count_name_the_record(small, capsys):
    project = small
    rc, out, _ = _build(project, capsys, "--only", "crs_any_incidence")
    assert rc == 0
    assert out.splitlines()[1] == ("first build of this folder: 1 analysis listed in "
                                   "PROJ/output/CHANGES.md")
    ma = project / "studies" / "ma2024.yaml"
    text = ma.read_text()
    old = "    events: 76\n    total: 93\n    percent: 81.7\n"
    assert old in text
    ma.write_text(text.replace(old, "    events: 75\n    total: 93\n    derived: {events: "
                                    "\"erratum: one patient reclassified\"}\n", 1))
    rc, out, _ = _build(project, capsys, "--only", "crs_any_incidence")
    assert rc == 0
    assert out.splitlines()[1:] == [
        "changed since the previous build (also in PROJ/output/CHANGES.md):",
        "  crs_any_incidence  k 3; 0.882 [0.648, 0.968] → 0.880 [0.620, 0.970]; I² 61% → 68%",
        "                       Ma 2024: record crs_any changed (studies/ma2024.yaml: events "
        "76 → 75, percent 81.7 → none, derived.events none → erratum: one patient reclassified)",
    ]
    md = (project / "output" / "CHANGES.md").read_text()
    assert ("| Incidence of CRS, any grade (`crs_any_incidence`) | changed | 3 | "
            "0.882 [0.648, 0.968] → 0.880 [0.620, 0.970] | 61% → 68% |") in md
    # an unchanged rebuild keeps CHANGES.md as the record of the last change
    rc, out, _ = _build(project, capsys, "--only", "crs_any_incidence")
    assert out.splitlines()[1] == "no results changed since the previous build"
    assert (project / "output" / "CHANGES.md").read_text() == md


def test_changes_name_a_removed_study(small, capsys):
    project = small
    _build(project, capsys, "--only", "crs_any_incidence", "gc_cr")
    (project / "studies" / "zhou2025.yaml").unlink()
    rc, out, _ = _build(project, capsys, "--only", "crs_any_incidence", "gc_cr")
    assert rc == 0
    assert "    removed Zhou 2025 (studies/zhou2025.yaml, record crs_any)" in out
    assert "gc_cr" not in out  # Zhou 2025 reports no GC comparison of CR: unchanged


def _run(proj: Path, stderr) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"TERM": "xterm"}
    return subprocess.Popen([sys.executable, "-m", "synthesis", "build", "--only",
                             "crs_any_incidence", "--jobs", "1"], cwd=proj, env=env,
                            stdout=subprocess.PIPE, stderr=stderr)


def test_progress_only_on_a_terminal(small):
    project = small
    piped = _run(project, subprocess.PIPE)
    _, err = piped.communicate(timeout=600)
    assert piped.returncode == 0
    assert b"\r" not in err and b"\x1b" not in err  # quiet in pipes
    import pty
    import threading

    (project / "output" / ".carsynth-state.json").unlink()  # force a rebuild
    master, slave = pty.openpty()
    seen = bytearray()

    def drain():  # read while the build runs, so a full pty buffer never blocks it
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        tty = _run(project, slave)
        os.close(slave)
        tty.communicate(timeout=600)
        reader.join(timeout=30)
    finally:
        os.close(master)
    assert tty.returncode == 0
    # the build takes over a second: a spinner while checking the studies, then the bar
    assert re.search(rb"\rbuilding ([|/\\-] \d+ s checking the study files|\[#* *\] \d/1 )",
                     bytes(seen)), bytes(seen[:300])
    assert bytes(seen).count(b"\x1b[K") >= 2  # drawn, then erased before the warnings


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                    reason="needs git and a git checkout of carsynth to clone")
def test_a_fresh_clone_builds_and_says_its_papers_are_missing(tmp_path):
    """The README's first command, from a fresh clone without ../shared/seeds beside it."""
    clone = tmp_path / "carsynth"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(clone)}

    def build(*extra):
        return subprocess.run([sys.executable, "-m", "synthesis", "build", "--only", "gc_cr",
                               "--jobs", "1", *extra], cwd=clone, env=env, capture_output=True,
                              text=True, timeout=600)

    strict = build("--strict")
    assert strict.returncode == 1 and strict.stdout == ""
    assert re.fullmatch(r"build stopped: \d+ warnings and an unverified sources folder under "
                        r"--strict; previous outputs left untouched",
                        strict.stderr.splitlines()[-1])
    assert not (clone / "output").exists()
    done = build()
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert re.fullmatch(r"carsynth build: 1 analysis built, 0 unchanged; \d+ files written to "
                        r"output", out[0])
    assert out[1] == "first build of this folder: 1 analysis listed in output/CHANGES.md"
    assert any(re.fullmatch(r"quotes not verified: the sources folder \.\./shared/seeds "
                            r"\(review\.yaml, sources:\) does not exist; \d+ study files were "
                            r"checked without their papers", line)
               for line in done.stderr.splitlines()), done.stderr
    assert (clone / "output" / "CHANGES.md").is_file()


def test_a_missing_sources_argument_is_named_as_such(project, capsys):
    rc, _, err = _build(project, capsys, "--only", "gc_cr", "--sources", "/nonexistent/papers")
    assert rc == 0
    assert re.fullmatch(r"quotes not verified: the sources folder /nonexistent/papers "
                        r"\(--sources\) does not exist; \d+ study files were checked without "
                        r"their papers", err.splitlines()[-1])


def test_several_missing_plan_folders_are_one_line(tmp_path):
    from types import SimpleNamespace

    from synthesis.cli.build_report import SourcesUsed, diagnostics

    there = tmp_path / "papers"
    there.mkdir()
    used = SourcesUsed((there, tmp_path / "a", tmp_path / "b"), ("papers", "a", "b"),
                       "review.yaml, sources:")
    found = diagnostics([SimpleNamespace(path=tmp_path / "s.yaml", study=None, messages=[])],
                        tmp_path, used)
    assert found.lines == ("quotes not verified: the sources folders a, b (review.yaml, "
                           "sources:) do not exist",)
    assert found.strict_failure() == ("build stopped: an unverified sources folder under "
                                      "--strict; previous outputs left untouched")
