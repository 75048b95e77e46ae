"""`carsynth build` and `heterogeneity` over an output folder: outputs verified by hash and
repaired, one writer at a time, heterogeneity runs never overwritten by a build, and clear
errors for unusable output paths."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from synthesis import cli
from synthesis.report.staging import OutputLock

REPO = Path(__file__).resolve().parents[1]
SMALL = ("gc_cr", "crs_any_incidence")


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """The shipped review cut to two analyses, quotes not verified (fast)."""
    plan = yaml.safe_load((REPO / "review.yaml").read_text())
    # only the core sections: no sources (quotes not verified: faster, nothing outside the
    # project), no overview or summary-of-findings tables naming analyses cut here
    plan = {k: v for k, v in plan.items()
            if k in ("review_version", "title", "studies", "output", "analyses")}
    plan["analyses"] = [a for a in plan["analyses"] if a["id"] in SMALL]
    (tmp_path / "review.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True, sort_keys=False))
    shutil.copytree(REPO / "studies", tmp_path / "studies")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _build(*extra: str) -> int:
    return cli.main(["build", "--jobs", "1", "--quiet", *extra])


def test_missing_or_changed_outputs_are_rebuilt(project, capsys):
    """The issue: after a damaged output, `build` said '0 analyses built' and kept it."""
    assert _build() == 0
    out = project / "output"
    before = _hashes(out)
    (out / "crs_any_incidence" / "forest.png").write_bytes(b"not a png")  # changed by hand
    (out / "gc_cr" / "result.json").unlink()  # missing
    (out / "results.csv").write_text("id\n")  # a review-wide file changed
    assert cli.main(["build", "--jobs", "1"]) == 0
    assert "2 analyses built" in capsys.readouterr().out
    assert _hashes(out) == before


def test_a_second_writer_is_refused_with_a_clear_message(project, capsys):
    out = project / "output"
    with OutputLock(out.resolve(), "build"):  # another build holds the folder
        assert _build() == 74
    err = capsys.readouterr().err.strip()
    assert err.startswith("carsynth build: ") and "another carsynth command is writing" in err
    assert str(out.resolve()) in err and "wait for it to finish" in err and "\n" not in err
    assert not out.exists()  # nothing was written
    assert _build() == 0  # and the lock is gone with its holder


def test_heterogeneity_runs_are_kept_apart_and_survive_builds(project, capsys):
    """The issue: `heterogeneity ID --moderator X` overwrote output/ID/heterogeneity.json and
    later builds kept that version."""
    assert _build() == 0
    out = project / "output"
    built = _hashes(out)
    assert cli.main(["heterogeneity", "crs_any_incidence", "--moderator", "median_age"]) == 0
    run = out / "heterogeneity-runs" / "crs_any_incidence--moderator-median_age"
    data = json.loads((run / "crs_any_incidence" / "heterogeneity.json").read_text())
    assert [m["moderator"] for m in data["meta_regression"]] in ([], ["median_age"])
    after = _hashes(out)
    assert {k: v for k, v in after.items() if not k.startswith("heterogeneity-runs/")} == built
    run_files = {k: v for k, v in after.items() if k.startswith("heterogeneity-runs/")}
    assert run_files
    assert _build("--force") == 0  # a forced build rewrites its own files, keeps the run
    final = _hashes(out)
    assert {k: v for k, v in final.items() if k.startswith("heterogeneity-runs/")} == run_files
    assert {k: v for k, v in final.items() if not k.startswith("heterogeneity-runs/")} == built


def test_user_files_in_the_output_folder_are_kept(project):
    assert _build() == 0
    out = project / "output"
    (out / "my-notes.md").write_text("mine\n")
    (out / "gc_cr" / "annotated.txt").write_text("also mine\n")
    plan = project / "review.yaml"
    plan.write_text(plan.read_text().replace("title: GC vs no GC", "title: GC versus no GC"))
    assert _build() == 0
    assert (out / "my-notes.md").read_text() == "mine\n"
    assert (out / "gc_cr" / "annotated.txt").read_text() == "also mine\n"


@pytest.mark.parametrize("target", ["review.yaml", "studies/zhang2025.yaml", "/dev/null",
                                    "out\0x", "."])
def test_unusable_output_paths_are_clear_errors(project, capsys, target):
    """The issue: exit 70, 'internal error ... This is a bug' for these."""
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    code = _build("--output", target)
    err = capsys.readouterr().err.strip()
    assert code not in (0, 70) and "internal error" not in err and "bug" not in err
    assert err.startswith("carsynth build: ") and len(err.splitlines()) == 1
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before


def test_outputs_no_longer_produced_are_removed(project):
    """An analysis dropped from the plan leaves no stale files behind (its folder goes);
    the user's own files stay."""
    assert _build() == 0
    out = project / "output"
    (out / "my-notes.md").write_text("mine\n")
    assert (out / "gc_cr" / "forest.png").is_file()
    plan = yaml.safe_load((project / "review.yaml").read_text())
    plan["analyses"] = [a for a in plan["analyses"] if a["id"] != "gc_cr"]
    (project / "review.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True, sort_keys=False))
    assert _build() == 0
    assert not (out / "gc_cr").exists()
    assert (out / "crs_any_incidence" / "forest.png").is_file()
    assert (out / "my-notes.md").read_text() == "mine\n"
