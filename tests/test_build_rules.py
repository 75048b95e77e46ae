"""No silent drops, end to end: a review where every selection rule fires exactly once, built
with `carsynth build`; each excluded study appears under "not pooled" with its rule in
result.json, the forest plot's footnotes and index.html."""

from __future__ import annotations

import hashlib
import html
import json

import pytest
import yaml

from synthesis.build import build
from synthesis.pipeline import fit_analysis, load_studies
from synthesis.plan import load_plan
from synthesis.report.forest_layout import forest_spec
from synthesis.select import RULES, select

PLAN = """\
review_version: 1
title: Every rule once
studies: studies
output: output
analyses:
  - id: incidence
    title: CRS incidence
    select: {kind: proportion, outcome: [crs_any], grade_scale: [astct2019, lee2014]}
    measure: PLO
  - id: cr_or
    title: GC and CR
    select:
      kind: binary
      outcome: [cr]
      exposure: [gc]
      timepoint: [day 28]
      intent: [therapeutic]
      comparator: [concurrent]
    measure: OR
  - id: pfs_hr
    title: GC and PFS
    select: {kind: ratio, outcome: [pfs], exposure: [gc], measure: [HR], adjusted: only}
    measure: HR
"""

# study id -> (analysis, rule that stops it); None: pooled
EXPECTED = {
    "ok_a": ("incidence", None), "ok_b": ("incidence", None),
    "pending": ("incidence", "pending_review"), "pergroup": ("incidence", "whole_cohort"),
    "stratum": ("incidence", "stratum"), "penn": ("incidence", "grade_scale"),
    "lee": ("incidence", "scale_mix"), "repeat": ("incidence", "overlap"),
    "cr_ok": ("cr_or", None), "late": ("cr_or", "timepoint"),
    "prophylaxis": ("cr_or", "intent"), "historic": ("cr_or", "comparator"),
    "ratio_only": ("cr_or", "kind"),
    "hr_ok": ("pfs_hr", None), "odds": ("pfs_hr", "measure"), "no_ci": ("pfs_hr", "no_ci"),
    "crude": ("pfs_hr", "adjusted"), "p_only": ("pfs_hr", "pvalue_only"),
}


def _q(*numbers) -> list[dict]:
    return [{"text": "reported: " + ", ".join(str(n) for n in numbers)}]


def _prop(events=30, total=60, **kw):
    return {"id": "crs", "kind": "proportion", "outcome": "crs_any", "events": events,
            "total": total, "quotes": _q(events, total), **kw}


def _binary(e=(20, 40), r=(12, 40), **kw):
    return {"id": "cr_by_gc", "kind": "binary", "outcome": "cr", "exposure": "gc",
            "timepoint": "day 28",
            "exposed": {"group": "gc", "events": e[0], "total": e[1]},
            "reference": {"group": "no_gc", "events": r[0], "total": r[1]},
            "quotes": _q(*e, *r), **kw}


def _ratio(**kw):
    rec = {"id": "pfs_hr", "kind": "ratio", "outcome": "pfs", "measure": "HR", "exposure": "gc",
           "exposed": "gc", "reference": "no_gc", "estimate": 0.5, "ci_lower": 0.25,
           "ci_upper": 1.0, "adjusted": True, "analysis": "multivariable"}
    rec.update(kw)
    rec["quotes"] = _q(*(rec[k] for k in ("estimate", "ci_lower", "ci_upper", "p")
                         if rec.get(k) is not None))
    return rec


def _study(sid: str, records: list, **extra) -> dict:
    d = {"schema_version": 1, "id": sid,
         "citation": {"authors": [f"{sid.capitalize()} A"], "title": "T", "journal": "J",
                      "year": 2024},
         "design": {"type": "retrospective", "centres": "single"},
         "population": {"age_group": "adult", "disease_status": "r/r", "car_targets": ["CD19"],
                        "car_origin": "autologous"},
         "grading": {"crs": "astct2019"},
         "sources": [{"file": f"{sid}.txt", "sha256": hashlib.sha256(sid.encode()).hexdigest(),
                      "kind": "text"}],
         "extraction": {"extractor": {"name": "A", "date": "2026-11-01"}},
         "groups": [{"id": "gc", "label": "GC", "exposure": "gc", "intent": "therapeutic"},
                    {"id": "no_gc", "label": "no GC", "exposure": "gc", "exposed": False}],
         "records": records}
    d.update(extra)
    return d


def studies() -> list[dict]:
    pvalue = {"id": "pfs_p", "kind": "pvalue", "outcome": "pfs", "exposure": "gc",
              "comparison": "GC vs no GC", "p": 0.2, "test": "log-rank", "quotes": _q(0.2)}
    return [
        _study("ok_a", [_prop()]),
        _study("ok_b", [_prop(40, 80)]),
        _study("pending", [_prop(review="pending")]),
        _study("pergroup", [_prop(group="gc")]),
        _study("stratum", [_prop(stratum="high")],
               strata=[{"id": "high", "variable": "burden", "label": "high", "n": 60}]),
        _study("penn", [_prop()], grading={"crs": "penn"}),
        _study("lee", [_prop()], grading={"crs": "lee2014"}),
        _study("repeat", [_prop(20, 50)], overlaps=[{"study": "ok_a", "reason": "same cohort"}]),
        _study("cr_ok", [_binary()]),
        _study("late", [_binary(timepoint="day 90")]),
        _study("prophylaxis", [_binary(intent="prophylactic")]),
        _study("historic", [_binary(comparator={"kind": "historical",
                                                "description": "2015-2017 patients"})]),
        _study("ratio_only", [_ratio(id="cr_or", outcome="cr", measure="OR")]),
        _study("hr_ok", [_ratio()]),
        _study("odds", [_ratio(measure="OR")]),
        _study("no_ci", [_ratio(ci_lower=None, ci_upper=None, p="<0.05")]),
        _study("crude", [_ratio(adjusted=False, analysis="univariable")]),
        _study("p_only", [pvalue]),
    ]


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("CARSYNTH_SOURCES", raising=False)
    (tmp_path / "studies").mkdir()
    for s in studies():
        (tmp_path / "studies" / f"{s['id']}.yaml").write_text(
            yaml.safe_dump(s, sort_keys=False, allow_unicode=True))
    (tmp_path / "review.yaml").write_text(PLAN)
    return tmp_path


def test_every_rule_fires_once_and_is_listed_in_every_output(project):
    assert set(RULES) == {rule for _, rule in EXPECTED.values() if rule}
    build(project / "review.yaml", jobs=1)
    out = project / "output"
    index = (out / "index.html").read_text()
    plan = load_plan(project / "review.yaml")
    pairs, _ = load_studies(plan, project, None)
    for a in plan.analyses:
        info = json.loads((out / a.id / "result.json").read_text())
        got = {n["study_id"]: n["rule"] for n in info["not_pooled"]}
        want = {sid: rule for sid, (aid, rule) in EXPECTED.items() if aid == a.id and rule}
        assert got == want, a.id
        pooled = {s["provenance"]["study"] for s in info["studies"]}
        assert pooled == {sid for sid, (aid, rule) in EXPECTED.items()
                          if aid == a.id and rule is None}
        spec = forest_spec(fit_analysis(a, select(a, pairs)))
        for n in info["not_pooled"]:
            line = f"{n['label']}: {n['reason']}"
            assert line in spec.not_pooled, line  # under the forest plot
            assert html.escape(line) in index, line  # and in the HTML report
            assert f"({n['rule']})" in n["reason"] or n["rule"] == "pvalue_only"


def test_counts_from_rounded_percentages_are_refitted_at_both_ends(tmp_path):
    """88% of 194 allows 170 or 171 events; with one study the pooled proportion is the
    study's own: 171/194 = 0.881443 as extracted, 170/194 = 0.876289 at the low end."""
    s = _study("rounded", [_prop(171, 194, percent=88, events_range=[170, 171],
                                 derived={"events": "88% of 194"})])
    from extract.schema import Study

    study = Study.model_validate(s)
    a = load_plan_text(tmp_path, PLAN).analyses[0]
    fit = fit_analysis(a, select(a, [(study, "studies/rounded.yaml")]))
    est = {x.label.split(" (")[0]: x.result.to_dict()["backtransformed"]["estimate"]
           for x in fit.sensitivity}
    assert fit.main.to_dict()["backtransformed"]["estimate"] == pytest.approx(171 / 194, rel=1e-9)
    assert est["Counts from rounded percentages at the low end of their range"] == \
        pytest.approx(170 / 194, rel=1e-9)
    assert est["Counts from rounded percentages at the high end of their range"] == \
        pytest.approx(171 / 194, rel=1e-9)


def load_plan_text(tmp_path, text):
    (tmp_path / "studies").mkdir(exist_ok=True)
    (tmp_path / "studies" / "x.yaml").write_text("x: 1\n")
    (tmp_path / "review.yaml").write_text(text)
    return load_plan(tmp_path / "review.yaml")
