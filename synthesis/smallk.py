"""The lead estimate of an analysis and its labelled alternatives (small-k inference).

With 2–4 studies τ cannot be estimated from the data, and the estimates a
reader could be shown differ a lot: for the two GC → PFS hazard ratios of the
shipped review, REML with the ad hoc HKSJ interval (t with 1 df) gives
HR 0.52 [0.01, 29.01], the common-effect model 0.53 [0.30, 0.91], and the
Bayesian random-effects model with a half-normal(0.5) prior on τ
0.52 [0.22, 1.21]. Every fit of such an analysis therefore shows all three,
side by side and labelled, and one of them, chosen by the documented rule in
:func:`choose_lead` (or by the plan's ``model.primary``), is the *lead*
estimate that goes into ``results.csv`` and the overview.

Sources: Bender et al. (2018, Res Synth Methods 9:382–392) on evidence
synthesis with very few (2–4) studies: Knapp–Hartung (HKSJ) intervals account
for the uncertainty in τ² correctly but have very low power and can be
uninformative; a common-effect model is adequate only where a common true
effect can be assumed; Bayesian random effects with a weakly informative
prior on τ are an alternative. Friede, Röver, Wandel & Neuenschwander (2017,
Biom J 59:658–671) show that the half-normal(0.5) or (1) prior on τ for log
odds ratios gives intervals with close to nominal coverage and a useful length
for two studies; Röver et al. (2021, Res Synth Methods 12:448–474) motivate
the scale. Other labelled fits (a GLMM, a risk-of-bias sensitivity analysis)
join ``alternatives`` with their own ``method`` key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from .effects import backtransform
from .priors import resolve_tau_prior

Primary = Literal["auto", "random", "common", "bayes"]
PRIMARY_CHOICES = ("auto", "random", "common", "bayes")
#: the "very few studies" range of Bender et al. (2018)
SMALL_K = (2, 4)
CI_TEXT = {"wald": "Wald CI", "hksj": "HKSJ CI", "hksj-adhoc": "HKSJ CI, ad hoc (never narrower "
           "than Wald)"}
CI_SHORT = {"wald": "Wald", "hksj": "HKSJ", "hksj-adhoc": "HKSJ ad hoc"}


@dataclass(frozen=True)
class LeadDecision:
    """Which estimate leads: ``bayes``, ``random``, ``common``, ``single`` (k = 1) or ``none``."""

    method: str
    reason: str


def choose_lead(k: int, primary: str = "auto", bayes_available: bool = True,
                plan_random: bool = True) -> LeadDecision:
    """The lead-estimate rule (docs/methods.md, "Very few studies").

    ``k``: studies pooled; ``primary``: the plan's ``model.primary``;
    ``bayes_available``: whether a τ prior exists for the measure (the plan's,
    or the default for log ratios and logits); ``plan_random``: whether the
    plan's model is a random-effects one (False for FE, MH, Peto).

    * k = 0: no estimate; k = 1: the study's own estimate, nothing pooled.
    * ``primary: auto`` (the default): with 2–4 studies the Bayesian
      random-effects estimate where a τ prior exists, else the plan's model;
      with 5 or more, the plan's model. A plan that chose a common-effect
      model keeps it.
    * ``primary: random | common | bayes``: that estimate for every k ≥ 2
      (``bayes`` falls back to the plan's model, saying so, where no τ prior
      exists for the measure).
    """
    if primary not in PRIMARY_CHOICES:
        raise ValueError(f"primary must be one of {', '.join(PRIMARY_CHOICES)}; got {primary!r}")
    if k <= 0:
        return LeadDecision("none", "no study reports a poolable estimate")
    if k == 1:
        return LeadDecision("single", "a single study: its own estimate, nothing pooled")
    plan_model = "random" if plan_random else "common"
    if primary == "bayes" or (primary == "auto" and plan_random and k <= SMALL_K[1]):
        if bayes_available:
            why = ("the plan names the Bayesian estimate as primary" if primary == "bayes" else
                   f"k = {k} (2–4 studies): τ cannot be estimated from so few studies and the "
                   f"HKSJ interval has {k - 1} df; the Bayesian random-effects model with a "
                   f"weakly informative prior on τ leads (Bender et al. 2018; Friede et al. 2017)")
            return LeadDecision("bayes", why)
        return LeadDecision(plan_model, f"k = {k}: no τ prior for this measure (set "
                            f"model.tau_prior), so the plan's model leads")
    if primary in ("random", "common"):
        return LeadDecision(primary, f"the plan names the {primary}-effects estimate as primary")
    if not plan_random:
        return LeadDecision("common", "the plan's model is a common-effect model")
    return LeadDecision("random", f"k = {k} (5 or more studies): the plan's random-effects model")


def needs_alternatives(k: int) -> bool:
    """Whether a fit with ``k`` studies shows common, random and Bayesian estimates side by side."""
    return SMALL_K[0] <= k <= SMALL_K[1]


@dataclass(frozen=True)
class LabelledEstimate:
    """One estimate of an analysis, on the reader's scale (HR, OR, proportion), with its label.

    ``method`` is a key (``random``, ``common``, ``bayes``, ``single``; other
    modules add e.g. ``glmm``); ``label`` is what a reader sees; ``interval``
    is ``CI`` or ``CrI`` (credible interval); ``tau`` is the between-study sd
    on the analysis scale (REML estimate, or posterior median)."""

    method: str
    label: str
    k: int
    estimate: float
    ci_lb: float
    ci_ub: float
    interval: str = "CI"
    level: float = 0.95
    tau: float | None = None
    note: str = ""
    short: str = ""  # a label that fits a forest-plot row; ``label`` when empty

    @property
    def describe(self) -> str:
        """The ``lead_method`` text: label and interval, e.g. '…; 95% CrI'."""
        return f"{self.label}; {round(self.level * 100):g}% {self.interval}"

    def to_dict(self) -> dict[str, Any]:
        f = lambda x: None if x is None or not math.isfinite(x) else float(x)  # noqa: E731
        return {"method": self.method, "label": self.label, "k": self.k,
                "estimate": f(self.estimate), "ci_lb": f(self.ci_lb), "ci_ub": f(self.ci_ub),
                "interval": self.interval, "level": self.level, "tau": f(self.tau),
                "note": self.note, "short": self.short or self.label}


@dataclass(frozen=True)
class LeadEstimates:
    """The lead estimate (None where nothing could be estimated), the labelled alternatives
    shown beside it, the decision and, where it was fitted, the Bayesian posterior."""

    lead: LabelledEstimate | None
    alternatives: tuple[LabelledEstimate, ...]
    decision: LeadDecision
    bayes: Any = None  # synthesis.bayes.BayesPosterior

    def to_dict(self) -> dict[str, Any]:
        return {"lead": self.lead.to_dict() if self.lead else None,
                "alternatives": [a.to_dict() for a in self.alternatives],
                "rule": {"method": self.decision.method, "reason": self.decision.reason}}


def from_pool(result, method: str, label: str, short: str = "") -> LabelledEstimate:
    """A PoolResult as a LabelledEstimate (its back-transformed estimate and CI)."""
    bt = result.backtransformed()
    nan = float("nan")
    tau = math.sqrt(result.tau2) if result.settings.random and math.isfinite(result.tau2) else None
    return LabelledEstimate(method, label, result.k, bt["estimate"] or nan, bt["ci_lb"] or nan,
                            bt["ci_ub"] or nan, "CI", result.settings.level, tau, short=short)


def pool_label(result) -> str:
    """'Random effects (REML, HKSJ CI, ad hoc …)' or 'Common effect (MH)'."""
    s = result.settings
    if s.random:
        return f"Random effects ({s.method}, {CI_TEXT[s.ci_type]})"
    return f"Common effect ({'IV' if s.method == 'FE' else s.method})"


def pool_short(result) -> str:
    """The short form of :func:`pool_label` for a forest-plot row: 'Random effects, REML,
    HKSJ ad hoc' or 'Common effect, MH'."""
    s = result.settings
    if s.random:
        return f"Random effects, {s.method}, {CI_SHORT.get(s.ci_type, s.ci_type)}"
    return f"Common effect, {'IV' if s.method == 'FE' else s.method}"


def single_study(result, record, kind: str) -> LabelledEstimate:
    """k = 1: a ratio record's estimate and CI as printed; otherwise the study's own estimate
    and Wald CI from its counts (PoolResult's k = 1 result)."""
    level = result.settings.level
    if (kind == "ratio" and record is not None and record.ci_lower is not None
            and abs(record.ci_level - level) < 1e-12):
        return LabelledEstimate("single", "Single study, as reported", 1, record.estimate,
                                record.ci_lower, record.ci_upper, "CI", level,
                                short="Single study, as reported")
    return from_pool(result, "single", "Single study (its own estimate, not pooled)",
                     "Single study, not pooled")


def bayes_estimate(result, priors, label: str, level: float, short: str = ""):
    """Fit the Bayesian random-effects model to the studies a PoolResult pooled; the posterior
    and μ's median with its central credible interval on the reader's scale."""
    from .bayes import BayesPosterior

    ok = np.isfinite(result.weights) & np.isfinite(result.yi)
    post = BayesPosterior(result.yi[ok], result.vi[ok], priors, level)
    lo, hi = post.interval("mu")
    ni = result.ni[ok] if result.ni is not None else None
    est, lo, hi = (float(x) for x in backtransform(result.measure, [post.median("mu"), lo, hi], ni))
    return post, LabelledEstimate("bayes", label, int(ok.sum()), est, lo, hi, "CrI", level,
                                  post.median("tau"), short=short)


def lead_estimates(analysis, main, common, contributions) -> LeadEstimates:
    """The lead estimate and labelled alternatives of one analysis.

    ``main``: the plan's fit (PoolResult, or None when nothing could be
    pooled); ``common``: the common-effect fit or None (the pipeline fits it
    whenever :func:`needs_alternatives`); ``contributions``: the selected
    records (for a single study's printed CI)."""
    m = analysis.model
    k = main.k if main is not None else 0
    prior = resolve_tau_prior(m.tau_prior, analysis.measure)
    decision = choose_lead(k, m.primary, prior.priors is not None, main is not None
                           and main.settings.random)
    if decision.method == "none":
        return LeadEstimates(None, (), decision)
    if decision.method == "single":
        i = int(np.flatnonzero(np.isfinite(main.weights))[0])
        record = contributions[i].record if i < len(contributions) else None
        return LeadEstimates(single_study(main, record, analysis.select.kind), (), decision)
    found: dict[str, LabelledEstimate] = {}
    plan_key = "random" if main.settings.random else "common"
    found[plan_key] = from_pool(main, plan_key, pool_label(main), pool_short(main))
    if common is not None and "common" not in found:
        found["common"] = from_pool(common, "common", pool_label(common), pool_short(common))
    posterior = None
    if prior.priors is not None and (needs_alternatives(k) or decision.method == "bayes"):
        posterior, found["bayes"] = bayes_estimate(
            main, prior.priors, f"Bayesian random effects, {prior.label}", m.level,
            f"Bayesian RE, {prior.short}")
        if prior.note:
            found["bayes"] = replace(found["bayes"], note=prior.note)
    lead = found.pop(decision.method)
    order = [key for key in ("bayes", "random", "common") if key in found]
    return LeadEstimates(lead, tuple(found[key] for key in order), decision, posterior)
