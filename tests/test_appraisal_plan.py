"""The plan's appraisal settings: one-line errors with file, line and field for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from synthesis.plan import PlanError, load_plan

PLAN = """\
review_version: 1
title: t
analyses:
  - id: gc_pfs
    title: GC vs no GC, PFS
    select: {kind: ratio, outcome: [pfs_family], exposure: [gc], measure: [HR]}
    measure: HR
    appraisal:
      rob_tool: robins_i
      thresholds: {benefit: 0.8, harm: 1.25}
      grade_overrides:
        imprecision:
          level: not serious
          justification: the CI excludes every important effect
  - id: crs_pfs
    title: CRS vs none, PFS
    select: {kind: ratio, outcome: [pfs_family], exposure: [crs], measure: [HR]}
    measure: HR
  - id: crs_rate
    title: CRS incidence
    select: {kind: proportion, outcome: [crs_any]}
    measure: PLO
sof:
  - id: gc
    title: GC compared with no GC
    intervention: GC
    comparison: no GC
    population: B-ALL after CAR-T
    rows:
      - {analysis: gc_pfs, outcome: PFS, assumed_risk: {value: 0.4, source: a study}}
"""


def errors(tmp_path: Path, text: str) -> list[str]:
    p = tmp_path / "review.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError) as exc:
        load_plan(p, check_paths=False)
    return [str(m).replace(str(p), "F") for m in exc.value.messages]


def test_valid_plan_loads(tmp_path):
    p = tmp_path / "review.yaml"
    p.write_text(PLAN, encoding="utf-8")
    plan = load_plan(p, check_paths=False)
    o = plan.analyses[0].appraisal.grade_overrides.to_overrides()
    assert o["imprecision"].level == 0
    assert plan.analyses[0].appraisal.thresholds.to_thresholds().harm == 1.25
    assert plan.sof[0].rows[0].assumed_risk.value == 0.4


def test_override_without_justification(tmp_path):
    bad = PLAN.replace("          justification: the CI excludes every important effect\n", "")
    assert errors(tmp_path, bad) == [
        "F:13:11: error: analyses[0](gc_pfs).appraisal.grade_overrides.imprecision."
        "justification: required field 'justification' is missing"]


def test_override_of_an_unknown_domain(tmp_path):
    bad = PLAN.replace("        imprecision:\n", "        imprecission:\n")
    (msg,) = errors(tmp_path, bad)
    assert msg.startswith("F:12:9: error: analyses[0](gc_pfs).appraisal.grade_overrides."
                          "imprecission: unknown field 'imprecission'")


def test_override_level_word(tmp_path):
    bad = PLAN.replace("level: not serious", "level: minor")
    (msg,) = errors(tmp_path, bad)
    assert msg.startswith("F:13:18: error: analyses[0](gc_pfs).appraisal.grade_overrides."
                          "imprecision.level: expected one of 'not serious', 'serious' or "
                          "'very serious'; found 'minor'")


def test_tool_that_does_not_fit_the_exposure(tmp_path):
    bad = PLAN.replace("    measure: HR\n  - id: crs_rate",
                       "    measure: HR\n    appraisal: {rob_tool: robins_i}\n  - id: crs_rate")
    assert errors(tmp_path, bad) == [
        "F:19:27: error: analyses[1](crs_pfs).appraisal.rob_tool: ROBINS-I assesses "
        "interventions; this analysis selects 'crs', an exposure: use robins_e"]
    bad = PLAN.replace("rob_tool: robins_i", "rob_tool: robins_e")
    assert errors(tmp_path, bad) == [
        "F:9:17: error: analyses[0](gc_pfs).appraisal.rob_tool: 'gc' is an intervention: use "
        "robins_i (or rob2 for randomised trials)"]


def test_sof_row_must_name_a_comparison_of_the_plan(tmp_path):
    bad = PLAN.replace("{analysis: gc_pfs,", "{analysis: gc_pf,")
    assert errors(tmp_path, bad) == [
        "F:30:20: error: sof[0](gc).rows[0].analysis: 'gc_pf' is not an analysis of this plan "
        "(did you mean 'gc_pfs'?)"]
    bad = PLAN.replace("{analysis: gc_pfs,", "{analysis: crs_rate,")
    assert errors(tmp_path, bad) == [
        "F:30:20: error: sof[0](gc).rows[0].analysis: a Summary of Findings row needs a "
        "comparison pooled as OR, RR or HR; 'crs_rate' pools PLO"]


def test_thresholds_in_order(tmp_path):
    bad = PLAN.replace("{benefit: 0.8, harm: 1.25}", "{benefit: 1.25, harm: 0.8}")
    (msg,) = errors(tmp_path, bad)
    assert msg == ("F:10:19: error: analyses[0](gc_pfs).appraisal.thresholds: thresholds need "
                   "benefit < 1 < harm (ratios); found benefit 1.25, harm 0.8")


def test_shipped_plan_has_sof_for_gc_and_tcz():
    root = Path(__file__).resolve().parents[1]
    plan = load_plan(root / "review.yaml", check_paths=False)
    assert [t.id for t in plan.sof] == ["gc", "tcz"]
