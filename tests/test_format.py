"""The study format's newer fields (grading, intent, comparators, strata, rounded counts,
abstracts, review status), overlaps checked against the folder, source confinement, and
messages that stay on one line at the true position whatever the input."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from extract.schema import OUTCOMES
from extract.validate import did_you_mean, validate_paths
from extract.validate.checker import MAX_MESSAGES

PAPER = """Results. CRS occurred in 88% of the 194 infused patients (ASTCT grading).
Grade 4 CRS occurred in 3 of 194 patients. In the low-burden stratum (n = 120) CRS occurred
in 90 of 120; in the high-burden stratum (n = 74) in 70 of 74. Tocilizumab was given
preemptively at the first fever. Compared with the historical ZUMA-3 cohort (NCT02614066).
"""

BASE = """\
schema_version: 1
id: {id}
citation:
  authors: [Doe J, et al.]
  title: T
  journal: Blood
  publication: abstract
  meeting: ASH 2024
  year: {year}
registrations: [{reg}]
design: {{type: prospective, centres: multi}}
population:
  age_group: adult
  disease_status: relapsed/refractory
  car_targets: [CD19]
  car_origin: autologous
  n_infused: 194
grading: {{crs: astct2019, icans: astct2019}}
sources:
  - {{file: paper.txt, sha256: {sha}, kind: abstract}}
extraction: {{extractor: {{name: A, date: 2026-11-01}}}}
records:
  - id: crs_any
    kind: proportion
    outcome: crs_any
    events: 171
    events_range: [170, 171]
    percent: 88
    total: 194
    derived: {{events: "88% of 194, rounded"}}
    quotes: [{{text: "CRS occurred in 88% of the 194 infused patients"}}]
{extra}"""


def write(tmp_path: Path, extra: str = "", sid: str = "doe2024", year: int = 2024,
          reg: str = "NCT00000001", folder: str = "studies", **replace: str) -> Path:
    src = tmp_path / "sources"
    src.mkdir(exist_ok=True)
    (src / "paper.txt").write_text(PAPER)
    sha = hashlib.sha256(PAPER.encode()).hexdigest()
    text = BASE.format(id=sid, year=year, reg=reg, sha=sha, extra=extra)
    for old, new in replace.items():
        old = old.replace("__", " ")
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / folder / f"{sid}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def messages(tmp_path: Path, *paths: Path, sources: Path | None = None) -> list[str]:
    report = validate_paths(list(paths), sources or tmp_path / "sources")
    return [str(m).split(":", 1)[1] for m in report.messages]


def test_the_full_new_format_validates_clean(tmp_path):
    extra = """\
  - id: crs_grade4
    kind: proportion
    outcome: crs_grade4
    grading_scale: astct2019
    events: 3
    total: 194
    quotes: [{text: "Grade 4 CRS occurred in 3 of 194 patients"}]
  - id: crs_low
    kind: proportion
    outcome: crs_any
    stratum: low
    events: 90
    total: 120
    quotes: [{text: "In the low-burden stratum (n = 120) CRS occurred in 90 of 120"}]
strata:
  - id: low
    variable: disease burden
    label: low
    n: 120
    quote: {text: "In the low-burden stratum (n = 120)"}
  - id: high
    variable: disease burden
    label: high
    n: 74
    quote: {text: "in the high-burden stratum (n = 74)"}
groups:
  - id: tcz
    label: TCZ
    exposure: tcz
    intent: preemptive
    timing: at the first fever
  - id: zuma3
    label: ZUMA-3
    exposure: tcz
    exposed: false
    comparator: {kind: external_trial, registration: NCT02614066}
"""
    assert messages(tmp_path, write(tmp_path, extra)) == []


@pytest.mark.parametrize("extra, replace, expected", [
    ("", {"events_range: [170, 171]": "events_range: [169, 171]"},
     ["27:19: error: records[0](crs_any).events_range: 88% of 194 allows 170 to 171 events; "
      "write events_range: [170, 171]"]),
    ("", {"events: 171": "events: 172"},
     ["26:13: error: records[0](crs_any).events: events 172 lie outside events_range [170, 171]",
      "28:14: warning: records[0](crs_any).percent: printed 88% does not match 172/194 = 88.66% "
      "at the printed precision"]),
    ("", {"    percent: 88\n": ""},
     ["27:19: error: records[0](crs_any).events_range: events_range is for a count derived from "
      "a rounded percentage: give the printed percent too"]),
    ("", {"authors: [Doe J, et al.]": "authors: [et al., Doe J]"},
     ["4:13: error: citation.authors[0]: 'et al.' can only end the author list"]),
    ("", {"grading: {crs: astct2019,": "grading: {crs: astct,"},
     ["18:16: error: grading.crs: expected one of 'penn', 'lee2014', 'astct2019', 'ctcae', "
      "'cartox', 'mskcc', 'other' or 'not_reported'; found 'astct'"]),
    ("groups:\n  - {id: ext, label: E, exposure: tcz, exposed: false, comparator: {kind: external_trial}}\n",
     {}, ["33:75: error: groups[0](ext).comparator.kind: an external_trial comparator needs the "
          "trial's registration (comparator.registration, e.g. NCT02435849)"]),
    ("", {"    total: 194\n": "    total: 194\n    stratum: hi\n"},
     ["30:14: error: records[0](crs_any).stratum: unknown stratum 'hi'; strata are: none are defined"]),
    ("", {"    total: 194\n": "    total: 194\n    review: pending\n"},
     ["30:13: warning: records[0](crs_any).review: review: pending, a drafted record nobody has "
      "checked yet; analyses do not pool it until it says review: accepted"]),
    ("", {"outcome: crs_any": "outcome: crs_grade_4"},
     ["25:14: error: records[0](crs_any).outcome: 'crs_grade_4' is not in the outcome vocabulary "
      "(did you mean 'crs_grade4'?); expected one of: " + ", ".join(OUTCOMES)]),
], ids=["range-wrong", "events-outside", "range-without-percent", "et-al-first", "scale",
        "external-no-registration", "unknown-stratum", "pending", "grade-typo"])
def test_new_fields_give_file_line_errors(tmp_path, extra, replace, expected):
    assert messages(tmp_path, write(tmp_path, extra, **replace)) == expected


@pytest.mark.parametrize("word", ["crs_grade4", "crs_grade2plus", "crs_grade5", "icans_grade4"])
def test_did_you_mean_never_changes_a_grade(word):
    options = [o for o in OUTCOMES if o != word]
    assert did_you_mean(word, options) == ""


@pytest.mark.parametrize("word, hit", [
    ("crs_grade3plsu", "crs_grade3plus"), ("CRS_ANY", "crs_any"), ("crs-any", "crs_any"),
    ("dfs", None), ("pfs2", None), ("icans_anyy", "icans_any"), ("efs", None)])
def test_did_you_mean_fixes_spelling_only(word, hit):
    options = [o for o in OUTCOMES if o != word]
    assert did_you_mean(word, options) == (f" (did you mean '{hit}'?)" if hit else "")


# --- overlaps against the folder -------------------------------------------------------------


def test_second_report_of_a_cohort_is_caught_when_validated_alone(tmp_path):
    write(tmp_path, sid="zhang2025", year=2025, reg="ChiCTR2000032211")
    new = write(tmp_path, sid="zhang2026", year=2026, reg="ChiCTR2000032211")
    got = messages(tmp_path, new)
    assert got[0] == ("10:17: error: registrations[0]: shares its trial registration "
                      "(CHICTR2000032211) with zhang2025.yaml (study 'zhang2025'); if both report "
                      "one cohort, declare it under 'overlaps' so it is never counted twice")
    assert len(got) == 2 and got[1].startswith("20:31: error: sources[0].sha256: shares its "
                                               "source document")


def test_folder_run_reports_on_the_later_file_only(tmp_path):
    old = write(tmp_path, sid="zhang2025", year=2025, reg="ChiCTR2000032211")
    new = write(tmp_path, sid="zhang2026", year=2026, reg="ChiCTR2000032211")
    report = validate_paths([tmp_path / "studies"], tmp_path / "sources")
    files = {m.file for m in report.messages if m.severity == "error"}
    assert files == {str(new)}
    # declaring the overlap (in either file) settles it
    new.write_text(new.read_text() + "overlaps:\n  - {study: zhang2025, reason: same cohort}\n")
    assert validate_paths([new], tmp_path / "sources").errors == 0
    assert validate_paths([old], tmp_path / "sources").errors == 0


def test_overlap_naming_a_missing_study_is_a_warning(tmp_path):
    p = write(tmp_path, "overlaps:\n  - {study: ghost, reason: r}\n")
    assert messages(tmp_path, p) == [
        f"33:13: warning: overlaps[0].study: 'ghost' is not a study in {p.parent}; the overlap "
        f"cannot be resolved until its file is added"]


# --- confinement of sources ------------------------------------------------------------------


@pytest.mark.parametrize("name, why", [
    ("../../../../../../etc/passwd", "'..' is not allowed; name the file relative to a sources folder"),
    ("/etc/passwd", "absolute paths are not allowed; name the file relative to a sources folder"),
    ("~/x.txt", "absolute paths are not allowed; name the file relative to a sources folder"),
])
def test_source_paths_cannot_leave_the_sources_folder(tmp_path, name, why):
    p = write(tmp_path, **{"file: paper.txt": f"file: '{name}'"})
    got = [m for m in messages(tmp_path, p) if "sources[0].file" in m]
    assert got == [f"20:12: error: sources[0].file: {why}"]


def test_source_names_are_checked_without_a_sources_folder_too(tmp_path):
    p = write(tmp_path, **{"file: paper.txt": "file: /etc/passwd"})
    report = validate_paths([p], [])
    assert [str(m).split(":", 1)[1] for m in report.messages if m.severity == "error"] == [
        "20:12: error: sources[0].file: absolute paths are not allowed; name the file relative "
        "to a sources folder"]


def test_symlink_out_of_the_sources_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text(PAPER)
    p = write(tmp_path, **{"file: paper.txt": "file: link.txt"})
    os.symlink(outside, tmp_path / "sources" / "link.txt")
    got = [m for m in messages(tmp_path, p) if "sources[0].file" in m]
    assert got == [f"20:12: error: sources[0].file: 'link.txt' leads outside the sources folder "
                   f"{tmp_path / 'sources'} (a symbolic link?); copy the file into the folder"]


def test_sources_may_be_several_folders(tmp_path):
    p = write(tmp_path)
    (tmp_path / "more").mkdir()
    (tmp_path / "sources" / "paper.txt").rename(tmp_path / "more" / "paper.txt")
    report = validate_paths([p], [tmp_path / "empty", tmp_path / "more"])
    assert (report.errors, report.warnings) == (0, 0)


# --- hostile input: one line, true position, bounded time -------------------------------------


def _one(tmp_path: Path, text: str | bytes) -> list[str]:
    p = tmp_path / "studies" / "x.yaml"
    p.parent.mkdir(exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    report = validate_paths([p], tmp_path)
    out = [str(m) for m in report.messages]
    assert all("\n" not in m and m.startswith(f"{p}:") for m in out)
    return [m[len(str(p)) + 1:] for m in out]


def test_nul_byte_reported_at_its_line_and_column(tmp_path):
    assert _one(tmp_path, b"a: 1\nb: 2\nc: x\x00y\n") == [
        "3:5: error: control character NUL is not allowed; remove it (a binary file, or text "
        "pasted from a PDF?)"]


@pytest.mark.parametrize("key", ["<<", "="])
def test_merge_and_value_keys_are_plain_unknown_keys(tmp_path, key):
    got = _one(tmp_path, f"schema_version: 1\n{key}: 1\n")
    assert f"2:1: error: {key}: unknown field '{key}'" in got


def test_an_id_with_a_newline_stays_on_one_line(tmp_path):
    got = _one(tmp_path, 'schema_version: 1\nid: "ab\\ncd"\nrecords:\n  - id: "r\\nx"\n    kind: bad\n')
    assert "2:5: error: id: 'ab\\ncd' is not an id: use lower-case letters, digits and _" in got
    assert "4:5: error: records[0](r x): unknown record kind 'bad'; expected one of 'binary', " \
        "'proportion', 'ratio', 'pvalue', 'survival_rate'" in got


def test_long_values_are_clipped(tmp_path):
    got = _one(tmp_path, "schema_version: 1\nid: " + "x" * 100_000 + "\n")
    assert max(len(m) for m in got) < 300


def test_overflowing_ratio_is_a_user_error(tmp_path):
    p = write(tmp_path, """\
  - id: hr
    kind: ratio
    outcome: os
    measure: HR
    exposure: gc
    exposed: gc
    reference: no_gc
    estimate: 1.5
    ci_lower: 1.0
    ci_upper: 1.79769e+308
    adjusted: false
    analysis: univariable
    quotes: [{text: "CRS occurred in 88% of the 194 infused patients"}]
""")
    got = [m for m in messages(tmp_path, p) if "records[1]" in m]
    assert ("41:15: error: records[1](hr).ci_upper: a ratio of 1.79769e+308 is outside "
                      "the range a paper prints (1e-12 to 1e+12); check the value") in got


def test_many_unknown_keys_are_fast_and_capped(tmp_path):
    text = "schema_version: 1\n" + "".join(f"k{i}x: 1\n" for i in range(100_000))
    t0 = time.perf_counter()
    got = _one(tmp_path, text)
    assert time.perf_counter() - t0 < 15  # YAML parsing dominates (~2-3 s on this machine)
    assert len(got) == MAX_MESSAGES + 1
    assert got[-1].endswith(f"more messages not shown (at most {MAX_MESSAGES} per file); fix "
                            f"these first")


@pytest.mark.parametrize("value", ["0x10", "1_0", "0.0e-99999999"])
def test_numbers_not_in_plain_digits_are_user_errors(tmp_path, value):
    """'0x10' and '1_0' reached the rounding check and raised ValueError ("internal error")."""
    p = write(tmp_path, **{"percent: 88": f"percent: {value}"})
    got = messages(tmp_path, p)
    assert got and all(": error: " in m or ": warning: " in m for m in got)
    assert any(m.startswith("28:14: error: records[0](crs_any).percent:") for m in got)


def test_counts_are_bounded(tmp_path):
    p = write(tmp_path, **{"total: 194": "total: 10000000000"})
    assert "29:12: error: records[0](crs_any).total: expected a number ≤ 1000000000; found " \
           "10000000000" in messages(tmp_path, p)


def test_second_report_of_the_zhang_cohort_is_caught_alone(tmp_path):
    """The issue's case, on the real seed extraction: a 2026 report of ChiCTR2000032211."""
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "studies").mkdir()
    old = (root / "studies" / "zhang2025.yaml").read_text()
    (tmp_path / "studies" / "zhang2025.yaml").write_text(old)
    new_text = (old.replace("id: zhang2025\n", "id: zhang2026\n", 1)
                .replace("doi: 10.3389/fimmu.2025.1604866", "doi: 10.1000/zhang.2026.1", 1))
    new = tmp_path / "studies" / "zhang2026.yaml"
    new.write_text(new_text)
    report = validate_paths([new], [])
    dup = [m for m in report.messages if "shares its" in m.message]
    assert dup and all(m.file == str(new) for m in dup)
    assert any(m.path == "registrations[0]" and "(CHICTR2000032211) with zhang2025.yaml" in m.message
               for m in dup)
    # the old file, validated alone, is told too (the new one is in its folder)
    assert any("zhang2026.yaml" in m.message
               for m in validate_paths([tmp_path / "studies" / "zhang2025.yaml"], []).messages)
