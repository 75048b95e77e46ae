"""From a fitted analysis and the study files to its appraisal: risk of bias per study, the
risk-of-bias sensitivity analysis, and the GRADE rating; and the review's SoF tables.

Reads an analysis fit (``synthesis.pipeline.AnalysisFit``: the plan entry, the
selected contributions and the main ``PoolResult``) and returns typed results;
draws and writes nothing. The sensitivity re-fit is done by the caller's
``refit`` function (the pipeline's own fitting), so this module imports no
pipeline code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from extract.appraisal import INTERVENTIONS, SERIOUS, TOOLS, assessment_for, domain_items

from ..effects import backtransform
from .grade import Certainty, GradeInputs, StudyRob, Thresholds, grade
from .robplots import RobRow
from .smallstudy import SmallStudyTest, egger, peters
from .sof import SofRowResult, SofTableResult, sof_row

from ..measures import RATIO as RATIO_MEASURES  # noqa: E402  (the measure registry's)


@dataclass(frozen=True)
class StudyAppraisal:
    """One contribution's study, its weight in the main fit and its risk-of-bias assessment."""

    study_id: str
    label: str
    file: str
    weight: float                  # percent of the main fit; nan when not pooled
    tool: str
    assessment: Any | None         # the study file's assessment (extract.appraisal), if any
    note: str = ""                 # why there is none, or why it is not used

    @property
    def judgement(self) -> str:
        return self.assessment.overall.judgement if self.assessment else "not_assessed"

    @property
    def severity(self) -> int | None:
        return TOOLS[self.tool].severity.get(self.judgement) if self.assessment else None

    @property
    def serious(self) -> bool:
        return self.severity is not None and self.severity >= SERIOUS

    def row(self) -> RobRow:
        j = {d: x.judgement for d, x in domain_items(self.assessment)} if self.assessment else {}
        return RobRow(self.label, j, self.weight if np.isfinite(self.weight) else 0.0)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"study": self.study_id, "label": self.label, "file": self.file,
                             "weight": None if not np.isfinite(self.weight) else self.weight,
                             "tool": self.tool, "overall": self.judgement}
        if self.assessment is not None:
            d["assessment"] = self.assessment.id
            d["domains"] = {k: {"judgement": x.judgement, "support": x.support,
                                "quotes": [q.model_dump(exclude_none=True) for q in x.quotes]}
                            for k, x in domain_items(self.assessment)}
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class Sensitivity:
    """The analysis re-fitted without the studies at serious or critical risk of bias."""

    dropped: tuple[str, ...]
    kept: tuple[str, ...]
    result: Any | None             # PoolResult of the kept studies, None if fewer than one
    text: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": "without studies at serious or critical risk of bias",
                               "dropped": list(self.dropped), "kept": list(self.kept),
                               "text": self.text}
        if self.result is not None:
            out["result"] = self.result.to_dict()
        return out


@dataclass(frozen=True)
class Appraisal:
    """Everything the appraisal says about one analysis."""

    analysis_id: str
    tool: str
    studies: tuple[StudyAppraisal, ...]
    sensitivity: Sensitivity | None
    inputs: GradeInputs | None
    certainty: Certainty | None
    thresholds: Thresholds
    estimate: tuple[float, float, float] | None = None   # reader's scale: estimate, CI
    estimate_label: str = ""                              # which fit it is (lead estimate)

    def rob_rows(self) -> list[RobRow]:
        return [s.row() for s in self.studies]

    def to_dict(self) -> dict[str, Any]:
        return {"tool": TOOLS[self.tool].label, "estimate_used": self.estimate_label,
                "studies": [s.to_dict() for s in self.studies],
                "sensitivity": self.sensitivity.to_dict() if self.sensitivity else None,
                "grade": self.certainty.to_dict() if self.certainty else None}


def rob_key(data: Any, studies: Sequence[tuple[Any, str]]) -> list[Any]:
    """The contributing studies' risk-of-bias sections as JSON data, for the build's
    incremental key (an edited judgement rebuilds the analyses it feeds)."""
    ids = {c.study_id for c in data.contributions}
    return [[a.model_dump(mode="json") for a in s.risk_of_bias or []]
            for s, _ in studies if s.id in ids]


def tool_for(analysis: Any) -> str:
    """The plan's rob_tool, else ROBINS-I when every selected exposure is an intervention."""
    if analysis.appraisal.rob_tool:
        return analysis.appraisal.rob_tool
    ex = analysis.select.exposure
    return "robins_i" if ex and all(e in INTERVENTIONS for e in ex) else "robins_e"


def study_appraisals(fit: Any, studies: dict[str, Any]) -> tuple[StudyAppraisal, ...]:
    tool = tool_for(fit.analysis)
    weights = fit.main.weights if fit.main is not None else [np.nan] * len(fit.data.contributions)
    out = []
    for c, w in zip(fit.data.contributions, weights):
        rec = c.record
        exposure = getattr(rec, "exposure", None) or "none"
        a = assessment_for(studies[c.study_id], exposure, rec.outcome)
        note = ""
        if a is None:
            note = (f"no risk-of-bias assessment of exposure '{exposure}' with outcome "
                    f"'{rec.outcome}' in {c.file}")
        elif a.tool != tool:
            note = (f"{c.file} assesses this with {TOOLS[a.tool].label}; the plan asks for "
                    f"{TOOLS[tool].label}")
            a = None
        out.append(StudyAppraisal(c.study_id, c.label, c.file, float(w), tool, a, note))
    return tuple(out)


def sensitivity(fit: Any, rows: Sequence[StudyAppraisal],
                refit: Callable[[list[Any]], Any]) -> Sensitivity | None:
    """Re-fit without studies at serious/critical risk (``refit`` takes the kept contributions)."""
    if fit.main is None:
        return None
    dropped = tuple(r.label for r in rows if r.serious)
    keep = [c for c, r in zip(fit.data.contributions, rows) if not r.serious]
    kept = tuple(c.label for c in keep)
    if not dropped:
        return Sensitivity((), kept, None, "Sensitivity analysis: no study is at serious or "
                                           "critical risk of bias; nothing to remove.")
    if not keep:
        return Sensitivity(dropped, (), None,
                           f"Sensitivity analysis: every study ({', '.join(dropped)}) is at "
                           f"serious or critical risk of bias; no estimate remains without them.")
    res = refit(keep)
    if res is None or not np.isfinite(res.estimate):
        text = (f"Sensitivity analysis without {', '.join(dropped)}: not estimable from "
                f"{', '.join(kept)}.")
    else:
        est, lo, hi = backtransform(res.measure, [res.estimate, res.ci_lb, res.ci_ub])
        text = (f"Sensitivity analysis without {', '.join(dropped)} (serious or critical risk of "
                f"bias): {est:.2f} ({lo:.2f} to {hi:.2f}) from {', '.join(kept)}.")
    return Sensitivity(dropped, kept, res, text)


def comparator_arms(fit: Any) -> tuple[int | None, float | None]:
    """Participants and the pooled comparator-arm risk of binary contributions."""
    recs = [c.record for c in fit.data.contributions]
    if fit.analysis.select.kind != "binary" or not recs:
        return None, None
    n = sum(r.exposed.total + r.reference.total for r in recs)
    ev, tot = sum(r.reference.events for r in recs), sum(r.reference.total for r in recs)
    return n, (ev / tot if tot else None)


def participants(fit: Any, studies: dict[str, Any]) -> tuple[int | None, str]:
    """Participants: both arms of binary records, else the groups' sizes, else the cohort."""
    n, _ = comparator_arms(fit)
    if n is not None:
        return n, ""
    total, cohort_used = 0, []
    for c in fit.data.contributions:
        s, rec = studies[c.study_id], c.record
        sizes = {g.id: g.n for g in s.groups}
        pair = [sizes.get(getattr(rec, k, None)) for k in ("exposed", "reference")]
        if all(isinstance(x, int) for x in pair):
            total += sum(pair)  # type: ignore[arg-type]
            continue
        p = s.population
        size = p.n_evaluable or p.n_infused or p.n_enrolled
        if size is None:
            return None, ""
        total += size
        cohort_used.append(c.label)
    note = (f"Participants: the study's cohort size (evaluable, else infused, else enrolled) "
            f"for {', '.join(cohort_used)}; the size of the analysed groups is not reported."
            ) if cohort_used else ""
    return total, note


def appraise(fit: Any, studies: dict[str, Any], refit: Callable[[list[Any]], Any],
             lead: Any | None = None) -> Appraisal:
    """Risk of bias, sensitivity analysis and GRADE for one fitted analysis.

    ``lead``: the analysis's lead estimate (``synthesis.smallk.LabelledEstimate``) when
    the pipeline chose one; GRADE's imprecision and large-effect rules and the SoF then
    read its estimate and interval, the heterogeneity rules the main fit."""
    a = fit.analysis
    plan = a.appraisal
    t = plan.thresholds.to_thresholds()
    tool = tool_for(a)
    if a.select.kind == "proportion":  # one group: no comparison to assess or rate
        return Appraisal(a.id, tool, (), None, None, None, t)
    rows = study_appraisals(fit, studies)
    sens = sensitivity(fit, rows, refit)
    res = fit.main
    if res is None or a.measure not in RATIO_MEASURES or not np.isfinite(res.estimate):
        return Appraisal(a.id, tool, rows, sens, None, None, t)
    est, lo, hi, plo, phi = (float(v) for v in backtransform(
        res.measure, [res.estimate, res.ci_lb, res.ci_ub, res.pi_lb, res.pi_ub]))
    label, interval = "main fit", "CI"
    if lead is not None and np.isfinite(lead.estimate):
        est, lo, hi = float(lead.estimate), float(lead.ci_lb), float(lead.ci_ub)
        label, interval = lead.describe, lead.interval
    n, acr = comparator_arms(fit)
    pooled = [r for r in rows if np.isfinite(r.weight)]
    small = small_study_test(fit, t.min_k_small_study)
    x = GradeInputs(
        design="randomised" if TOOLS[tool].design == "randomised" else "non-randomised",
        ratio=True, estimate=est, ci_lower=lo, ci_upper=hi, k=res.k,
        studies=tuple(StudyRob(r.label, r.weight, r.severity,
                               r.judgement.replace("_", " ")) for r in pooled),
        pi_lower=plo if np.isfinite(plo) else None,
        pi_upper=phi if np.isfinite(phi) else None,
        tau=float(np.sqrt(res.tau2)) if np.isfinite(res.tau2) else None,
        i2=_fin(res.i2), i2_lower=_fin(res.i2_ci_lb), i2_upper=_fin(res.i2_ci_ub),
        binary=a.select.kind == "binary", total_n=n, comparator_risk=acr,
        small_study_p=small.pval if small else None,
        small_study_test=small.test if small else "Egger",
        indirectness=tuple(d.to_declared() for d in plan.indirectness), interval=interval)
    c = grade(x, t, plan.grade_overrides.to_overrides())
    return Appraisal(a.id, tool, rows, sens, x, c, t, (est, lo, hi), label)


def small_study_test(fit: Any, min_k: int) -> SmallStudyTest | None:
    """Peters' test for binary ORs, else Egger's, on the pooled studies; None below min_k."""
    res = fit.main
    ok = np.isfinite(res.weights)
    if ok.sum() < min_k:
        return None
    if fit.analysis.select.kind == "binary" and fit.analysis.measure == "OR":
        recs = [c.record for c, keep in zip(fit.data.contributions, ok) if keep]
        return peters(res.yi[ok], [r.exposed.total for r in recs],
                      [r.reference.total for r in recs])
    return egger(res.yi[ok], res.vi[ok])


def _fin(v: float) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def sof_tables(plan: Any, fits: dict[str, Any], appraisals: dict[str, Appraisal],
               studies: dict[str, Any]) -> list[SofTableResult]:
    """The plan's `sof:` tables from the fits and their appraisals."""
    out = []
    for table in plan.sof:
        rows: list[SofRowResult] = []
        for r in table.rows:
            fit, ap = fits[r.analysis], appraisals[r.analysis]
            res = fit.main
            est, lo, hi = ap.estimate if ap.estimate is not None else (None, None, None)
            n, note = participants(fit, studies)
            _, pooled_acr = comparator_arms(fit)
            if r.assumed_risk is not None:
                acr, src = r.assumed_risk.value, r.assumed_risk.source
            else:
                acr, src = pooled_acr, "pooled comparator arm"
            sens = ap.sensitivity.text if ap.sensitivity else None
            used = f"Relative effect: {ap.estimate_label}." if ap.estimate_label else ""
            extra = " ".join(x for x in (used, sens, note) if x) or None
            measure = "HR" if fit.analysis.measure == "HR" else fit.analysis.measure
            rows.append(sof_row(
                outcome=r.outcome, analysis=r.analysis, measure=measure, estimate=est,
                ci_lower=lo, ci_upper=hi, participants=n,
                studies=res.k if res is not None else 0, certainty=ap.certainty,
                thresholds=ap.thresholds, intervention=table.intervention,
                event=r.event or r.outcome.lower(), acr=acr, acr_source=src,
                sensitivity=extra))
        out.append(SofTableResult(table.id, table.title, table.population, table.setting,
                                  table.intervention, table.comparison, tuple(rows)))
    return out
