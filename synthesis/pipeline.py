"""One analysis from validated records to fitted models: the typed `AnalysisFit`.

records (synthesis.select) -> effect sizes (synthesis.effects) -> fits
(synthesis.api / models: main, common effect, subgroups) -> subgroup test.
Presentation (synthesis.report) reads the attributes of an `AnalysisFit`;
nothing here draws or writes files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import codes
from .codes import Note
from .errors import BuildError
from .plan import Analysis, ReviewPlan
from .select import AnalysisData, Contribution, rounded_count_variants
from .smallk import LabelledEstimate, LeadDecision, lead_estimates, needs_alternatives


@dataclass(frozen=True)
class SubgroupFit:
    """One subgroup of an analysis (its studies and their pooled fit)."""

    name: str
    result: Any  # PoolResult
    members: tuple[Contribution, ...]


@dataclass(frozen=True)
class SubgroupTest:
    """Test for subgroup differences (Cochran's Q across subgroup estimates)."""

    q_between: float
    df: int
    pval: float

    def to_dict(self) -> dict[str, Any]:
        return {"q_between": self.q_between, "df": self.df, "pval": self.pval}


@dataclass(frozen=True)
class SensitivityFit:
    """A labelled sensitivity fit of the same studies (e.g. the inverse-variance logit
    model beside a GLMM); its LabelledEstimate is among ``AnalysisFit.alternatives``."""

    label: str
    result: Any  # PoolResult
    note: str = ""


@dataclass(frozen=True)
class AnalysisFit:
    """Every fit of one analysis of the review plan."""

    analysis: Analysis
    data: AnalysisData
    main: Any  # PoolResult | None (None: no study reports an estimate)
    common: Any  # PoolResult | None (the common-effect fit, if the plan shows it)
    subgroups: tuple[SubgroupFit, ...] = ()
    subgroup_test: SubgroupTest | None = None
    # the lead estimate (results.csv, overview) and the labelled fits shown beside it
    # (synthesis.smallk; other modules add e.g. GLMM or risk-of-bias sensitivity fits)
    lead: LabelledEstimate | None = None
    alternatives: tuple[LabelledEstimate, ...] = ()
    lead_rule: LeadDecision | None = None
    # the fits behind sensitivity rows (e.g. the inverse-variance model beside a GLMM)
    sensitivity: tuple[SensitivityFit, ...] = ()
    # risk of bias per study, its sensitivity re-fit and GRADE (synthesis.appraisal.assess)
    appraisal: Any = None
    # the Bayesian posterior behind a Bayesian lead or alternative (report/bayesplot.py)
    bayes: Any = None


def load_studies(plan: ReviewPlan, root: Path, sources_override: Path | None):
    """Validate every study file of the plan; [(Study, path relative to root)] and the report.

    Raises BuildError (with every validation error) if a file does not validate."""
    from extract.validate import validate_paths

    studies_dir = (root / plan.studies).resolve()
    if not studies_dir.is_dir():
        raise BuildError([f"{root / 'review.yaml'}: studies folder '{plan.studies}' not found"])
    sources = [sources_override] if sources_override else (plan.source_folders(root) or None)
    if sources is not None:  # a named folder that does not exist holds no papers (build says so)
        sources = [s for s in sources if s.is_dir()]
    report = validate_paths([studies_dir], sources)
    if not report.ok:
        lines = [str(m) for m in report.messages if m.severity == "error"]
        lines.append(f"build stopped: {report.errors} error(s) in the study files; "
                     f"previous outputs left untouched")
        raise BuildError(lines)
    pairs = []
    for fr in report.files:
        assert fr.study is not None
        try:
            rel = fr.path.resolve().relative_to(root.resolve())
        except ValueError:
            rel = fr.path
        pairs.append((fr.study, str(rel)))
    return pairs, report


def fit_analysis(analysis: Analysis, data: AnalysisData,
                 studies: dict[str, Any] | None = None) -> AnalysisFit:
    """Fit the analysis (overall, per subgroup, optional common effect); with ``studies``
    (study id -> Study) also its appraisal: risk of bias, the fit without studies at
    serious or critical risk of bias, and GRADE."""
    import numpy as np

    from dataclasses import replace

    from . import effects
    from .api import InputError, pool_counts, pool_effects, pool_glmm
    from .constants import DEFAULTS
    from .models import PoolSettings, subgroup_q
    from .smallk import from_pool, pool_label

    a = analysis
    contribs = data.contributions
    m = a.model
    kind = a.select.kind
    pool_measure = {"HR": "RATIO"}.get(a.measure, a.measure)

    def effect_sizes(cs):
        recs = [c.record for c in cs]
        if kind == "binary":
            return effects.binary([r.exposed.events for r in recs], [r.exposed.total for r in recs],
                                  [r.reference.events for r in recs],
                                  [r.reference.total for r in recs], pool_measure)
        if kind == "proportion":
            return effects.proportion([r.events for r in recs], [r.total for r in recs],
                                      pool_measure)
        # from the CI where one is printed, else from the exact p-value
        return effects.reported_ratios([r.estimate for r in recs], [r.ci_lower for r in recs],
                                       [r.ci_upper for r in recs], [r.ci_level for r in recs],
                                       [r.p for r in recs])

    def fit(cs, method=None):
        if not cs:
            return None
        settings = PoolSettings(measure=pool_measure if kind != "ratio" else "RATIO",
                                method=method or m.method, hksj=m.hksj, hksj_adhoc=m.hksj_adhoc,
                                pi=m.pi, level=m.level)
        es = effect_sizes(cs)
        if settings.method in ("MH", "PETO"):
            recs = [c.record for c in cs]
            raw = {"event_e": np.array([r.exposed.events for r in recs], float),
                   "n_e": np.array([r.exposed.total for r in recs], float),
                   "event_c": np.array([r.reference.events for r in recs], float),
                   "n_c": np.array([r.reference.total for r in recs], float)}
            return pool_counts([c.label for c in cs], es, raw, settings)
        if settings.method == "GLMM":
            return glmm_or_iv(cs, es, settings)
        return pool_effects(es, [c.label for c in cs], settings)

    def glmm_or_iv(cs, es, settings):
        """The GLMM; where it has no finite estimate, the inverse-variance fit, saying why."""
        recs = [c.record for c in cs]
        if kind == "binary":
            raw = {"event_e": np.array([r.exposed.events for r in recs], float),
                   "n_e": np.array([r.exposed.total for r in recs], float),
                   "event_c": np.array([r.reference.events for r in recs], float),
                   "n_c": np.array([r.reference.total for r in recs], float)}
        else:
            raw = {"events": np.array([r.events for r in recs], float),
                   "n": np.array([r.total for r in recs], float)}
        try:
            return pool_glmm([c.label for c in cs], es, raw, settings)
        except InputError as exc:
            res = pool_effects(es, [c.label for c in cs], replace(settings, method=DEFAULTS.method))
            res.warnings.append(Note(codes.FALLBACK, f"{exc.message}; the inverse-variance "
                                     f"{DEFAULTS.method} model is shown instead"))
            return res

    main = fit(contribs) if contribs else None
    common = None
    if (m.show_common or (main is not None and needs_alternatives(main.k))) and contribs:
        common = fit(contribs, "MH" if kind == "binary" and a.measure in ("OR", "RR", "RD")
                     else "FE")
    subgroups = []
    if a.subgroup_by == "outcome":
        names = sorted({c.subgroup for c in contribs if c.subgroup})
        if len(names) > 1:
            for name in names:
                cs = [c for c in contribs if c.subgroup == name]
                subgroups.append(SubgroupFit(name, fit(cs), tuple(cs)))
    sub_test = None
    if len(subgroups) > 1:  # test for subgroup differences (models.subgroup_q)
        sub_test = SubgroupTest(*subgroup_q([s.result.estimate for s in subgroups],
                                            [s.result.se for s in subgroups]))
    lead = lead_estimates(a, main, common, contribs)
    sensitivity, alternatives = (), lead.alternatives
    if main is not None and main.method == "GLMM" and main.k >= 2:
        # the inverse-variance model on the escalc logit / log OR, kept beside the GLMM
        iv = fit(contribs, DEFAULTS.method)
        ci = {"wald": "Wald", "hksj": "HKSJ", "hksj-adhoc": "HKSJ ad hoc"}[iv.settings.ci_type]
        label = (f"Inverse variance, {'logit' if a.measure == 'PLO' else 'log OR'} "
                 f"({iv.method}, {ci})")
        sensitivity = (SensitivityFit(label, iv, "the usual inverse-variance model on the "
                                      "transformed scale (0.5 added to zero cells)"),)
        alternatives += (from_pool(iv, "iv_sensitivity", label),)
    appraisal = None
    if studies is not None:
        from .appraisal.assess import appraise

        appraisal = appraise(AnalysisFit(a, data, main, common), studies, fit, lead.lead)
        rob = appraisal.sensitivity
        if rob is not None and rob.result is not None:
            label = (f"Without studies at serious or critical risk of bias "
                     f"({pool_label(rob.result)})")
            sensitivity += (SensitivityFit(label, rob.result,
                                           f"removed: {', '.join(rob.dropped)}"),)
            alternatives += (from_pool(rob.result, "rob_sensitivity", label),)
    rounded = rounded_count_variants(data) if main is not None else None
    for end, variant in zip(("low", "high"), rounded or ()):
        # counts derived from rounded percentages (events_range), at each end of their range
        res = fit(variant.contributions)
        label = (f"Counts from rounded percentages at the {end} end of their range "
                 f"({pool_label(res)})")
        sensitivity += (SensitivityFit(label, res, "events_range in the study files"),)
        alternatives += (from_pool(res, f"rounded_counts_{end}", label),)
    return AnalysisFit(a, data, main, common, tuple(subgroups), sub_test, lead.lead,
                       alternatives, lead.decision, sensitivity, appraisal,
                       bayes=lead.bayes)
