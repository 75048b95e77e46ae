"""Record selection: every selection rule stops a record with its name; nothing is dropped
silently; overlapping cohorts are resolved per record by the plan's `prefer`."""

from __future__ import annotations

import copy

import pytest

from extract.schema import Study
from synthesis.plan import Analysis
from synthesis.select import RULES, rounded_count_variants, select

Q = [{"text": "a quote"}]


def study(sid: str, year: int = 2024, records=(), n: int = 100, **extra) -> Study:
    data = {
        "schema_version": 1, "id": sid,
        "citation": {"authors": [f"{sid.capitalize()} A"], "title": "T", "journal": "J",
                     "year": year},
        "design": {"type": "retrospective", "centres": "single"},
        "population": {"age_group": "adult", "disease_status": "r/r", "car_targets": ["CD19"],
                       "car_origin": "autologous", "n_enrolled": n},
        "sources": [{"file": f"{sid}.txt", "sha256": "0" * 64, "kind": "text"}],
        "extraction": {"extractor": {"name": "A", "date": "2026-11-01"}},
        "groups": [{"id": "gc", "label": "GC", "exposure": "gc", "n": 40},
                   {"id": "no_gc", "label": "no GC", "exposure": "gc", "exposed": False, "n": 40}],
        "records": list(records),
    }
    data.update(extra)
    return Study.model_validate(data)


def prop(rid="crs", outcome="crs_any", events=30, total=60, **kw):
    return {"id": rid, "kind": "proportion", "outcome": outcome, "events": events,
            "total": total, "quotes": Q, **kw}


def binary(rid="cr_by_gc", e=(20, 40), r=(15, 40), **kw):
    return {"id": rid, "kind": "binary", "outcome": "cr", "exposure": "gc",
            "exposed": {"group": "gc", "events": e[0], "total": e[1]},
            "reference": {"group": "no_gc", "events": r[0], "total": r[1]}, "quotes": Q, **kw}


def ratio(rid="pfs_hr", **kw):
    base = {"id": rid, "kind": "ratio", "outcome": "pfs", "measure": "HR", "exposure": "gc",
            "exposed": "gc", "reference": "no_gc", "estimate": 0.5, "ci_lower": 0.25,
            "ci_upper": 1.0, "adjusted": False, "analysis": "univariable", "quotes": Q}
    base.update(kw)
    return base


def analysis(kind="proportion", outcome=("crs_any",), **select_kw) -> Analysis:
    measure = {"proportion": "PLO", "binary": "OR", "ratio": "HR"}[kind]
    return Analysis.model_validate({"id": "a", "title": "A", "measure": measure,
                                    "select": {"kind": kind, "outcome": list(outcome),
                                               **select_kw}})


def run(a, *studies):
    data = select(a, [(s, f"studies/{s.id}.yaml") for s in studies])
    return ([c.study_id for c in data.contributions],
            {n.study_id: (n.rule, n.reason) for n in data.not_pooled})


# --- each rule, on its own ----------------------------------------------------------------


def test_pending_review_is_never_pooled_and_is_listed():
    used, np = run(analysis(), study("a", records=[prop(review="pending")]),
                   study("b", records=[prop()]))
    assert used == ["b"]
    assert np["a"][0] == "pending_review"
    assert np["a"][1] == "not pooled (pending_review): pending review (record 'crs' says " \
                         "review: pending)"


def test_a_pending_record_gives_way_to_an_accepted_one_in_the_same_study():
    s = study("a", records=[prop("draft", review="pending", events=1),
                            prop("checked", review="accepted")])
    data = select(analysis(), [(s, "a.yaml")])
    assert [c.record.id for c in data.contributions] == ["checked"]
    assert data.contributions[0].alternatives == ["draft (not used: pending_review)"]
    assert data.not_pooled == []


def test_whole_cohort_rule_lists_a_study_with_group_counts_only():
    """The issue's vanished study: CRS counts per group were filtered out with no word."""
    s = study("pergroup", records=[prop(group="gc", events=10, total=40),
                                   binary("crs_by_gc", outcome="crs_any")])
    used, np = run(analysis(), s)
    assert used == []
    rule, reason = np["pergroup"]
    assert rule == "whole_cohort"
    assert "counts group 'gc' only" in reason and "gives counts by group only" in reason


@pytest.mark.parametrize("rule, rec, a", [
    ("timepoint", binary(timepoint="day 90"),
     analysis("binary", ("cr",), exposure=["gc"], timepoint=["day 28"])),
    ("measure", ratio(measure="OR"), analysis("ratio", ("pfs",), measure=["HR"])),
    ("no_ci", ratio(ci_lower=None, ci_upper=None, p="<0.05"), analysis("ratio", ("pfs",))),
    ("adjusted", ratio(), analysis("ratio", ("pfs",), adjusted="only")),
    ("kind", binary(outcome="pfs"), analysis("ratio", ("pfs",))),
    ("pvalue_only", {"id": "pfs_p", "kind": "pvalue", "outcome": "pfs", "exposure": "gc",
                     "comparison": "GC vs no GC", "p": 0.2, "quotes": Q},
     analysis("ratio", ("pfs",))),
    ("intent", binary(intent="prophylactic"),
     analysis("binary", ("cr",), intent=["therapeutic"])),
    ("comparator", binary(comparator={"kind": "historical", "description": "2015-2017"}),
     analysis("binary", ("cr",), comparator=["concurrent"])),
    ("grade_scale", prop(grading_scale="lee2014"), analysis(grade_scale=["astct2019"])),
])
def test_each_rule_names_itself(rule, rec, a):
    used, np = run(a, study("s", records=[rec]))
    assert used == [] and np["s"][0] == rule
    assert rule in RULES


def test_records_on_other_exposures_are_not_candidates():
    """A TCZ record is not 'about' a GC analysis: no not-pooled line for it."""
    rec = binary()
    rec["exposure"] = "tcz"
    used, np = run(analysis("binary", ("cr",), exposure=["gc"]), study("s", records=[rec]))
    assert (used, np) == ([], {})


def test_intent_from_the_exposed_group():
    s = study("s", records=[binary()], groups=[
        {"id": "gc", "label": "GC", "exposure": "gc", "n": 40, "intent": "preemptive"},
        {"id": "no_gc", "label": "no GC", "exposure": "gc", "exposed": False, "n": 40}])
    assert run(analysis("binary", ("cr",), intent=["preemptive"]), s)[0] == ["s"]
    assert run(analysis("binary", ("cr",), intent=["therapeutic"]), s)[1]["s"][0] == "intent"


def test_historical_comparator_is_pooled_with_a_footnote_when_the_plan_accepts_any():
    s = study("s", records=[binary(comparator={"kind": "external_trial",
                                               "registration": "NCT02435849"})])
    data = select(analysis("binary", ("cr",)), [(s, "s.yaml")])
    assert data.contributions[0].footnotes == ["external trial comparator (NCT02435849)"]


# --- grading scales ---------------------------------------------------------------------------


def test_scales_are_not_mixed_unless_the_plan_allows_it():
    a1 = study("a1", records=[prop()], grading={"crs": "astct2019"})
    a2 = study("a2", records=[prop()], grading={"crs": "astct2019"})
    lee = study("lee", records=[prop()], grading={"crs": "lee2014"})
    unknown = study("unk", records=[prop()])
    used, np = run(analysis(), a1, a2, lee, unknown)
    assert used == ["a1", "a2", "unk"]
    assert np["lee"][0] == "scale_mix"
    assert "graded on lee2014; this analysis keeps astct2019 (the scale most studies used)" \
        in np["lee"][1]
    # the plan's order of preference wins over the majority
    used, np = run(analysis(grade_scale=["lee2014", "astct2019"]), a1, a2, lee)
    assert used == ["lee"] and np["a1"][0] == np["a2"][0] == "scale_mix"
    # mixing allowed: all pooled, each labelled
    data = select(analysis(mix_scales=True), [(s, "x") for s in (a1, lee, unknown)])
    assert [c.footnotes for c in data.contributions] == [
        ["graded on ASTCT consensus grading of CRS and ICANS (Lee et al. 2019)"],
        ["graded on Lee et al. 2014 CRS grading (Blood 124:188)"],
        ["grading scale not reported"]]


def test_record_scale_overrides_the_study_scale():
    s = study("s", records=[prop(grading_scale="ctcae")], grading={"crs": "astct2019"})
    assert run(analysis(grade_scale=["ctcae"]), s)[0] == ["s"]


# --- overlaps ------------------------------------------------------------------------------


def _zhang_pair():
    """The issue's case: the second report has fewer enrolled but more evaluated for CRS."""
    old = study("zhang2025", 2025, n=120, records=[prop(events=60, total=100)])
    new = study("zhang2026", 2026, n=110, records=[prop(events=70, total=110)],
                overlaps=[{"study": "zhang2025", "reason": "same cohort, ChiCTR2000032211"}])
    return old, new


def test_overlap_keeps_the_larger_record_not_the_larger_cohort():
    old, new = _zhang_pair()
    used, np = run(analysis(), old, new)
    assert used == ["zhang2026"]
    assert np["zhang2025"] == ("overlap", "not pooled (overlap): overlaps with zhang2026 (same "
                               "cohort, ChiCTR2000032211); counted once: zhang2026 kept, the "
                               "larger record (select.prefer: largest); n = 110 vs 100 in this "
                               "record")


def test_overlap_prefer_most_recent_and_named_study():
    old, new = _zhang_pair()
    assert run(analysis(prefer="most_recent"), old, new)[0] == ["zhang2026"]
    used, np = run(analysis(prefer="zhang2025"), old, new)
    assert used == ["zhang2025"] and np["zhang2026"][0] == "overlap"
    assert "named by the plan (select.prefer: zhang2025)" in np["zhang2026"][1]


def test_overlap_decided_per_record():
    """Binary record: group totals decide, so one analysis may keep the other report."""
    old = study("old", 2020, n=200, records=[prop(total=50), binary(e=(30, 60), r=(20, 60))])
    new = study("new", 2022, n=100, records=[prop(total=90), binary(e=(10, 20), r=(8, 20))],
                overlaps=[{"study": "old", "reason": "update"}])
    assert run(analysis(), old, new)[0] == ["new"]
    assert run(analysis("binary", ("cr",)), old, new)[0] == ["old"]


def test_overlap_clusters_are_transitive():
    a = study("a", 2020, records=[prop(total=50)])
    b = study("b", 2021, records=[prop(total=60)], overlaps=[{"study": "a", "reason": "r"}])
    c = study("c", 2022, records=[prop(total=55)], overlaps=[{"study": "b", "reason": "r"}])
    used, np = run(analysis(), a, b, c)
    assert used == ["b"] and set(np) == {"a", "c"}


# --- strata and rounded counts --------------------------------------------------------------

STRATA = [{"id": "low", "variable": "disease burden", "label": "low", "n": 40},
          {"id": "high", "variable": "disease burden", "label": "high", "n": 20}]


def test_strata_excluded_by_default_and_combined_on_request():
    s = study("s", strata=STRATA, records=[prop("crs_low", events=10, total=40, stratum="low"),
                                           prop("crs_high", events=15, total=20, stratum="high")])
    used, np = run(analysis(), s)
    assert used == [] and np["s"][0] == "stratum"
    assert "one stratum (disease burden low, n = 40)" in np["s"][1]
    data = select(analysis(strata="combine"), [(s, "s.yaml")])
    rec = data.contributions[0].record
    assert (rec.events, rec.total, rec.stratum) == (25, 60, None)  # 10 + 15, 40 + 20
    assert data.contributions[0].footnotes == [
        "sum over strata of disease burden: low (crs_low), high (crs_high)"]


def test_strata_not_combined_when_a_level_is_missing():
    s = study("s", strata=STRATA, records=[prop("crs_low", events=10, total=40, stratum="low")])
    assert run(analysis(strata="combine"), s)[1]["s"][0] == "stratum"


def test_rounded_count_variants_use_both_ends_of_the_range():
    # 88% of 194: 170/194 = 87.63%, 171/194 = 88.14% both print as 88%
    s = study("s", n=194, records=[prop(events=171, total=194, percent=88,
                                        events_range=[170, 171],
                                        derived={"events": "88% of 194"})])
    data = select(analysis(), [(s, "s.yaml")])
    assert data.contributions[0].footnotes == [
        "events 171 derived from a rounded percentage (88% of 194 allows 170-171); "
        "sensitivity uses both ends"]
    low, high = rounded_count_variants(data)
    assert (low.contributions[0].record.events, high.contributions[0].record.events) == (170, 171)
    assert data.contributions[0].record.events == 171  # the original is untouched
    plain = select(analysis(), [(study("t", records=[prop()]), "t.yaml")])
    assert rounded_count_variants(plain) is None


def test_every_rule_has_a_test_here():
    import inspect
    import sys
    text = inspect.getsource(sys.modules[__name__])
    for rule in RULES:
        assert f'"{rule}"' in text, rule


def test_input_studies_are_not_mutated():
    s = study("s", strata=STRATA, records=[prop("crs_low", events=10, total=40, stratum="low"),
                                           prop("crs_high", events=15, total=20, stratum="high")])
    before = copy.deepcopy(s.model_dump())
    select(analysis(strata="combine"), [(s, "s.yaml")])
    assert s.model_dump() == before


def test_binary_strata_combine_arm_by_arm():
    s = study("s", strata=STRATA, records=[
        binary("cr_low", e=(20, 30), r=(10, 10), stratum="low"),
        binary("cr_high", e=(5, 10), r=(4, 10), stratum="high")])
    data = select(analysis("binary", ("cr",), strata="combine"), [(s, "s.yaml")])
    rec = data.contributions[0].record
    # exposed 20 + 5 of 30 + 10; reference 10 + 4 of 10 + 10
    assert (rec.exposed.events, rec.exposed.total, rec.reference.events, rec.reference.total) \
        == (25, 40, 14, 20)
    assert data.contributions[0].alternatives == []
    assert data.contributions[0].footnotes == [
        "sum over strata of disease burden: low (cr_low), high (cr_high)"]
