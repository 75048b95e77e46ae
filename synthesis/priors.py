"""Priors for the heterogeneity τ of the Bayesian random-effects model, and how a plan names them.

Two kinds, chosen in the plan (``model.tau_prior``):

* ``half-normal`` with a scale: the weakly informative default. Scale 0.5 on
  log ratios (OR, RR, HR) follows Friede, Röver, Wandel & Neuenschwander
  (2017, Biom J 59(4):658–671, meta-analysis of two studies) and Röver et al.
  (2021, Res Synth Methods 12(4):448–474, section 4: half-normal(0.5) puts
  about 95% prior mass on τ < 1, "fairly high" heterogeneity on the log-ratio
  scale); scale 1.0 on logits (proportions), where the spread between cohorts
  is larger. Other scales (RD, raw or arcsine proportions) have no default.
* ``turner``: the empirical log-normal predictive distributions for τ² of
  Turner, Jackson, Wei, Thompson & Higgins (2015, Stat Med 34(6):984–998,
  Table IV), by outcome type and type of comparison, derived from 14,886
  meta-analyses of binary outcomes (log odds ratios) in the Cochrane Database
  of Systematic Reviews. ``any`` is their marginal prior (p. 993: log τ² ~
  N(−2.56, 1.74²)). The table below was checked number by number against
  the transcription in R's bayesmeta (``TurnerEtAlParameters``, v3.4).
  If log τ² ~ N(μ, σ²) then log τ ~ N(μ/2, (σ/2)²) (bayesmeta's
  ``TurnerEtAlPrior``), which is the log-normal family of synthesis.bayes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .measures import RATIO as RATIO_MEASURES  # noqa: E402  (the measure registry's)
#: half-normal scale of the default τ prior, by measure (see the module docstring)
DEFAULT_HALF_NORMAL_SCALE: dict[str, float] = {**{m: 0.5 for m in RATIO_MEASURES}, "PLO": 1.0}

TURNER_OUTCOMES = (
    "all-cause mortality",
    "obstetric outcomes",
    "cause-specific mortality / major morbidity event / composite (mortality or morbidity)",
    "resource use / hospital stay / process",
    "surgical / device related success / failure",
    "withdrawals / drop-outs",
    "internal / structure-related outcomes",
    "general physical health indicators",
    "adverse events",
    "infection / onset of new disease",
    "signs / symptoms reflecting continuation / end of condition",
    "pain",
    "quality of life / functioning (dichotomized)",
    "mental health indicators",
    "biological markers (dichotomized)",
    "subjective outcomes (various)",
)
TURNER_COMPARISONS = (
    "pharmacological vs. placebo / control",
    "pharmacological vs. pharmacological",
    "non-pharmacological vs. placebo / control",
    "non-pharmacological vs. pharmacological",
    "non-pharmacological vs. non-pharmacological",
)
# Turner et al. 2015, Table IV: mean (μ) and sd (σ) of log τ²; rows as TURNER_OUTCOMES,
# columns as TURNER_COMPARISONS.
_TURNER_MU = (
    (-3.95, -4.18, -4.17, -2.92, -3.50),
    (-3.52, -3.75, -3.74, -2.49, -3.08),
    (-3.71, -3.95, -3.93, -2.68, -3.27),
    (-2.34, -2.58, -2.56, -1.31, -1.90),
    (-2.14, -2.37, -2.36, -1.11, -1.69),
    (-2.99, -3.23, -3.21, -1.96, -2.55),
    (-2.71, -2.94, -2.93, -1.67, -2.26),
    (-2.29, -2.53, -2.51, -1.26, -1.85),
    (-1.87, -2.10, -2.10, -0.84, -1.43),
    (-2.49, -2.73, -2.71, -1.46, -2.05),
    (-2.06, -2.29, -2.28, -1.03, -1.61),
    (-1.83, -2.06, -2.05, -0.80, -1.38),
    (-2.54, -2.78, -2.77, -1.51, -2.10),
    (-2.12, -2.35, -2.34, -1.09, -1.67),
    (-1.77, -2.00, -1.99, -0.74, -1.33),
    (-2.70, -2.93, -2.92, -1.67, -2.26),
)
_TURNER_SIGMA = (
    (1.34, 1.41, 1.55, 1.02, 1.26),
    (1.74, 1.79, 1.91, 1.50, 1.68),
    (1.74, 1.79, 1.91, 1.51, 1.68),
    (1.74, 1.79, 1.91, 1.50, 1.68),
    (1.74, 1.79, 1.91, 1.50, 1.68),
    (1.74, 1.79, 1.91, 1.51, 1.68),
    (1.74, 1.79, 1.92, 1.51, 1.68),
    (1.53, 1.58, 1.72, 1.25, 1.46),
    (1.52, 1.58, 1.71, 1.24, 1.45),
    (1.52, 1.58, 1.71, 1.24, 1.45),
    (1.51, 1.58, 1.71, 1.24, 1.45),
    (1.52, 1.58, 1.71, 1.25, 1.45),
    (1.54, 1.60, 1.73, 1.27, 1.47),
    (1.53, 1.60, 1.72, 1.27, 1.47),
    (1.52, 1.58, 1.71, 1.24, 1.45),
    (1.52, 1.58, 1.71, 1.25, 1.45),
)
TURNER_MARGINAL = (-2.56, 1.74)

TurnerOutcome = Literal[("any",) + TURNER_OUTCOMES]  # type: ignore[valid-type]
TurnerComparison = Literal[TURNER_COMPARISONS]  # type: ignore[valid-type]


def turner_log_tau2(outcome: str, comparison: str) -> tuple[float, float]:
    """(μ, σ) of the normal distribution of log τ² (Turner et al. 2015, Table IV).

    ``outcome="any"`` gives the marginal prior, whatever the comparison."""
    if outcome == "any":
        return TURNER_MARGINAL
    try:
        i, j = TURNER_OUTCOMES.index(outcome), TURNER_COMPARISONS.index(comparison)
    except ValueError:
        raise ValueError(f"no Turner et al. (2015) prior for outcome {outcome!r} and "
                         f"comparison {comparison!r}") from None
    return _TURNER_MU[i][j], _TURNER_SIGMA[i][j]


class TauPriorSpec(BaseModel):
    """``model.tau_prior`` in the plan: the prior on τ of the Bayesian random-effects fit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Literal["half-normal", "turner"] = "half-normal"
    scale: float | None = Field(None, gt=0, description="half-normal: its scale; default by measure "
                                "(0.5 log ratios, 1 logits)")
    outcome: TurnerOutcome | None = Field(None, description="turner: the outcome type (Table IV); "
                                          "'any' for the marginal prior")
    comparison: TurnerComparison = Field("pharmacological vs. placebo / control",
                                         description="turner: the type of comparison")

    @model_validator(mode="after")
    def _fits(self):
        if self.family == "turner" and self.outcome is None:
            raise ValueError("a turner prior needs 'outcome' (one of Turner et al. 2015's outcome "
                             "types, or 'any')")
        if self.family == "turner" and self.scale is not None:
            raise ValueError("'scale' is for the half-normal prior; a turner prior is set by "
                             "'outcome' and 'comparison'")
        if self.family == "half-normal" and self.outcome is not None:
            raise ValueError("'outcome' is for the turner prior; give the half-normal a 'scale'")
        return self


@dataclass(frozen=True)
class ResolvedPrior:
    """The priors to fit with (None: no default for this measure) and how to name them."""

    priors: Any  # synthesis.bayes.BayesPriors | None
    label: str  # "half-normal(0.5) prior on τ"
    note: str = ""  # why there is none, or where the prior comes from
    short: str = ""  # for a forest-plot row: "half-normal(0.5) τ prior"


def resolve_tau_prior(spec: TauPriorSpec | None, measure: str) -> ResolvedPrior:
    """The τ prior for an analysis on ``measure`` (the plan's, or the default)."""
    from .bayes import BayesPriors  # numpy/scipy only when a prior is needed, not on plan load

    spec = spec or TauPriorSpec()
    if spec.family == "turner":
        mu, sigma = turner_log_tau2(spec.outcome or "any", spec.comparison)
        note = ("Turner et al. 2015 (Stat Med 34:984), Table IV, "
                + ("marginal prior" if spec.outcome == "any"
                   else f"{spec.outcome}; {spec.comparison}")
                + f": log τ² ~ N({mu:g}, {sigma:g}²); derived for log odds ratios")
        if measure not in ("OR", "PETO"):
            note += f", applied here to {measure}"
        # log τ = ½ log τ², so τ is log-normal with median exp(μ/2) and log-sd σ/2
        return ResolvedPrior(BayesPriors(tau_scale=math.exp(mu / 2), tau_family="log-normal",
                                         tau_log_sd=sigma / 2),
                             f"log-normal τ² prior (Turner {mu:g}, {sigma:g}²)", note,
                             "Turner τ² prior")
    scale = spec.scale or DEFAULT_HALF_NORMAL_SCALE.get(measure)
    if scale is None:
        return ResolvedPrior(None, "", f"no default τ prior on the {measure} scale; "
                             f"set model.tau_prior in the plan")
    return ResolvedPrior(BayesPriors(tau_scale=scale), f"half-normal({scale:g}) prior on τ",
                         ("the weakly informative default (Friede et al. 2017; Röver et al. 2021)"
                          if measure != "PLO" else "carsynth's default for logits, wider than for "
                          "log ratios: event rates differ more between cohorts than effects do")
                         if spec.scale is None else "the plan's τ prior",
                         f"half-normal({scale:g}) τ prior")
