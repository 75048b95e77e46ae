"""The selection rules: which records are candidates for an analysis, and which rule stops one.

Each rule has a name (:data:`RULES`) that appears with every study it stops, under "not
pooled" in the forest footnotes, ``result.json`` and the HTML report.
"""

from __future__ import annotations

from typing import Any

from extract.schema import (
    BinaryRecord,
    ProportionRecord,
    PValueRecord,
    RatioRecord,
    Study,
)
from extract.context import comparator_of, grading_scale, intent_of

from .plan import Analysis

#: Rule names, in the order they are applied to a record.
RULES: dict[str, str] = {
    "pending_review": "the record is a draft (review: pending)",
    "pvalue_only": "the comparison is reported only as a p-value",
    "kind": "the record is of a kind this analysis does not pool",
    "timepoint": "the timepoint is not one the plan accepts",
    "measure": "the ratio measure is not one the plan accepts",
    "no_ci": "a ratio with neither a CI nor an exact p-value",
    "adjusted": "adjusted/unadjusted, against select.adjusted",
    "whole_cohort": "counts for one group only, not the whole cohort",
    "grade_scale": "graded on a scale the plan does not accept",
    "intent": "treatment intent not one the plan accepts",
    "comparator": "comparator kind not one the plan accepts",
    "stratum": "the record is about one stratum of the cohort",
    "scale_mix": "graded on another scale than the one this analysis keeps",
    "overlap": "the cohort is counted once, from another study",
}

_NAMES = {"pfs": "PFS", "efs": "EFS", "lfs": "LFS", "os": "OS", "cr": "CR"}


def candidates(study: Study, analysis: Analysis, outcomes: set[str]) -> list[tuple[int, Any]]:
    """Records of ``study`` about the analysis's outcome (and exposure, for comparisons)."""
    s = analysis.select
    out = []
    for i, r in enumerate(study.records):
        if r.outcome not in outcomes:
            continue
        if s.kind == "proportion":
            if isinstance(r, (ProportionRecord, BinaryRecord)):
                out.append((i, r))
            continue
        exposure = getattr(r, "exposure", None)
        if exposure is None or (s.exposure and exposure not in s.exposure):
            continue
        out.append((i, r))
    return out


def _p_text(r: PValueRecord) -> str:
    p_text = r.p if isinstance(r.p, str) else f"{r.p:g}"
    if not p_text.lstrip().startswith(("<", ">", "≤", "≥")):
        p_text = f"= {p_text}"
    return p_text


def first_failure(study: Study, r: Any, analysis: Analysis) -> tuple[str, str] | None:
    """(rule, reason) of the first rule that stops record ``r``; None when it may be pooled."""
    s = analysis.select
    if r.review == "pending":
        return "pending_review", f"pending review (record '{r.id}' says review: pending)"
    if isinstance(r, PValueRecord):
        test = f" ({r.test})" if r.test else ""
        return "pvalue_only", (f"not poolable: reported p {_p_text(r)}{test} for {r.comparison}, "
                               f"{_NAMES.get(r.outcome, r.outcome)}; no effect estimate")
    wanted = {"binary": BinaryRecord, "ratio": RatioRecord, "proportion": ProportionRecord}[s.kind]
    if not isinstance(r, wanted):
        if s.kind == "proportion":
            return "kind", (f"record '{r.id}' gives counts by group only (binary record); this "
                            f"analysis pools whole-cohort proportions")
        return "kind", f"record '{r.id}' is a {r.kind} record; this analysis pools {s.kind} records"
    if s.timepoint:
        tp = (r.timepoint or "").strip().lower()
        if tp not in {w.strip().lower() for w in s.timepoint}:
            return "timepoint", (f"record '{r.id}' is at timepoint '{r.timepoint or 'not stated'}'; "
                                 f"the plan accepts {', '.join(s.timepoint)}")
    if isinstance(r, RatioRecord):
        if s.measure and r.measure not in s.measure:
            return "measure", f"record '{r.id}' is an {r.measure}; the plan pools {', '.join(s.measure)}"
        if r.ci_lower is None or r.ci_upper is None:
            # without a CI the SE can still be recovered from an exact p-value
            if r.p is None or isinstance(r.p, str) or r.estimate == 1:
                return "no_ci", (f"record '{r.id}' gives {r.measure} {r.estimate:g} with neither a "
                                 f"CI nor an exact p-value, so it has no standard error")
        if s.adjusted == "only" and not r.adjusted:
            return "adjusted", f"record '{r.id}' is unadjusted; the plan pools adjusted estimates only"
        if s.adjusted == "exclude" and r.adjusted:
            return "adjusted", f"record '{r.id}' is adjusted; the plan pools unadjusted estimates only"
    if isinstance(r, ProportionRecord) and r.group is not None and s.whole_cohort:
        return "whole_cohort", (f"record '{r.id}' counts group '{r.group}' only, not the whole "
                                f"cohort (select.whole_cohort)")
    if s.grade_scale:
        scale = grading_scale(study, r)
        if scale not in s.grade_scale:
            return "grade_scale", (f"record '{r.id}' is graded on {scale or 'a scale not reported'}; "
                                   f"the plan accepts {', '.join(s.grade_scale)}")
    if s.intent:
        intent = intent_of(study, r)
        if intent not in s.intent:
            return "intent", (f"record '{r.id}': intent {intent or 'not reported'}; the plan "
                              f"accepts {', '.join(s.intent)}")
    if s.comparator and isinstance(r, (BinaryRecord, RatioRecord)):
        kind = comparator_of(study, r).kind
        if kind not in s.comparator:
            return "comparator", (f"record '{r.id}' has a {kind.replace('_', ' ')} comparator; the "
                                  f"plan accepts {', '.join(s.comparator)}")
    if r.stratum is not None:
        st = next((x for x in study.strata if x.id == r.stratum), None)
        what = f"{st.variable} {st.label}, n = {st.n}" if st else r.stratum
        return "stratum", f"record '{r.id}' is about one stratum ({what}) only"
    return None


def combine_strata(study: Study,
                   stopped: list[tuple[int, Any]]) -> tuple[int, Any, str] | None:
    """One record summed over the strata of one variable, when they cover it entirely.

    Only when every stratum of the variable has exactly one record of one kind (proportion,
    or binary with the same two groups), and the records were stopped by the stratum rule
    alone. Returns (index of the first record, the combined record, a footnote) or None.
    """
    strata = {x.id: x for x in study.strata}
    by_var: dict[str, list[tuple[int, Any]]] = {}
    for i, r in stopped:
        st = strata.get(r.stratum)
        if st is not None:
            by_var.setdefault(st.variable.strip().lower(), []).append((i, r))
    for var, recs in by_var.items():
        levels = {x.id for x in study.strata if x.variable.strip().lower() == var}
        got = [r.stratum for _, r in recs]
        if sorted(got) != sorted(levels) or len(set(type(r) for _, r in recs)) != 1:
            continue
        first_i, first = recs[0]
        names = ", ".join(f"{strata[r.stratum].label} ({r.id})" for _, r in recs)
        derived = dict(first.derived)
        note = f"sum over strata of {var}: {names}"
        derived["events"] = note
        derived["total"] = derived["events"]
        quotes = [q for _, r in recs for q in r.quotes]
        if isinstance(first, ProportionRecord):
            rec = first.model_copy(update={
                "id": first.id, "stratum": None, "percent": None, "events_range": None,
                "events": sum(r.events for _, r in recs), "total": sum(r.total for _, r in recs),
                "quotes": quotes, "derived": derived})
            return first_i, rec, note
        if isinstance(first, BinaryRecord):
            if len({(r.exposed.group, r.reference.group) for _, r in recs}) != 1:
                continue
            arms = {}
            for name in ("exposed", "reference"):
                a0 = getattr(first, name)
                arms[name] = a0.model_copy(update={
                    "events": sum(getattr(r, name).events for _, r in recs),
                    "total": sum(getattr(r, name).total for _, r in recs),
                    "percent": None, "events_range": None})
            rec = first.model_copy(update={"stratum": None, "quotes": quotes, "derived": derived,
                                           "p": None, **arms})
            return first_i, rec, note
    return None
