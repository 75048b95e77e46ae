"""CHANGES.md and the terminal change table, from two builds' state entries (synthesis.report.changes).

The rows hold the numbers R metafor 3.8-1 gives for the shipped CRS incidence
analysis before and after Ma 2024's CRS count changes from 76 to 75 of 93:

    rma(measure="PLO", xi=c(76, 110, 41), ni=c(93, 120, 45), method="REML", test="adhoc")
    -> predict(transf=transf.ilogit): 0.8820546144 [0.6476681524, 0.9681780471]; QE = 5.177700
    xi=c(75, 110, 41): 0.8796301363 [0.6198811842, 0.9703680050]; QE = 6.163635

with I² = (QE - 2)/QE: 61.37% and 67.55%.
"""

from __future__ import annotations

from types import SimpleNamespace

from pydantic import BaseModel

from synthesis.report.changes import (
    CONTRIBUTIONS_KEY,
    contribution_snapshot,
    diff,
    markdown,
    terminal_table,
)


class _Arm(BaseModel):
    events: int
    total: int


class _Rec(BaseModel):
    id: str
    events: int
    total: int
    percent: float | None = None
    exposed: _Arm | None = None
    quotes: list[dict] = []


def _contrib(study, label, record):
    return SimpleNamespace(study_id=study, label=label, file=f"studies/{study}.yaml", record=record)


def _row(est, lb, ub, i2, k=3, measure="PLO", title="Incidence of CRS, any grade"):
    return {"id": "crs_any_incidence", "title": title, "k": k, "measure": measure,
            "estimate": est, "ci_lb": lb, "ci_ub": ub, "i2": i2}


MA76 = _Rec(id="crs_any", events=76, total=93, percent=81.7, quotes=[{"text": "76 (81.7%)"}])
MA75 = _Rec(id="crs_any", events=75, total=93, quotes=[{"text": "76 (81.7%)"}])
ZHANG = _Rec(id="crs_any", events=110, total=120)
ZHOU = _Rec(id="crs_any", events=41, total=45)
OLD_ROW = _row(0.8820546144, 0.6476681524, 0.9681780471, 61.3728070465)
NEW_ROW = _row(0.8796301363, 0.6198811842, 0.9703680050, 67.5516152850)


def _entry(row, records):
    labels = {"ma2024": "Ma 2024", "zhang2025": "Zhang 2025", "zhou2025": "Zhou 2025"}
    return {"row": row, "key": "x", CONTRIBUTIONS_KEY: contribution_snapshot(
        [_contrib(s, labels[s], r) for s, r in records])}


def test_changed_count_names_the_study_record_and_fields():
    prev = {"crs_any_incidence": _entry(OLD_ROW, [("ma2024", MA76), ("zhang2025", ZHANG),
                                                  ("zhou2025", ZHOU)])}
    cur = {"crs_any_incidence": _entry(NEW_ROW, [("ma2024", MA75), ("zhang2025", ZHANG),
                                                 ("zhou2025", ZHOU)])}
    cs = diff(prev, cur)
    assert [c.id for c in cs.changes] == ["crs_any_incidence"] and not cs.first_build
    assert terminal_table(cs, "output/CHANGES.md").splitlines() == [
        "changed since the previous build (also in output/CHANGES.md):",
        "  crs_any_incidence  k 3; 0.882 [0.648, 0.968] → 0.880 [0.620, 0.970]; I² 61% → 68%",
        "                       Ma 2024: record crs_any changed "
        "(studies/ma2024.yaml: events 76 → 75, percent 81.7 → none)",
    ]
    md = markdown(cs, "CAR-T review")
    assert ("| Incidence of CRS, any grade (`crs_any_incidence`) | changed | 3 | "
            "0.882 [0.648, 0.968] → 0.880 [0.620, 0.970] | 61% → 68% |") in md
    assert ("- `crs_any_incidence`: Ma 2024: record crs\\_any changed "
            "(studies/ma2024.yaml: events 76 → 75, percent 81.7 → none)") in md


def test_added_and_removed_studies_and_analyses():
    two = _row(0.9, 0.5, 0.99, 0.0, k=2)
    prev = {"crs_any_incidence": _entry(two, [("ma2024", MA76), ("zhang2025", ZHANG)]),
            "old_analysis": {"row": _row(1.5, 1.1, 2.0, None, k=2, measure="OR",
                                         title="Dropped question")}}
    cur = {"crs_any_incidence": _entry(OLD_ROW, [("zhang2025", ZHANG), ("zhou2025", ZHOU),
                                                 ("ma2024", MA76)])}
    cs = diff(prev, cur, order=["crs_any_incidence"])
    assert [(c.id, c.status) for c in cs.changes] == [("crs_any_incidence", "changed"),
                                                      ("old_analysis", "removed")]
    text = terminal_table(cs, "CHANGES.md")
    assert "k 2 → 3; 0.900 [0.500, 0.990] → 0.882 [0.648, 0.968]; I² 0% → 61%" in text
    assert "added Zhou 2025 (studies/zhou2025.yaml, record crs_any)" in text
    assert "Ma 2024" not in text  # unchanged record, not listed
    assert "  old_analysis       removed from the plan" in text
    md = markdown(cs, "t")
    assert "| Dropped question (`old_analysis`) | removed | 2 → removed | " \
           "1.50 [1.10, 2.00] → removed | — → removed |" in md


def test_replaced_record_and_quote_only_change():
    other = _Rec(id="crs_any_day14", events=70, total=93)
    quoted = _Rec(id="crs_any", events=110, total=120, quotes=[{"text": "110/120 (91.67%)"}])
    prev = {"a": _entry(OLD_ROW, [("ma2024", MA76), ("zhang2025", ZHANG)])}
    cur = {"a": _entry(OLD_ROW, [("ma2024", other), ("zhang2025", quoted)])}
    (c,) = diff(prev, cur).changes
    assert not c.results_changed
    texts = [s.text() for s in c.studies]
    assert texts == ["Ma 2024: now record crs_any_day14 (studies/ma2024.yaml; was record crs_any)",
                     "Zhang 2025: record crs_any changed "
                     "(studies/zhang2025.yaml: quotes or wording changed, no value)"]
    assert "same numbers; studies changed" in terminal_table(diff(prev, cur), "CHANGES.md")


def test_nested_arm_fields_are_named_with_their_path():
    a = _Rec(id="cr", events=0, total=0, exposed=_Arm(events=53, total=55))
    b = _Rec(id="cr", events=0, total=0, exposed=_Arm(events=52, total=55))
    prev = {"gc_cr": _entry(OLD_ROW, [("zhang2025", a)])}
    cur = {"gc_cr": _entry(NEW_ROW, [("zhang2025", b)])}
    (c,) = diff(prev, cur).changes
    assert c.studies[0].detail == "exposed.events 53 → 52"


def test_no_change_and_first_build():
    prev = {"crs_any_incidence": _entry(OLD_ROW, [("ma2024", MA76)])}
    same = diff(prev, prev)
    assert not same and terminal_table(same, "x") == "no results changed since the previous build"
    assert markdown(same, "t").endswith("No analysis changed.\n")
    first = diff({}, prev)
    assert first.first_build and first.changes[0].status == "new"
    assert terminal_table(first, "output/CHANGES.md") == \
        "first build of this folder: 1 analysis listed in output/CHANGES.md"
    assert "| new | 3 | 0.882 [0.648, 0.968] | 61% |" in markdown(first, "t")


def test_state_without_snapshots_still_compares_numbers():
    prev = {"crs_any_incidence": {"row": OLD_ROW, "key": "x"}}  # a state from an older version
    cur = {"crs_any_incidence": _entry(NEW_ROW, [("ma2024", MA75)])}
    (c,) = diff(prev, cur).changes
    assert c.results_changed and c.studies == ()


def test_markdown_escapes_plan_text():
    prev = {"a": {"row": _row(1.0, 0.5, 2.0, 0.0, title="x")}}
    cur = {"a": {"row": _row(1.1, 0.5, 2.0, 0.0, title="<img src=x> | y")}}
    md = markdown(diff(prev, cur), "T")
    assert "&lt;img src=x&gt; \\| y" in md and "<img" not in md


def test_a_change_of_the_leading_model_is_named():
    """k 4 -> 5: the small-k rule hands the lead from the Bayesian fit to the plan's model."""
    bayes = "Bayesian random effects, half-normal(0.5) prior on τ; 95% CrI"
    old = _row(0.52, 0.22, 1.21, 20.0, k=4, measure="HR") | {"lead_method": bayes}
    new = _row(0.50, 0.30, 0.85, 10.0, k=5, measure="HR") | {"lead_method": "REML, ad hoc HKSJ"}
    cs = diff({"a": {"row": old}}, {"a": {"row": new}})
    assert terminal_table(cs, "C.md").splitlines()[1] == (
        "  a  k 4 → 5; 0.52 [0.22, 1.21] → 0.50 [0.30, 0.85]; I² 20% → 10% "
        "(lead: Bayesian random effects → REML)")
    assert ("0.52 [0.22, 1.21] → 0.50 [0.30, 0.85] (lead: Bayesian random effects, "
            "half-normal(0.5) prior on τ; 95% CrI → REML, ad hoc HKSJ) |") in markdown(cs, "t")
