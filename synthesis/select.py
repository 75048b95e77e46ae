"""From validated study files to the data of one analysis: which record each study contributes.

A record is a *candidate* for an analysis when it reports the analysis's outcome (and, for
comparisons, one of its exposures). Each candidate passes the selection rules in
:data:`RULES` order or is stopped by the first that fails. Among a study's passing records
one is taken:

1. exposure in the plan's order of preference;
2. adjusted (multivariable) estimates first, or last, as the plan says;
3. the record listed first in the study file.

Then, across studies, CRS/ICANS records graded on different scales are not mixed (unless the
plan allows it) and overlapping cohorts are counted once (``select.prefer``). Every study
with a candidate that ends up not pooled is returned as :class:`NotPooled` with the rule
that stopped it: nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from extract.schema import (
    GRADING_SCALES,
    OUTCOME_FAMILIES,
    BinaryRecord,
    ProportionRecord,
    RatioRecord,
    Study,
)
from extract.context import comparator_of, grading_scale

from .plan import Analysis
from .select_rules import RULES, candidates, combine_strata, first_failure

OUTCOME_LABELS = {"pfs": "PFS", "efs": "EFS", "lfs": "LFS", "os": "OS", "cr": "CR",
                  "mrd_negative_cr": "MRD-negative CR"}

__all__ = ["RULES", "AnalysisData", "Contribution", "NotPooled", "OUTCOME_LABELS", "select",
           "study_label", "rounded_count_variants"]


def study_label(study: Study) -> str:
    first = study.citation.authors[0].split()[0] if study.citation.authors else study.id
    return f"{first} {study.citation.year}"


@dataclass
class Contribution:
    study_id: str
    label: str
    file: str
    record_index: int
    record: Any
    reason: str  # why this record (and not another) was taken
    alternatives: list[str] = field(default_factory=list)
    subgroup: str | None = None
    footnotes: list[str] = field(default_factory=list)
    size: int | None = None  # patients behind the record (overlap resolution)
    year: int = 0

    def provenance(self) -> dict[str, Any]:
        rec = self.record
        return {
            "study": self.study_id,
            "label": self.label,
            "file": self.file,
            "record": rec.id,
            "record_path": f"records[{self.record_index}]",
            "kind": rec.kind,
            "outcome": rec.outcome,
            "timepoint": rec.timepoint,
            "quotes": [q.model_dump(exclude_none=True) for q in rec.quotes],
            "derived": dict(rec.derived),
            "choice": self.reason,
            "alternatives": list(self.alternatives),
        }


@dataclass
class NotPooled:
    study_id: str
    label: str
    reason: str
    file: str | None = None
    record: str | None = None
    quote: str | None = None
    rule: str = ""  # the selection rule that stopped it (one of RULES)


@dataclass
class AnalysisData:
    analysis: Analysis
    contributions: list[Contribution]
    not_pooled: list[NotPooled]


def _outcomes(names: list[str]) -> set[str]:
    out: set[str] = set()
    for n in names:
        out.update(OUTCOME_FAMILIES.get(n, (n,)))
    return out


def _rank(rec, a: Analysis, order: int) -> tuple:
    s = a.select
    exp_rank = s.exposure.index(rec.exposure) if s.exposure and hasattr(rec, "exposure") and \
        rec.exposure in s.exposure else 0
    adj_rank = 0
    if isinstance(rec, RatioRecord):
        adj_rank = (0 if rec.adjusted else 1) if s.adjusted == "prefer" else (1 if rec.adjusted else 0)
    return (exp_rank, adj_rank, order)


def _why(chosen, others: list, a: Analysis) -> str:
    if not others:
        return "the only matching record"
    s = a.select
    parts = []
    if isinstance(chosen, RatioRecord):
        if any(getattr(o, "adjusted", None) != chosen.adjusted for o in others):
            parts.append(("adjusted preferred over unadjusted" if s.adjusted == "prefer"
                          else "unadjusted preferred over adjusted"))
    if s.exposure and any(getattr(o, "exposure", None) != chosen.exposure for o in others):
        parts.append(f"exposure '{chosen.exposure}' is earlier in the plan's preference order")
    if not parts:
        parts.append("listed first in the study file among equally ranked records")
    return "; ".join(parts)


def record_size(study: Study, rec) -> int | None:
    """Patients behind a record, from its own numbers where it has them."""
    if isinstance(rec, BinaryRecord):
        return rec.exposed.total + rec.reference.total
    if isinstance(rec, ProportionRecord):
        return rec.total
    groups = {g.id: g.n for g in study.groups}
    if isinstance(rec, RatioRecord) and groups.get(rec.exposed) and groups.get(rec.reference):
        return groups[rec.exposed] + groups[rec.reference]
    pop = study.population
    return pop.n_evaluable or pop.n_infused or pop.n_enrolled


def _not_pooled_text(rule: str, reason: str) -> str:
    return reason if rule == "pvalue_only" else f"not pooled ({rule}): {reason}"


def select(analysis: Analysis, studies: list[tuple[Study, str]]) -> AnalysisData:
    """Pick each study's record for ``analysis``. ``studies`` pairs each Study with its file path."""
    outcomes = _outcomes(analysis.select.outcome)
    contributions: list[Contribution] = []
    not_pooled: list[NotPooled] = []
    by_id = {s.id: s for s, _ in studies}
    for study, path in sorted(studies, key=lambda sp: (sp[0].citation.year, sp[0].id)):
        label = study_label(study)
        cands = candidates(study, analysis, outcomes)
        if not cands:
            continue
        passing, stopped = [], []
        combined_note = None
        for i, r in cands:
            failure = first_failure(study, r, analysis)
            (stopped if failure else passing).append((i, r, failure))
        if not passing and analysis.select.strata == "combine":
            combined = combine_strata(study, [(i, r) for i, r, f in stopped
                                              if f and f[0] == "stratum"])
            if combined is not None:
                passing = [(combined[0], combined[1], None)]
                combined_note = combined[2]
                stopped = [t for t in stopped if t[2][0] != "stratum"]
        if not passing:
            seen: dict[str, None] = {}
            for _, r, (rule, why) in stopped:
                seen.setdefault(f"{why}", None)
            i0, r0, (rule0, _) = stopped[0]
            reason = "; ".join(list(seen)[:3]) + (f"; and {len(seen) - 3} more" if len(seen) > 3
                                                  else "")
            not_pooled.append(NotPooled(
                study.id, label, _not_pooled_text(rule0, reason), path, r0.id,
                r0.quotes[0].text if r0.quotes else None, rule0))
            continue
        passing.sort(key=lambda t: _rank(t[1], analysis, t[0]))
        idx, chosen, _ = passing[0]
        others = [r for _, r, _ in passing[1:]]
        c = Contribution(
            study_id=study.id, label=label, file=path, record_index=idx, record=chosen,
            reason=_why(chosen, others, analysis),
            alternatives=[f"{r.id} (not used)" for r in others]
            + [f"{r.id} (not used: {f[0]})" for _, r, f in stopped],
            size=record_size(study, chosen), year=study.citation.year,
        )
        if analysis.subgroup_by == "outcome":
            c.subgroup = OUTCOME_LABELS.get(chosen.outcome, chosen.outcome.upper())
        c.footnotes.extend(_footnotes(study, chosen, analysis))
        if combined_note:
            c.footnotes.append(combined_note)
        contributions.append(c)
    _scale_mix(contributions, not_pooled, by_id, analysis)
    _drop_overlaps(contributions, not_pooled, by_id, analysis)
    return AnalysisData(analysis, contributions, not_pooled)


def _footnotes(study: Study, chosen, analysis: Analysis) -> list[str]:
    notes = []
    if isinstance(chosen, RatioRecord):
        notes.append(_adjustment_note(chosen))
        if chosen.ci_lower is None:
            notes.append("no CI reported: SE recovered from the estimate and its "
                         "p-value (Cochrane Handbook §6.3.2)")
    if (analysis.select.exposure and getattr(chosen, "exposure", None)
            and chosen.exposure != analysis.select.exposure[0]):
        notes.append(_comparison_note(chosen))
    if isinstance(chosen, (BinaryRecord, RatioRecord)):
        comp = comparator_of(study, chosen)
        if comp.kind != "concurrent":
            what = comp.kind.replace("_", " ")
            extra = ", ".join(x for x in (comp.registration, comp.description) if x)
            notes.append(f"{what} comparator" + (f" ({extra})" if extra else ""))
    for arm_name, arm in _arms(chosen):
        if arm.events_range is not None:
            lo, hi = arm.events_range
            notes.append(f"{arm_name}events {arm.events} derived from a rounded percentage "
                         f"({arm.percent:g}% of {arm.total} allows {lo}-{hi}); "
                         f"sensitivity uses both ends")
    return notes


def _arms(rec) -> list[tuple[str, Any]]:
    if isinstance(rec, ProportionRecord):
        return [("", rec)]
    if isinstance(rec, BinaryRecord):
        return [(f"{rec.exposed.group}: ", rec.exposed), (f"{rec.reference.group}: ", rec.reference)]
    return []


def _comparison_note(rec) -> str:
    if isinstance(rec, RatioRecord):
        return f"compares {rec.exposed} with {rec.reference} (exposure '{rec.exposure}')"
    return f"exposure '{rec.exposure}'" + (f": {rec.exposure_label}" if rec.exposure_label else "")


def _adjustment_note(rec: RatioRecord) -> str:
    if rec.adjusted:
        cov = ", ".join(rec.covariates) if rec.covariates else "covariates not listed"
        return f"adjusted ({rec.model or 'multivariable model'}; {cov})"
    return "unadjusted (univariable)"


def _scale_mix(contributions: list[Contribution], not_pooled: list[NotPooled],
               by_id: dict[str, Study], analysis: Analysis) -> None:
    """Keep one CRS/ICANS grading scale unless the plan allows mixing (select.mix_scales)."""
    scales = {c.study_id: grading_scale(by_id[c.study_id], c.record) for c in contributions}
    known = [s for s in scales.values() if s not in (None, "not_reported")]
    if analysis.select.mix_scales or len(set(known)) <= 1:
        if len(set(known)) > 1:
            for c in contributions:
                c.footnotes.append(f"graded on {GRADING_SCALES[scales[c.study_id]]}"
                                   if scales[c.study_id] in known else "grading scale not reported")
        return
    prefs = [s for s in analysis.select.grade_scale if s in known]
    if prefs:
        keep, how = prefs[0], "first in the plan's grade_scale"
    else:
        counts = Counter(known)
        order = list(GRADING_SCALES)
        keep = min(counts, key=lambda s: (-counts[s], order.index(s)))
        how = "the scale most studies used"
    for c in list(contributions):
        s = scales[c.study_id]
        if s in known and s != keep:
            contributions.remove(c)
            not_pooled.append(NotPooled(
                c.study_id, c.label,
                _not_pooled_text("scale_mix", f"graded on {s}; this analysis keeps {keep} ({how}) "
                                 f"and the plan does not mix scales (select.mix_scales)"),
                c.file, c.record.id, None, "scale_mix"))


def _drop_overlaps(contributions: list[Contribution], not_pooled: list[NotPooled],
                   by_id: dict[str, Study], analysis: Analysis) -> None:
    """Count an overlapping cohort once: keep one record per cluster by ``select.prefer``."""
    present = {c.study_id: c for c in contributions}
    parent = {sid: sid for sid in present}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    reasons: dict[frozenset, str] = {}
    for sid in present:
        for o in by_id[sid].overlaps:
            if o.study in present:
                parent[find(sid)] = find(o.study)
                reasons[frozenset((sid, o.study))] = o.reason
    clusters: dict[str, list[Contribution]] = {}
    for sid, c in present.items():
        clusters.setdefault(find(sid), []).append(c)
    prefer = analysis.select.prefer
    for members in clusters.values():
        if len(members) < 2:
            continue
        by_size = sorted(members, key=lambda c: (-(c.size or 0), -c.year, c.study_id))
        if prefer == "most_recent":
            keeper = sorted(members, key=lambda c: (-c.year, -(c.size or 0), c.study_id))[0]
            how = "the most recent report (select.prefer: most_recent)"
        elif prefer not in ("largest", "most_recent") and prefer in present and \
                present[prefer] in members:
            keeper, how = present[prefer], f"named by the plan (select.prefer: {prefer})"
        else:
            keeper, how = by_size[0], "the larger record (select.prefer: largest)"
        for c in members:
            if c is keeper:
                continue
            why = reasons.get(frozenset((c.study_id, keeper.study_id)), "overlapping cohort")
            text = (f"overlaps with {keeper.study_id} ({why}); counted once: {keeper.study_id} "
                    f"kept, {how}; n = {keeper.size} vs {c.size} in this record")
            contributions.remove(c)
            not_pooled.append(NotPooled(c.study_id, c.label, _not_pooled_text("overlap", text),
                                        c.file, c.record.id, None, "overlap"))


def rounded_count_variants(data: AnalysisData) -> tuple[AnalysisData, AnalysisData] | None:
    """The analysis with every count derived from a rounded percentage at its low, then high
    end (``events_range``); None when no contribution has such a count. For a sensitivity fit.
    """
    if not any(arm.events_range for c in data.contributions for _, arm in _arms(c.record)):
        return None

    def at(end: int) -> AnalysisData:
        out = []
        for c in data.contributions:
            rec = c.record
            if isinstance(rec, ProportionRecord) and rec.events_range:
                rec = rec.model_copy(update={"events": rec.events_range[end]})
            elif isinstance(rec, BinaryRecord):
                upd = {}
                for name in ("exposed", "reference"):
                    arm = getattr(rec, name)
                    if arm.events_range:
                        upd[name] = arm.model_copy(update={"events": arm.events_range[end]})
                rec = rec.model_copy(update=upd) if upd else rec
            out.append(replace(c, record=rec))
        return AnalysisData(data.analysis, out, list(data.not_pooled))

    return at(0), at(1)
