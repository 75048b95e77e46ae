"""The `risk_of_bias:` section of a study file: format, tool levels, fit to design, quotes.

Each case appends an assessment to tests/broken/valid_minimal.yaml (whose source is
tests/broken/sources/minimal.txt) in a tmp folder and runs the validator; the expected
line numbers count from the end of the base file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from extract.appraisal import TOOLS, assessment_for, severity
from extract.validate import validate_paths

HERE = Path(__file__).resolve().parent
BASE = (HERE / "broken" / "valid_minimal.yaml").read_text(encoding="utf-8")
SOURCES = HERE / "broken" / "sources"
BASE_LINES = BASE.count("\n")

ROBINS_I = """\
risk_of_bias:
  - id: gc_all
    tool: robins_i
    exposures: [gc]
    outcomes: [cr, pfs]
    domains:
      confounding:
        judgement: serious
        support: GC given for severe CRS; not adjusted for CRS grade.
        quotes:
          - {text: "GC was associated with longer PFS", location: Results}
      selection: {judgement: moderate, support: retrospective}
      classification: {judgement: low, support: drug records}
      deviations: {judgement: moderate, support: co-interventions}
      missing_data: {judgement: moderate, support: 58 of 60 evaluable}
      measurement: {judgement: low, support: objective outcomes}
      reporting: {judgement: moderate, support: no protocol}
    overall: {judgement: serious, support: confounding}
"""


def run(tmp_path: Path, section: str) -> list[str]:
    p = tmp_path / "valid_minimal.yaml"
    p.write_text(BASE + section, encoding="utf-8")
    report = validate_paths([p], SOURCES)
    return [str(m).replace(str(p), "F") for m in report.messages]


def line(n: int) -> int:
    """Line number of the n-th line (1-based) of the appended section."""
    return BASE_LINES + n


def test_valid_assessment_has_no_messages_and_is_found(tmp_path):
    assert run(tmp_path, ROBINS_I) == []
    p = tmp_path / "valid_minimal.yaml"
    study = validate_paths([p], SOURCES).studies[0]
    a = assessment_for(study, "gc", "pfs")
    assert a is not None and a.id == "gc_all" and severity(a) == 2
    assert assessment_for(study, "gc", "os") is None
    assert assessment_for(study, "tcz", "pfs") is None


def test_unknown_judgement_level(tmp_path):
    msgs = run(tmp_path, ROBINS_I.replace("{judgement: moderate, support: retrospective}",
                                          "{judgement: moderat, support: retrospective}"))
    assert msgs == [
        f"F:{line(12)}:30: error: risk_of_bias[0](gc_all).domains.selection.judgement: expected "
        "one of 'low', 'moderate', 'serious', 'critical' or 'no_information'; found 'moderat' "
        "(did you mean 'moderate'?)"]


def test_level_of_another_tool_is_refused(tmp_path):
    msgs = run(tmp_path, ROBINS_I.replace("overall: {judgement: serious",
                                          "overall: {judgement: some_concerns"))
    assert len(msgs) == 1 and f"F:{line(18)}:" in msgs[0]
    assert "overall.judgement: expected one of 'low', 'moderate'" in msgs[0]


def test_missing_domain(tmp_path):
    msgs = run(tmp_path, ROBINS_I.replace(
        "      reporting: {judgement: moderate, support: no protocol}\n", ""))
    assert msgs == [f"F:{line(7)}:7: error: risk_of_bias[0](gc_all).domains.reporting: "
                    "required field 'reporting' is missing"]


def test_unknown_tool(tmp_path):
    msgs = run(tmp_path, ROBINS_I.replace("tool: robins_i", "tool: robins"))
    assert msgs == [f"F:{line(2)}:5: error: risk_of_bias[0](gc_all): 'tool' must be "
                    "robins_i (non-randomised study of an intervention), robins_e (of an "
                    "exposure) or rob2 (randomised trial); found 'robins'"]
    msgs = run(tmp_path, ROBINS_I.replace("    tool: robins_i\n", ""))
    assert msgs == [f"F:{line(2)}:5: error: risk_of_bias[0](gc_all): 'tool' must be "
                    "robins_i (non-randomised study of an intervention), robins_e (of an "
                    "exposure) or rob2 (randomised trial); found no tool"]


def test_robins_i_for_a_toxicity_exposure_does_not_fit(tmp_path):
    msgs = run(tmp_path, ROBINS_I.replace("exposures: [gc]", "exposures: [gc, crs]"))
    assert msgs == [
        f"F:{line(4)}:21: error: risk_of_bias[0](gc_all).exposures[1]: ROBINS-I assesses "
        "interventions; 'crs' is not one (cytokine release syndrome, any grade): use tool robins_e"]


def test_rob2_on_a_retrospective_study_does_not_fit(tmp_path):
    rob2 = """\
risk_of_bias:
  - id: gc_rct
    tool: rob2
    exposures: [gc]
    outcomes: [cr]
    domains:
      randomisation: {judgement: low, support: x}
      deviations: {judgement: low, support: x}
      missing_data: {judgement: low, support: x}
      measurement: {judgement: low, support: x}
      reporting: {judgement: some_concerns, support: x}
    overall: {judgement: some_concerns, support: x}
"""
    msgs = run(tmp_path, rob2)
    assert msgs == [f"F:{line(3)}:11: error: risk_of_bias[0](gc_rct).tool: RoB 2 is for "
                    "randomised trials; this study's design is retrospective: use robins_i "
                    "(intervention) or robins_e (exposure)"]


def test_quote_is_checked_against_the_source(tmp_path):
    msgs = run(tmp_path, ROBINS_I.replace("GC was associated with longer PFS",
                                          "GC was associated with shorter PFS"))
    assert msgs == [f"F:{line(11)}:20: error: "
                    "risk_of_bias[0](gc_all).domains.confounding.quotes[0].text: quote not "
                    "found in minimal.txt: \"GC was associated with shorter PFS\""]


def test_quote_needs_a_location(tmp_path):
    msgs = run(tmp_path, ROBINS_I.replace(', location: Results}', '}'))
    assert msgs == [f"F:{line(11)}:13: error: "
                    "risk_of_bias[0](gc_all).domains.confounding.quotes[0].location: required "
                    "field 'location' is missing"]


def test_same_exposure_and_outcome_assessed_twice(tmp_path):
    second = ROBINS_I.split("\n", 1)[1].replace("id: gc_all", "id: gc_again").replace(
        "outcomes: [cr, pfs]", "outcomes: [pfs]")
    msgs = run(tmp_path, ROBINS_I + second)
    assert msgs == [f"F:{line(18 + 3)}:17: error: risk_of_bias[1](gc_again).exposures[0]: "
                    "exposure 'gc' with outcome 'pfs' is already assessed in risk_of_bias[0]"]


def test_unknown_outcome_vocabulary(tmp_path):
    msgs = run(tmp_path, ROBINS_I.replace("outcomes: [cr, pfs]", "outcomes: [cr, pfss]"))
    assert msgs == [f"F:{line(5)}:20: error: risk_of_bias[0](gc_all).outcomes[1]: 'pfss' is "
                    "not in the outcome vocabulary (did you mean 'pfs'?)"]


@pytest.mark.parametrize("tool,n_domains,levels", [
    ("robins_i", 7, ("low", "moderate", "serious", "critical", "no_information")),
    ("robins_e", 7, ("low", "some_concerns", "high", "very_high", "no_information")),
    ("rob2", 5, ("low", "some_concerns", "high")),
])
def test_tools_use_their_own_domains_and_levels(tool, n_domains, levels):
    # Sterne 2016 (ROBINS-I) and the ROBINS-E tool: seven domains; RoB 2 (Sterne 2019): five
    assert len(TOOLS[tool].domains) == n_domains
    assert TOOLS[tool].levels == levels


SEEDS = HERE.parents[1] / "shared" / "seeds"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed papers not found in ../shared/seeds")
def test_shipped_assessments_validate_against_the_papers():
    report = validate_paths([HERE.parent / "studies"], SEEDS)
    errors = [str(m) for m in report.messages if m.severity == "error"]
    assert errors == []
    by_id = {s.id: s for s in report.studies}
    # the seed judgements (honest reading of the papers, see docs/appraisal.md)
    assert assessment_for(by_id["zhang2025"], "gc_low_dose", "pfs").overall.judgement == "serious"
    assert assessment_for(by_id["zhou2025"], "tcz", "cr").overall.judgement == "critical"
    assert assessment_for(by_id["ma2024"], "crs_or_icans_grade3plus", "os").tool == "robins_e"
    n_quotes = sum(len(j.quotes) for s in report.studies for a in s.risk_of_bias or []
                   for j in (*(getattr(a.domains, d) for d in TOOLS[a.tool].domains), a.overall))
    assert n_quotes >= 25
