"""Effect sizes on the analysis scale (the escalc step), and their back-transformations.

Stateless functions on numpy arrays. Each returns an :class:`EffectSizes`
holding ``yi`` and ``vi`` for every input study, ``nan`` for a study that
cannot contribute, with the reason in ``excluded``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from .measures import backtransform, ipft_harmonic  # noqa: F401  (public API)

BINARY_MEASURES = ("OR", "RR", "RD")
#: per-study Peto log odds ratios, used for the studies of a Peto analysis
PETO = "PETO"
PROPORTION_MEASURES = ("PR", "PLO", "PAS", "PFT")
ZERO_RULES = ("only0", "all", "if0all", "none")


@dataclass(frozen=True)
class ZeroCellRule:
    """How to treat zero cells before computing log OR / log RR / RD / proportions.

    ``to="only0"`` adds ``add`` to every cell of a study that has a zero cell
    (metafor's and RevMan's default), ``"all"`` to every study, ``"none"``
    never (a zero-cell study then has no finite log OR and is excluded).
    ``"if0all"`` to every study when any study has a zero cell.
    ``drop_double_zero`` excludes studies with no events (or no non-events)
    in either group from OR and RR; they carry no information on a ratio scale
    (Sweeting, Sutton & Lambert 2004). RD keeps them.
    """

    add: float = 0.5
    to: str = "only0"
    drop_double_zero: bool = True

    def __post_init__(self) -> None:
        if self.to not in ZERO_RULES:
            raise ValueError(f"zero-cell rule 'to' must be one of {ZERO_RULES}; got {self.to!r}")
        if not np.isfinite(self.add) or self.add < 0:
            raise ValueError(f"zero-cell increment must be a non-negative number; got {self.add}")


@dataclass
class EffectSizes:
    """Per-study effect sizes: analysis-scale ``yi``, sampling variance ``vi``."""

    measure: str
    yi: np.ndarray
    vi: np.ndarray
    excluded: dict[int, str] = field(default_factory=dict)
    ni: np.ndarray | None = None  # sample sizes, for the PFT back-transformation

    @property
    def usable(self) -> np.ndarray:
        return np.isfinite(self.yi) & np.isfinite(self.vi)


def _bump(rule: ZeroCellRule, has_zero: np.ndarray) -> np.ndarray:
    """Which studies get the continuity increment under the rule."""
    if rule.to == "all" or (rule.to == "if0all" and has_zero.any()):
        return np.ones(has_zero.shape, dtype=bool)
    if rule.to == "only0":
        return has_zero.copy()
    return np.zeros(has_zero.shape, dtype=bool)


def _as_float(a) -> np.ndarray:
    return np.asarray(a, dtype=float)


def binary(event_e, n_e, event_c, n_c, measure: str, rule: ZeroCellRule = ZeroCellRule()
           ) -> EffectSizes:
    """Log odds ratio, log risk ratio or risk difference from two-group counts.

    Formulas as in Borenstein et al., Introduction to Meta-Analysis (2009),
    ch. 5, and metafor's escalc (Viechtbauer 2010):
    log OR = ln(a·d / b·c), v = 1/a + 1/b + 1/c + 1/d;
    log RR = ln[(a/n1)/(c/n2)], v = 1/a − 1/n1 + 1/c − 1/n2;
    RD = a/n1 − c/n2, v = p1(1−p1)/n1 + p2(1−p2)/n2.
    """
    measure = measure.upper()
    if measure not in BINARY_MEASURES + (PETO,):
        raise ValueError(f"measure must be one of {BINARY_MEASURES}; got {measure!r}")
    a, n1, c, n2 = map(_as_float, (event_e, n_e, event_c, n_c))
    b, d = n1 - a, n2 - c
    k = a.size
    excluded: dict[int, str] = {}
    double_zero = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    if measure in ("OR", "RR", PETO) and rule.drop_double_zero:
        for i in np.flatnonzero(double_zero):
            what = "no events" if a[i] == 0 and c[i] == 0 else "no non-events"
            excluded[int(i)] = f"{what} in either group: no information on the {measure} scale"
    has_zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if measure in ("OR", "RR", PETO) and rule.drop_double_zero:
        has_zero &= ~double_zero
    bump = _bump(rule, has_zero)
    if measure in ("OR", "RR", PETO) and rule.drop_double_zero:
        bump &= ~double_zero
    inc = np.where(bump, rule.add, 0.0)
    a2, b2, c2, d2 = a + inc, b + inc, c + inc, d + inc
    n1a, n2a = a2 + b2, c2 + d2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            yi = np.log(a2 * d2 / (b2 * c2))
            vi = 1 / a2 + 1 / b2 + 1 / c2 + 1 / d2
        elif measure == PETO:
            # Yusuf et al. 1985: (O − E)/V with V the hypergeometric variance
            nt = n1a + n2a
            e = (a2 + c2) * n1a / nt
            v_h = (a2 + c2) * (b2 + d2) * (n1a / nt) * (n2a / nt) / (nt - 1)
            yi = (a2 - e) / v_h
            vi = 1 / v_h
        elif measure == "RR":
            yi = np.log((a2 / n1a) / (c2 / n2a))
            vi = 1 / a2 - 1 / n1a + 1 / c2 - 1 / n2a
        else:
            p1, p2 = a2 / n1a, c2 / n2a
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1a + p2 * (1 - p2) / n2a
    for i in excluded:
        yi[i] = vi[i] = np.nan
    for i in range(k):
        if i in excluded:
            continue
        if not (np.isfinite(yi[i]) and np.isfinite(vi[i])):
            excluded[i] = "a zero cell with no continuity correction (zero-cell rule 'none')"
            yi[i] = vi[i] = np.nan
        elif vi[i] <= 0:
            excluded[i] = "sampling variance is zero (all or no events in both groups)"
            yi[i] = vi[i] = np.nan
    return EffectSizes(measure, yi, vi, excluded)


def proportion(events, n, measure: str, rule: ZeroCellRule = ZeroCellRule()) -> EffectSizes:
    """Single-group proportions: raw (PR), logit (PLO), arcsine (PAS), Freeman–Tukey (PFT).

    PR: p, v = p(1−p)/n.  PLO: ln[p/(1−p)], v = 1/(np) + 1/(n(1−p)).
    PAS: asin√p, v = 1/(4n).  PFT (Freeman & Tukey 1950; Miller 1978):
    t = ½[asin√(x/(n+1)) + asin√((x+1)/(n+1))], v = 1/(4n+2).
    PR and PLO add ``rule.add`` to events and non-events when x = 0 or x = n
    (under ``to="only0"``); PAS and PFT need no correction.
    """
    measure = measure.upper()
    if measure not in PROPORTION_MEASURES:
        raise ValueError(f"measure must be one of {PROPORTION_MEASURES}; got {measure!r}")
    x, ni = _as_float(events), _as_float(n)
    k = x.size
    if measure in ("PR", "PLO"):
        bump = _bump(rule, (x == 0) | (x == ni))
        inc = np.where(bump, rule.add, 0.0)
        xa, na = x + inc, ni + 2 * inc
        p = xa / na
        with np.errstate(divide="ignore", invalid="ignore"):
            if measure == "PR":
                yi = p
                vi = p * (1 - p) / na
            else:
                yi = np.log(p / (1 - p))
                vi = 1 / (na * p) + 1 / (na * (1 - p))
    elif measure == "PAS":
        yi = np.arcsin(np.sqrt(x / ni))
        vi = 1 / (4 * ni)
    else:
        yi = 0.5 * (np.arcsin(np.sqrt(x / (ni + 1))) + np.arcsin(np.sqrt((x + 1) / (ni + 1))))
        vi = 1 / (4 * ni + 2)
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    excluded: dict[int, str] = {}
    for i in range(k):
        if not (np.isfinite(yi[i]) and np.isfinite(vi[i])) or vi[i] <= 0:
            reason = ("sampling variance is zero (0 or all events, no continuity correction)"
                      if measure in ("PR", "PLO") else "undefined effect size")
            excluded[i] = reason
            yi[i] = vi[i] = np.nan
    return EffectSizes(measure, yi, vi, excluded, ni=ni)


def ratio_from_ci(estimate, lower, upper, level: float = 0.95) -> EffectSizes:
    """A reported ratio (HR, OR, RR) and its CI on the log scale.

    yi = ln(estimate); SE = (ln U − ln L) / (2·z), z = Φ⁻¹(½ + level/2)
    (Cochrane Handbook §6.3.2; Altman & Bland 2011).
    """
    est, lo, hi = map(_as_float, (estimate, lower, upper))
    z = norm.ppf(0.5 + np.asarray(level, float) / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        yi = np.log(est)
        se = (np.log(hi) - np.log(lo)) / (2 * z)
    vi = se**2
    excluded: dict[int, str] = {}
    for i in range(est.size):
        if not (est[i] > 0 and lo[i] > 0 and hi[i] > lo[i]):
            excluded[i] = "ratio or CI limits not positive, or CI reversed"
            yi[i] = vi[i] = np.nan
    return EffectSizes("RATIO", yi, vi, excluded)


def ratio_from_p(estimate, p) -> EffectSizes:
    """A ratio with a two-sided p-value but no CI: SE = |ln est| / Φ⁻¹(1 − p/2).

    Cochrane Handbook §6.3.2 (obtaining SEs from P values). Undefined when the
    estimate is 1 or p = 1 (then the SE cannot be recovered).
    """
    est, pv = _as_float(estimate), _as_float(p)
    yi = np.log(est)
    z = norm.isf(pv / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.abs(yi) / z
    vi = se**2
    excluded = {
        i: "SE cannot be recovered from p when the estimate is 1 or p = 1"
        for i in range(est.size)
        if not (np.isfinite(vi[i]) and vi[i] > 0)
    }
    for i in excluded:
        yi[i] = vi[i] = np.nan
    return EffectSizes("RATIO", yi, vi, excluded)


def reported_ratios(estimate, lower, upper, level, p) -> EffectSizes:
    """Reported ratios (HR, OR, RR) on the log scale: from the CI where one is given
    (:func:`ratio_from_ci`), else from the two-sided p-value (:func:`ratio_from_p`).

    ``lower``/``upper`` are None (or nan) for a ratio reported with a p-value only;
    ``level`` and ``p`` are per study.
    """
    est = _as_float(estimate)
    has_ci = np.array([lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi)
                       for lo, hi in zip(lower, upper)], dtype=bool)
    lo = np.array([x if ok else np.nan for x, ok in zip(lower, has_ci)], dtype=float)
    hi = np.array([x if ok else np.nan for x, ok in zip(upper, has_ci)], dtype=float)
    from_ci = ratio_from_ci(est, lo, hi, [lv if lv is not None else 0.95 for lv in level])
    pv = np.array([float(x) if not ok and x is not None else np.nan for x, ok in zip(p, has_ci)])
    from_p = ratio_from_p(est, pv)
    yi = np.where(has_ci, from_ci.yi, from_p.yi)
    vi = np.where(has_ci, from_ci.vi, from_p.vi)
    excluded = {i: (from_ci.excluded if has_ci[i] else from_p.excluded)[i]
                for i in range(est.size)
                if i in (from_ci.excluded if has_ci[i] else from_p.excluded)}
    return EffectSizes("RATIO", yi, vi, excluded)


def generic(yi, vi=None, sei=None) -> EffectSizes:
    """Effect sizes supplied directly, with variances or standard errors."""
    y = _as_float(yi)
    if vi is None and sei is None:
        raise ValueError("give vi or sei")
    v = _as_float(vi) if vi is not None else _as_float(sei) ** 2
    excluded = {
        i: "yi or its variance is missing, or the variance is not positive"
        for i in range(y.size)
        if not (np.isfinite(y[i]) and np.isfinite(v[i]) and v[i] > 0)
    }
    y, v = y.copy(), v.copy()
    for i in excluded:
        y[i] = v[i] = np.nan
    return EffectSizes("GEN", y, v, excluded)


# --- back-transformations: the measure registry's (synthesis.measures), re-exported ---
