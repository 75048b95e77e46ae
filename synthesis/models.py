"""Meta-analytic models: inverse-variance common and random effects (batched), Mantel–Haenszel and Peto.

``fit_iv_batch`` is the one place where a summary estimate, its CI, the
heterogeneity statistics and the prediction interval are computed from yi and
vi; :func:`synthesis.api.pool` and :func:`synthesis.api.pool_batch` both call
it. The formulas follow metafor's rma.uni (Viechtbauer 2010, J Stat Softw
36(3)); the names of the sources are given at each step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import chi2, norm, t as t_dist

from .effects import ZeroCellRule, binary
from .estimators import (DEFAULT_MAXITER, DEFAULT_TOL, TAU2_METHODS, Batch, blockwise,
                         common_effect_sums, estimate_tau2, ksum, per_df, tau2_qprofile_ci)

from .constants import (ALL_METHODS, COMMON_METHODS, COUNT_METHODS, DEFAULTS,  # noqa: F401
                        GLMM_METHODS, PI_TYPES)


@dataclass(frozen=True)
class PoolSettings:
    """How to pool. Defaults are :data:`synthesis.constants.DEFAULTS` (docs/methods.md,
    "Defaults"): REML τ², the ad hoc Hartung–Knapp–Sidik–Jonkman CI, Q-profile CI for
    τ², and a t-based prediction interval with k − 2 df. ``hksj=False`` is the Wald
    CI whatever ``hksj_adhoc`` says.
    """

    measure: str = "GEN"
    method: str = DEFAULTS.method
    hksj: bool = DEFAULTS.hksj  # ignored for common-effect models (FE, MH, PETO)
    hksj_adhoc: bool = DEFAULTS.hksj_adhoc
    pi: str = DEFAULTS.pi
    level: float = DEFAULTS.level
    zero_cells: ZeroCellRule = field(default_factory=ZeroCellRule)
    tol: float = DEFAULT_TOL
    maxiter: int = DEFAULT_MAXITER

    def __post_init__(self) -> None:
        method = self.method.upper()
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "measure", self.measure.upper())
        if method not in ALL_METHODS:
            raise ValueError(f"method must be one of {', '.join(ALL_METHODS)}; got {self.method!r}")
        if self.pi not in PI_TYPES:
            raise ValueError(f"pi must be one of {', '.join(PI_TYPES)}; got {self.pi!r}")
        if not 0 < self.level < 1:
            raise ValueError(f"level must be between 0 and 1 (e.g. 0.95); got {self.level}")

    @property
    def random(self) -> bool:
        return self.method in TAU2_METHODS or self.method in GLMM_METHODS

    @property
    def ci_type(self) -> str:
        if not self.random or not self.hksj or self.method in GLMM_METHODS:  # GLMM: z, as metafor
            return "wald"
        return "hksj-adhoc" if self.hksj_adhoc else "hksj"


def q_based_i2_h2(q, df) -> tuple[np.ndarray, np.ndarray]:
    """Higgins & Thompson's I² = max(0, 100·(Q − df)/Q) and H² = Q/df (Stat Med 2002;
    21:1539–58, eqs. 6 and 10) from Cochran's Q; I² = 0 when Q = 0 and H² = 1 when df = 0.
    Scalars or arrays."""
    q, df = np.asarray(q, dtype=float), np.asarray(df, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        i2 = np.where((df > 0) & (q > 0), np.maximum(0.0, 100 * (q - df) / q), 0.0)
        h2 = np.where(df > 0, q / df, 1.0)
    return i2, h2


def subgroup_q(estimates, ses) -> tuple[float, int, float]:
    """Test for subgroup differences: Cochran's Q across the subgroup estimates with weights
    1/SE² (Borenstein et al. 2009, ch. 19, eq. 19.6; RevMan), its df and χ² p-value
    (p = 1 with a single subgroup)."""
    est, se = np.asarray(estimates, dtype=float), np.asarray(ses, dtype=float)
    w = 1 / se**2
    mu = (w * est).sum() / w.sum()
    qb = float((w * (est - mu) ** 2).sum())
    df = est.size - 1
    return qb, df, float(chi2.sf(qb, df)) if df > 0 else 1.0


def _fit_sums(b: Batch, tau2: np.ndarray) -> tuple[np.ndarray, ...]:
    """Σw, μ̂ and Σw(y−μ̂)² with w = 1/(v + τ²), in one pass over the studies."""
    with np.errstate(divide="ignore", invalid="ignore"):
        w = b.weights(tau2)
        sw, swy = b.wsums(w)
        mu = swy / sw
        r = b.m * (b.y - mu)
        return sw, mu, ksum(w * r * r)


def fit_iv_batch(y: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
                 settings: PoolSettings, weights: bool = True) -> dict[str, np.ndarray]:
    """Inverse-variance common- or random-effects fit of B meta-analyses at once.

    Returns a dict of (B,) arrays, and ``weights`` ((B, K) percentages) unless
    ``weights=False``.
    """
    b = Batch(y, v, mask)
    n = len(b.k)
    kf = b.k.astype(float)
    alpha = 1 - settings.level
    if settings.random:
        fit = estimate_tau2(b, settings.method, settings.tol, settings.maxiter)
        tau2, converged, iters = fit.tau2, fit.converged, fit.iterations
    else:
        tau2 = np.zeros(n)
        converged = np.ones(n, dtype=bool)
        iters = np.zeros(n, dtype=int)
    tau2 = np.where(b.k >= 1, tau2, np.nan)
    sw, mu, resid = blockwise(_fit_sums, b, np.nan_to_num(tau2))
    q, sw0, sw0sq, _ = common_effect_sums(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(1 / sw)
    df = np.full(n, np.nan)
    ci_type = settings.ci_type
    if ci_type != "wald":
        # Hartung & Knapp 2001; Sidik & Jonkman 2002: scale the variance by
        # s² = Σw(y−μ̂)²/(k−1) and use t with k−1 df. The ad hoc variant
        # (Röver, Knapp & Friede 2015) never lets s² fall below 1.
        with np.errstate(divide="ignore", invalid="ignore"):
            s2 = np.where(resid <= np.finfo(float).eps, 0.0, resid / (kf - 1))
        if ci_type == "hksj-adhoc":
            s2 = np.maximum(s2, 1.0)
        hk = b.k > 1
        se = np.where(hk, np.sqrt(s2) * se, se)
        df = np.where(hk, kf - 1, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = mu / se
    use_t = np.isfinite(df)
    crit = np.where(use_t, per_df(t_dist.isf, alpha / 2, np.where(use_t, df, 1.0)),
                    norm.isf(alpha / 2))
    pval = np.where(use_t, 2 * t_dist.sf(np.abs(stat), np.where(use_t, df, 1.0)),
                    2 * norm.sf(np.abs(stat)))
    ci_lb, ci_ub = mu - crit * se, mu + crit * se

    # heterogeneity (Cochran 1954; Higgins & Thompson 2002)
    q = np.maximum(0.0, q)
    q_df = np.maximum(kf - 1, 0)
    several = b.k > 1
    q = np.where(several, q, 0.0)
    q_pval = np.where(several, chi2.sf(q, np.where(several, q_df, 1.0)), 1.0)
    i2_ht, h2_q = q_based_i2_h2(q, q_df)
    with np.errstate(divide="ignore", invalid="ignore"):
        # "typical" within-study variance (Higgins & Thompson 2002, eq. 9)
        tr_p = sw0 - sw0sq / sw0
        vt = np.where(several, q_df / tr_p, np.nan)
        i2_tau2 = np.where(several, 100 * tau2 / (vt + tau2), 0.0)
        h2 = np.where(several, tau2 / vt + 1, 1.0)
    if not settings.random:
        i2_tau2 = np.full(n, np.nan)
        h2 = h2_q

    if settings.random:
        t_lb, t_ub, t_conv = tau2_qprofile_ci(b, settings.level, settings.tol, settings.maxiter)
        with np.errstate(divide="ignore", invalid="ignore"):
            i2_lb, i2_ub = 100 * t_lb / (vt + t_lb), 100 * t_ub / (vt + t_ub)
            h2_lb, h2_ub = t_lb / vt + 1, t_ub / vt + 1
        converged = converged & (t_conv | ~several)
    else:
        t_lb = t_ub = i2_lb = i2_ub = h2_lb = h2_ub = np.full(n, np.nan)

    # prediction interval (Higgins, Thompson & Spiegelhalter 2009; IntHout et al. 2016)
    pi_lb = pi_ub = np.full(n, np.nan)
    if settings.random:
        if settings.pi == "hts":
            pdf = kf - 2
        elif settings.pi == "k-1":
            pdf = kf - 1
        else:
            pdf = np.full(n, np.inf)
        ok = pdf >= 1
        pcrit = np.where(np.isinf(pdf), norm.isf(alpha / 2),
                         per_df(t_dist.isf, alpha / 2, np.where(ok, pdf, 1.0)))
        half = pcrit * np.sqrt(tau2 + se**2)
        pi_lb = np.where(ok & several, mu - half, np.nan)
        pi_ub = np.where(ok & several, mu + half, np.nan)

    if weights:
        with np.errstate(divide="ignore", invalid="ignore"):
            w = b.weights(np.nan_to_num(tau2))
            pct = np.where(b.mask, 100 * w / sw, np.nan).T
    else:
        pct = np.full((n, 0), np.nan)
    empty = b.k == 0
    out = {
        "k": b.k, "estimate": mu, "se": se, "stat": stat, "df": df, "pval": pval,
        "ci_lb": ci_lb, "ci_ub": ci_ub, "tau2": tau2, "tau2_ci_lb": t_lb, "tau2_ci_ub": t_ub,
        "i2": i2_ht, "i2_tau2": i2_tau2, "i2_ci_lb": i2_lb, "i2_ci_ub": i2_ub,
        "h2": h2, "h2_ci_lb": h2_lb, "h2_ci_ub": h2_ub,
        "q": q, "q_df": q_df, "q_pval": q_pval, "pi_lb": pi_lb, "pi_ub": pi_ub,
        "converged": converged, "iterations": iters, "weights": pct,
    }
    if empty.any():  # analyses with no usable study: every statistic is missing
        for key, val in out.items():
            if key not in ("k", "converged", "iterations"):
                out[key] = np.where(empty[:, None] if val.ndim == 2 else empty, np.nan, val)
    return out


# --- count-based common-effect models --------------------------------------------


@dataclass
class CountFit:
    estimate: float
    se: float
    q: float
    q_df: int
    weights: np.ndarray  # percent, nan for excluded studies
    excluded: dict[int, str]


def _tables(event_e, n_e, event_c, n_c, drop00: bool):
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (event_e, n_e, event_c, n_c))
    b, d = n1 - a, n2 - c
    excluded: dict[int, str] = {}
    if drop00:
        dz = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        for i in np.flatnonzero(dz):
            excluded[int(i)] = ("no events in either group" if a[i] == 0 and c[i] == 0
                                else "no non-events in either group")
    keep = np.array([i not in excluded for i in range(a.size)])
    return a, b, c, d, n1, n2, keep, excluded


def mantel_haenszel(event_e, n_e, event_c, n_c, measure: str,
                    rule: ZeroCellRule = ZeroCellRule()) -> CountFit:
    """Mantel–Haenszel common effect on raw counts (no continuity correction).

    OR: Mantel & Haenszel 1959 with the Robins–Breslow–Greenland (1986)
    variance, computed with statsmodels' StratifiedTable. RR: Greenland &
    Robins 1985 (Rothman, Greenland & Lash, Modern Epidemiology, eq. 15-15).
    RD: Greenland & Robins 1985 with the Sato (1989) variance. Double-zero
    studies are dropped from OR and RR (``rule.drop_double_zero``).
    Heterogeneity Q uses the inverse-variance yi/vi (zero-cell rule applied)
    around the MH estimate, as metafor's rma.mh does.
    """
    from statsmodels.stats.contingency_tables import StratifiedTable

    measure = measure.upper()
    drop = rule.drop_double_zero and measure in ("OR", "RR")
    a, b, c, d, n1, n2, keep, excluded = _tables(event_e, n_e, event_c, n_c, drop)
    A, B, C, D, N1, N2 = a[keep], b[keep], c[keep], d[keep], n1[keep], n2[keep]
    N = N1 + N2
    if measure == "OR":
        R, S = (A * D / N).sum(), (B * C / N).sum()
        if R == 0 or S == 0:
            raise ValueError("the Mantel–Haenszel OR is 0 or infinite: no events in one arm of "
                             "every study")
        tables = np.stack([np.array([[A[i], B[i]], [C[i], D[i]]]) for i in range(A.size)], axis=2)
        st = StratifiedTable(tables)
        est, se = float(st.logodds_pooled), float(st.logodds_pooled_se)
    elif measure == "RR":
        R, S = (A * N2 / N).sum(), (C * N1 / N).sum()
        if A.sum() == 0 or C.sum() == 0:
            raise ValueError("the Mantel–Haenszel RR is 0 or infinite: no events in one arm of "
                             "every study")
        est = float(np.log(R / S))
        se = float(np.sqrt(((N1 * N2 * (A + C) / N**2) - A * C / N).sum() / (R * S)))
    elif measure == "RD":
        L = (N1 * N2 / N).sum()
        est = float((A * N2 / N - C * N1 / N).sum() / L)
        num = (est * (C * (N1 / N) ** 2 - A * (N2 / N) ** 2 + (N1 / N) * (N2 / N) * (N2 - N1) / 2)
               ).sum() + (A * (N2 - C) / N + C * (N1 - A) / N).sum() / 2
        se = float(np.sqrt(num / L**2))
    else:
        raise ValueError(f"Mantel–Haenszel is for OR, RR or RD; got {measure}")
    es = binary(event_e, n_e, event_c, n_c, measure, rule)
    use = es.usable
    wi = np.where(use, 1 / np.where(use, es.vi, 1), 0.0)
    k_yi = int(use.sum())
    q = float(max(0.0, (wi * np.where(use, es.yi - est, 0.0) ** 2).sum())) if k_yi > 1 else 0.0
    # MH weights as RevMan and metafor report them: each table's share of the
    # MH denominator (S for OR/RR, the RD weight n1·n2/N for RD)
    if measure == "OR":
        wt = np.where(keep, b * c / (n1 + n2), np.nan)
    elif measure == "RR":
        wt = np.where(keep, c * n1 / (n1 + n2), np.nan)
    else:
        wt = np.where(keep, n1 * n2 / (n1 + n2), np.nan)
    weights = 100 * wt / np.nansum(wt)
    all_excl = dict(es.excluded)
    all_excl.update(excluded)
    return CountFit(est, se, q, max(k_yi - 1, 0), weights, all_excl)


def peto(event_e, n_e, event_c, n_c, rule: ZeroCellRule = ZeroCellRule()) -> CountFit:
    """Peto's one-step odds ratio (Yusuf et al. 1985): ln OR = Σ(O−E)/ΣV, var = 1/ΣV.

    E = n₁·m₁/N and V = m₁·m₂·n₁·n₂/(N²(N−1)); Q = Σ(O−E)²/V − (Σ(O−E))²/ΣV.
    """
    a, b, c, d, n1, n2, keep, excluded = _tables(event_e, n_e, event_c, n_c,
                                                 rule.drop_double_zero)
    N = n1 + n2
    m1, m2 = a + c, b + d
    E = m1 * n1 / N
    with np.errstate(divide="ignore", invalid="ignore"):
        V = m1 * m2 * (n1 / N) * (n2 / N) / (N - 1)
    E, V, O = E[keep], V[keep], a[keep]
    sv = V.sum()
    if sv == 0:
        raise ValueError("Peto's method needs at least one study with events and non-events")
    est = float((O - E).sum() / sv)
    se = float(np.sqrt(1 / sv))
    pos = V > 0
    q = float(max(0.0, ((O - E)[pos] ** 2 / V[pos]).sum() - (O - E).sum() ** 2 / sv))
    k_yi = int(keep.sum())
    if pos.sum() <= 1:
        q = 0.0
    wt = np.full(a.size, np.nan)
    wt[keep] = V
    return CountFit(est, se, q, max(k_yi - 1, 0), 100 * wt / sv, excluded)
