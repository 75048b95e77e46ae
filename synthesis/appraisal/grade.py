"""GRADE certainty of evidence for one pooled comparison, from plain typed inputs.

Each of the five GRADE domains gets a *suggestion* computed by a stated rule,
with its reason in words and numbers; the reviewer may override any domain in
the plan (with a required justification), and the rating uses the override
while the table shows both.

Rules (the thresholds come from the plan, :class:`Thresholds`):

* start: high (4) for randomised evidence, low (2) for non-randomised
  (Guyatt et al. 2011, J Clin Epidemiol 64:401, "GRADE guidelines 3").
* risk of bias: the weight share of studies whose overall judgement is serious
  or critical (ROBINS-I), high or very high (ROBINS-E), high (RoB 2);
  serious if that share >= ``rob_share``, very serious if the share at
  critical/very high alone is >= ``rob_share`` (Guyatt et al. 2011, J Clin
  Epidemiol 64:407, "GRADE guidelines 4": judge by the studies that carry the
  weight). Studies with no assessment count as serious (unknown is not low).
* inconsistency (Guyatt et al. 2011, J Clin Epidemiol 64:1294, "GRADE
  guidelines 7"): serious if I²'s lower confidence limit >= ``i2_serious``,
  very serious if >= ``i2_very_serious``; serious if τ > ``tau_max`` (when the
  plan gives one); with τ > 0 and k >= 3, serious if the prediction interval
  crosses the null while the CI does not, very serious if it reaches both
  decision thresholds. An I² whose CI spans ``i2_serious`` is reported as
  uncertain, not downgraded.
* indirectness: what the plan declares (the most serious declaration).
* imprecision (Guyatt et al. 2011, J Clin Epidemiol 64:1283, "GRADE
  guidelines 6"): serious if the CI includes the null or crosses one decision
  threshold, very serious if it reaches both decision thresholds; for binary
  outcomes also serious if the total sample size is below the optimal
  information size (:func:`optimal_information_size`).
* publication bias: only at k >= ``min_k_small_study`` (10): serious if the
  small-study test (Egger, or Peters for binary outcomes) has p <
  ``small_study_alpha``; otherwise "not assessed (k < 10)".
* large effect (non-randomised only, no domain downgraded; Guyatt et al. 2011,
  J Clin Epidemiol 64:1311, "GRADE guidelines 9"): up one level if the ratio
  estimate is beyond ``large`` (2, or 1/2) with a CI excluding the null, two if
  beyond ``very_large`` (5) with the CI limit nearer the null beyond ``large``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal


DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DOMAIN_LABELS = {
    "risk_of_bias": "Risk of bias",
    "inconsistency": "Inconsistency",
    "indirectness": "Indirectness",
    "imprecision": "Imprecision",
    "publication_bias": "Publication bias",
    "large_effect": "Large effect",
}
LEVEL_WORDS = {0: "not serious", 1: "serious", 2: "very serious"}
CERTAINTY = {4: "high", 3: "moderate", 2: "low", 1: "very low"}
SYMBOLS = {4: "⊕⊕⊕⊕", 3: "⊕⊕⊕◯", 2: "⊕⊕◯◯", 1: "⊕◯◯◯"}


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds of one analysis (ratio scale for ratio measures)."""

    null: float = 1.0
    benefit: float | None = None   # e.g. 0.8: a ratio below it is an important benefit
    harm: float | None = None      # e.g. 1.25: a ratio above it is an important harm
    rob_share: float = 0.5
    i2_serious: float = 50.0
    i2_very_serious: float = 75.0
    tau_max: float | None = None   # on the analysis scale (log ratio)
    ois_rrr: float = 0.25
    ois_alpha: float = 0.05
    ois_power: float = 0.80
    large: float = 2.0
    very_large: float = 5.0
    min_k_small_study: int = 10
    small_study_alpha: float = 0.10


@dataclass(frozen=True)
class StudyRob:
    """One study's weight in the fit and its overall risk-of-bias judgement."""

    study: str
    weight: float                 # any scale; shares are taken over the analysis
    severity: int | None          # 0 low .. 3 critical; None: no information or not assessed
    judgement: str                # the tool's word, or "not assessed"


@dataclass(frozen=True)
class Declared:
    """A plan-declared indirectness concern."""

    aspect: str                   # population | intervention | comparator | outcome
    level: int                    # 1 serious, 2 very serious
    reason: str


@dataclass(frozen=True)
class GradeInputs:
    design: Literal["randomised", "non-randomised"]
    ratio: bool                   # estimates below are ratios (OR, RR, HR); else differences
    estimate: float
    ci_lower: float
    ci_upper: float
    k: int
    studies: tuple[StudyRob, ...]
    pi_lower: float | None = None
    pi_upper: float | None = None
    tau: float | None = None
    i2: float | None = None       # percent
    i2_lower: float | None = None
    i2_upper: float | None = None
    binary: bool = False
    total_n: int | None = None
    comparator_risk: float | None = None
    small_study_p: float | None = None
    small_study_test: str = "Egger"
    indirectness: tuple[Declared, ...] = ()
    interval: str = "CI"          # "CrI" when the estimate is a Bayesian posterior


@dataclass(frozen=True)
class Override:
    level: int
    justification: str


@dataclass(frozen=True)
class DomainRating:
    domain: str
    suggested: int                # levels down (0, 1, 2); for large_effect, levels up
    reason: str
    override: Override | None = None

    @property
    def level(self) -> int:
        return self.override.level if self.override is not None else self.suggested

    def to_dict(self) -> dict[str, Any]:
        d = {"domain": self.domain, "suggested": self.suggested, "level": self.level,
             "reason": self.reason}
        if self.override is not None:
            d["override"] = {"level": self.override.level,
                             "justification": self.override.justification}
        return d


@dataclass(frozen=True)
class Certainty:
    start: int
    domains: tuple[DomainRating, ...]
    upgrade: DomainRating

    @property
    def score(self) -> int:
        down = sum(d.level for d in self.domains)
        return max(1, min(4, self.start - down + self.upgrade.level))

    @property
    def label(self) -> str:
        return CERTAINTY[self.score]

    @property
    def symbols(self) -> str:
        return SYMBOLS[self.score]

    def domain(self, name: str) -> DomainRating:
        return next(d for d in (*self.domains, self.upgrade) if d.domain == name)

    def to_dict(self) -> dict[str, Any]:
        return {"start": CERTAINTY[self.start], "certainty": self.label, "symbols": self.symbols,
                "domains": [d.to_dict() for d in self.domains],
                "large_effect": self.upgrade.to_dict()}


def _g(x: float) -> str:
    return f"{x:.2f}"


def _crosses(lo: float, hi: float, value: float) -> bool:
    return lo < value < hi or lo == value or hi == value


def rate_risk_of_bias(x: GradeInputs, t: Thresholds) -> DomainRating:
    total = sum(s.weight for s in x.studies)
    if total <= 0:
        return DomainRating("risk_of_bias", 0, "no study weights")
    serious = [s for s in x.studies if s.severity is None or s.severity >= 2]
    critical = [s for s in x.studies if s.severity is not None and s.severity >= 3]
    share = sum(s.weight for s in serious) / total
    share_crit = sum(s.weight for s in critical) / total
    listing = "; ".join(f"{s.study} {s.judgement} ({100 * s.weight / total:.0f}%)"
                        for s in x.studies)
    if share_crit >= t.rob_share:
        lvl, why = 2, (f"{100 * share_crit:.0f}% of the weight is at critical/very high risk "
                       f"(≥ {100 * t.rob_share:.0f}%)")
    elif share >= t.rob_share:
        unassessed = " or not assessed" if any(s.severity is None for s in serious) else ""
        lvl, why = 1, (f"{100 * share:.0f}% of the weight is at serious or critical "
                       f"risk{unassessed} (≥ {100 * t.rob_share:.0f}%)")
    else:
        lvl, why = 0, (f"{100 * share:.0f}% of the weight is at serious or critical risk "
                       f"(< {100 * t.rob_share:.0f}%)")
    return DomainRating("risk_of_bias", lvl, f"{why}: {listing}")


def rate_inconsistency(x: GradeInputs, t: Thresholds) -> DomainRating:
    if x.k < 2:
        return DomainRating("inconsistency", 0, "not applicable (one study)")
    lvl, why = 0, []
    if x.i2 is not None and x.i2_lower is not None and x.i2_upper is not None:
        i2 = f"I² = {x.i2:.0f}% (CI {x.i2_lower:.0f}–{x.i2_upper:.0f}%)"
        if x.i2_lower >= t.i2_very_serious:
            lvl = 2
            why.append(f"{i2}: even its lower limit is ≥ {t.i2_very_serious:.0f}%")
        elif x.i2_lower >= t.i2_serious:
            lvl = 1
            why.append(f"{i2}: even its lower limit is ≥ {t.i2_serious:.0f}%")
        elif x.i2_upper >= t.i2_serious:
            why.append(f"{i2}: uncertain, the CI spans {t.i2_serious:.0f}%")
        else:
            why.append(f"{i2}: below {t.i2_serious:.0f}% across its CI")
    if x.tau is not None and t.tau_max is not None:
        if x.tau > t.tau_max:
            lvl = max(lvl, 1)
            why.append(f"τ = {x.tau:.3f} > {t.tau_max:.3f} (plan)")
        else:
            why.append(f"τ = {x.tau:.3f} ≤ {t.tau_max:.3f} (plan)")
    if (x.pi_lower is not None and x.pi_upper is not None and x.tau is not None and x.tau > 0
            and x.k >= 3):
        pi = f"prediction interval {_g(x.pi_lower)}–{_g(x.pi_upper)}"
        both = (t.benefit is not None and t.harm is not None
                and _reaches_both(x.pi_lower, x.pi_upper, t))
        if both:
            lvl = 2
            why.append(f"{pi} reaches both decision thresholds ({_g(t.benefit)}, {_g(t.harm)})")
        elif (_crosses(x.pi_lower, x.pi_upper, t.null)
              and not _crosses(x.ci_lower, x.ci_upper, t.null)):
            lvl = max(lvl, 1)
            why.append(f"{pi} includes {_g(t.null)} while the CI does not")
        else:
            why.append(f"{pi} does not change the conclusion")
    elif x.tau is not None and x.tau == 0:
        why.append("τ² estimated at 0")
    if not why:
        why.append("no heterogeneity statistics")
    return DomainRating("inconsistency", lvl, "; ".join(why))


def _reaches_both(lo: float, hi: float, t: Thresholds) -> bool:
    assert t.benefit is not None and t.harm is not None
    low_t, high_t = sorted((t.benefit, t.harm))
    return lo <= low_t and hi >= high_t


def rate_indirectness(x: GradeInputs) -> DomainRating:
    if not x.indirectness:
        return DomainRating("indirectness", 0, "no indirectness declared in the plan")
    lvl = max(d.level for d in x.indirectness)
    why = "; ".join(f"{d.aspect}: {d.reason} ({LEVEL_WORDS[d.level]})" for d in x.indirectness)
    return DomainRating("indirectness", lvl, why)


def optimal_information_size(p0: float, rrr: float = 0.25, alpha: float = 0.05,
                             power: float = 0.80) -> int:
    """Total sample size (both arms) to detect a relative risk reduction ``rrr`` from ``p0``.

    The conventional two-proportion sample size (Guyatt et al. 2011, J Clin
    Epidemiol 64:1283, "GRADE guidelines 6", section 6.1; Fleiss, Statistical
    Methods for Rates and Proportions, eq. 4.14 without continuity correction):
    n per arm = (z_{1-α/2} + z_{1-β})² [p0(1-p0) + p1(1-p1)] / (p0 - p1)², p1 = p0(1-rrr);
    the total is 2n rounded up.
    """
    from scipy.stats import norm  # here, not at import: the CLI's parser imports the plan

    p1 = p0 * (1 - rrr)
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    n = z * z * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2
    return 2 * math.ceil(n)


def rate_imprecision(x: GradeInputs, t: Thresholds) -> DomainRating:
    ci = f"{x.interval} {_g(x.ci_lower)}–{_g(x.ci_upper)}"
    if t.benefit is not None and t.harm is not None and _reaches_both(x.ci_lower, x.ci_upper, t):
        return DomainRating("imprecision", 2, f"{ci} includes both an important benefit "
                            f"({_g(t.benefit)}) and an important harm ({_g(t.harm)})")
    lvl, why = 0, []
    if _crosses(x.ci_lower, x.ci_upper, t.null):
        lvl = 1
        why.append(f"{ci} includes the null ({_g(t.null)})")
    else:
        crossed = [v for v in (t.benefit, t.harm) if v is not None
                   and _crosses(x.ci_lower, x.ci_upper, v)]
        if crossed:
            lvl = 1
            why.append(f"{ci} crosses the decision threshold {_g(crossed[0])}")
        else:
            why.append(f"{ci} excludes the null and the plan's thresholds")
    if x.binary and x.comparator_risk is not None and x.total_n is not None \
            and 0 < x.comparator_risk < 1:
        ois = optimal_information_size(x.comparator_risk, t.ois_rrr, t.ois_alpha, t.ois_power)
        if x.total_n < ois:
            lvl = max(lvl, 1)
            why.append(f"{x.total_n} participants < optimal information size {ois} "
                       f"(RRR {100 * t.ois_rrr:.0f}%, comparator risk {x.comparator_risk:.3f})")
        else:
            why.append(f"{x.total_n} participants ≥ optimal information size {ois}")
    return DomainRating("imprecision", lvl, "; ".join(why))


def rate_publication_bias(x: GradeInputs, t: Thresholds) -> DomainRating:
    if x.k < t.min_k_small_study:
        return DomainRating("publication_bias", 0,
                            f"not assessed (k < {t.min_k_small_study})")
    if x.small_study_p is None:
        return DomainRating("publication_bias", 0, "not assessed (no small-study test)")
    if x.small_study_p < t.small_study_alpha:
        return DomainRating("publication_bias", 1,
                            f"{x.small_study_test} test p = {x.small_study_p:.3f} "
                            f"< {t.small_study_alpha}: small-study effects suspected")
    return DomainRating("publication_bias", 0,
                        f"{x.small_study_test} test p = {x.small_study_p:.3f} "
                        f"≥ {t.small_study_alpha}")


def rate_large_effect(x: GradeInputs, t: Thresholds, downgraded: bool) -> DomainRating:
    if x.design == "randomised":
        return DomainRating("large_effect", 0, "not considered (randomised evidence)")
    if not x.ratio:
        return DomainRating("large_effect", 0, "not considered (not a ratio measure)")
    if downgraded:
        return DomainRating("large_effect", 0, "not considered (a domain is downgraded)")

    def fold(v: float) -> float:  # distance from the null as a ratio >= 1
        return v if v >= 1 else 1 / v

    est = fold(x.estimate)
    if _crosses(x.ci_lower, x.ci_upper, t.null):
        return DomainRating("large_effect", 0, "CI includes the null")
    near = min(fold(x.ci_lower), fold(x.ci_upper))
    if est >= t.very_large and near >= t.large:
        return DomainRating("large_effect", 2, f"estimate {_g(x.estimate)} beyond "
                            f"{_g(t.very_large)}-fold with the CI beyond {_g(t.large)}-fold")
    if est >= t.large:
        return DomainRating("large_effect", 1,
                            f"estimate {_g(x.estimate)} beyond {_g(t.large)}-fold")
    return DomainRating("large_effect", 0, f"estimate {_g(x.estimate)} within {_g(t.large)}-fold")


def grade(x: GradeInputs, t: Thresholds = Thresholds(),
          overrides: dict[str, Override] | None = None) -> Certainty:
    """Rate the certainty of one comparison: suggestions, overrides, final level."""
    overrides = overrides or {}
    domains = (rate_risk_of_bias(x, t), rate_inconsistency(x, t), rate_indirectness(x),
               rate_imprecision(x, t), rate_publication_bias(x, t))
    domains = tuple(replace(d, override=overrides.get(d.domain)) for d in domains)
    up = rate_large_effect(x, t, downgraded=any(d.level > 0 for d in domains))
    up = replace(up, override=overrides.get("large_effect"))
    return Certainty(start=4 if x.design == "randomised" else 2, domains=domains, upgrade=up)


__all__ = ["DOMAINS", "DOMAIN_LABELS", "LEVEL_WORDS", "Thresholds", "StudyRob", "Declared",
           "GradeInputs", "Override", "DomainRating", "Certainty", "grade",
           "optimal_information_size"]
