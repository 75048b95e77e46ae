"""From validated study files to the data of one analysis: which record each study contributes.

Rules, in order, when a study has several matching records:
1. exposure in the plan's order of preference;
2. adjusted (multivariable) estimates first, or last, as the plan says;
3. the record listed first in the study file.
Every choice is returned with its reason, and every study that matches but
cannot be pooled (a comparison reported only as a p-value, an overlapping
cohort) is returned with its reason: nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extract.schema import (
    OUTCOME_FAMILIES,
    BinaryRecord,
    ProportionRecord,
    PValueRecord,
    RatioRecord,
    Study,
)

from .plan import Analysis

OUTCOME_LABELS = {"pfs": "PFS", "efs": "EFS", "lfs": "LFS", "os": "OS", "cr": "CR",
                  "mrd_negative_cr": "MRD-negative CR"}


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


def _timepoint_ok(rec, wanted: list[str]) -> bool:
    if not wanted:
        return True
    tp = (rec.timepoint or "").strip().lower()
    return tp in {w.strip().lower() for w in wanted}


def _matches(rec, a: Analysis, outcomes: set[str]) -> bool:
    s = a.select
    if rec.outcome not in outcomes or not _timepoint_ok(rec, s.timepoint):
        return False
    if s.kind == "binary":
        return isinstance(rec, BinaryRecord) and (not s.exposure or rec.exposure in s.exposure)
    if s.kind == "ratio":
        if not isinstance(rec, RatioRecord):
            return False
        if s.exposure and rec.exposure not in s.exposure:
            return False
        if s.measure and rec.measure not in s.measure:
            return False
        if rec.ci_lower is None or rec.ci_upper is None:
            # without a CI the SE can still be recovered from an exact p-value
            if rec.p is None or isinstance(rec.p, str) or rec.estimate == 1:
                return False
        if s.adjusted == "only" and not rec.adjusted:
            return False
        if s.adjusted == "exclude" and rec.adjusted:
            return False
        return True
    if s.kind == "proportion":
        if not isinstance(rec, ProportionRecord):
            return False
        return rec.group is None or not s.whole_cohort
    return False


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


def select(analysis: Analysis, studies: list[tuple[Study, str]]) -> AnalysisData:
    """Pick each study's record for ``analysis``. ``studies`` pairs each Study with its file path."""
    outcomes = _outcomes(analysis.select.outcome)
    contributions: list[Contribution] = []
    not_pooled: list[NotPooled] = []
    for study, path in sorted(studies, key=lambda sp: (sp[0].citation.year, sp[0].id)):
        label = study_label(study)
        matches = [(i, r) for i, r in enumerate(study.records) if _matches(r, analysis, outcomes)]
        if matches:
            matches.sort(key=lambda ir: _rank(ir[1], analysis, ir[0]))
            idx, chosen = matches[0]
            others = [r for _, r in matches[1:]]
            c = Contribution(
                study_id=study.id, label=label, file=path, record_index=idx, record=chosen,
                reason=_why(chosen, others, analysis),
                alternatives=[f"{r.id} (not used)" for r in others],
            )
            if analysis.subgroup_by == "outcome":
                c.subgroup = OUTCOME_LABELS.get(chosen.outcome, chosen.outcome.upper())
            if isinstance(chosen, RatioRecord):
                c.footnotes.append(_adjustment_note(chosen))
                if chosen.ci_lower is None:
                    c.footnotes.append("no CI reported: SE recovered from the estimate and its "
                                       "p-value (Cochrane Handbook §6.3.2)")
            if (analysis.select.exposure and getattr(chosen, "exposure", None)
                    and chosen.exposure != analysis.select.exposure[0]):
                c.footnotes.append(_comparison_note(chosen))
            contributions.append(c)
            continue
        if analysis.select.list_pvalue_only and analysis.select.kind != "proportion":
            pv = [r for r in study.records if isinstance(r, PValueRecord)
                  and r.outcome in outcomes
                  and (not analysis.select.exposure or r.exposure in analysis.select.exposure)]
            for r in pv:
                p_text = r.p if isinstance(r.p, str) else f"{r.p:g}"
                if not p_text.lstrip().startswith(("<", ">", "≤", "≥")):
                    p_text = f"= {p_text}"
                test = f" ({r.test})" if r.test else ""
                not_pooled.append(NotPooled(
                    study.id, label,
                    f"not poolable: reported p {p_text}{test} for {r.comparison}, "
                    f"{OUTCOME_LABELS.get(r.outcome, r.outcome)}; no effect estimate",
                    path, r.id, r.quotes[0].text if r.quotes else None))
    _drop_overlaps(contributions, not_pooled, studies)
    return AnalysisData(analysis, contributions, not_pooled)


def _comparison_note(rec) -> str:
    if isinstance(rec, RatioRecord):
        return f"compares {rec.exposed} with {rec.reference} (exposure '{rec.exposure}')"
    return f"exposure '{rec.exposure}'" + (f": {rec.exposure_label}" if rec.exposure_label else "")


def _adjustment_note(rec: RatioRecord) -> str:
    if rec.adjusted:
        cov = ", ".join(rec.covariates) if rec.covariates else "covariates not listed"
        return f"adjusted ({rec.model or 'multivariable model'}; {cov})"
    return "unadjusted (univariable)"


def _drop_overlaps(contributions: list[Contribution], not_pooled: list[NotPooled],
                   studies: list[tuple[Study, str]]) -> None:
    """Keep one report of an overlapping cohort: the larger, then the earlier id."""
    by_id = {s.id: s for s, _ in studies}
    ids = {c.study_id for c in contributions}
    drop: dict[str, str] = {}
    for c in contributions:
        s = by_id[c.study_id]
        for o in s.overlaps:
            if o.study in ids and o.study not in drop and c.study_id not in drop:
                other = by_id[o.study]
                n_self = s.population.n_enrolled or s.population.n_infused or 0
                n_other = other.population.n_enrolled or other.population.n_infused or 0
                loser = c.study_id if (n_self, o.study) < (n_other, c.study_id) else o.study
                keeper = o.study if loser == c.study_id else c.study_id
                drop[loser] = f"not pooled: overlaps with {keeper} ({o.reason}); counted once"
    for c in list(contributions):
        if c.study_id in drop:
            contributions.remove(c)
            not_pooled.append(NotPooled(c.study_id, c.label, drop[c.study_id], c.file,
                                        c.record.id))
