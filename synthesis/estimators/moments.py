"""Method-of-moments τ² estimators (DL, HE, SJ, PM, EB) and the Q-profile CI, batched."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from .batch import (DEFAULT_MAXITER, DEFAULT_TOL, Batch, Tau2Fit, blockwise, common_effect_sums,
                    iterate_columns, ksum, per_df)


def tau2_dl(b: Batch) -> Tau2Fit:
    """DerSimonian–Laird: τ² = max(0, (Q − (k−1)) / (Σw − Σw²/Σw)), w = 1/v."""
    q, sw, sw2, _ = common_effect_sums(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where(b.k > 1, (q - (b.k - 1)) / (sw - sw2 / sw), 0.0)
    return _done(np.maximum(0.0, np.nan_to_num(tau2)), b)


def _unweighted_rss(b: Batch) -> tuple[np.ndarray, np.ndarray]:
    """(k, Σ(y − ȳ)²) with ȳ the unweighted mean."""
    k = b.k.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = b.m * (b.y - ksum(b.y) / k)
    return k, ksum(dev * dev)


def tau2_he(b: Batch) -> Tau2Fit:
    """Hedges (1983) unweighted method of moments: (Σ(y−ȳ)² − Σv(1 − 1/k)) / (k−1)."""
    k, rss = _unweighted_rss(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        tr_pv = ksum(b.m * b.v) * (1 - 1 / k)
        tau2 = np.where(b.k > 1, (rss - tr_pv) / (k - 1), 0.0)
    return _done(np.maximum(0.0, np.nan_to_num(tau2)), b)


def tau2_sj(b: Batch) -> Tau2Fit:
    """Sidik–Jonkman (2005): τ₀² = Σ(y−ȳ)²/k; τ² = τ₀² · Σw(y−μ̂_w)²/(k−1), w = 1/(v + τ₀²)."""
    k, rss = _unweighted_rss(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau0 = np.nan_to_num(rss / k)
        tau2 = np.where((b.k > 1) & (tau0 > 0), tau0 * b.q_gen(tau0) / (k - 1), 0.0)
    return _done(np.maximum(0.0, np.nan_to_num(tau2)), b)


def _done(tau2: np.ndarray, b: Batch) -> Tau2Fit:
    n = len(b.k)
    return Tau2Fit(tau2, np.ones(n, dtype=bool), np.zeros(n, dtype=int))


def solve_q_gen(b: Batch, target: np.ndarray, active: np.ndarray,
                tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve Q_gen(τ²) = target for τ² ≥ 0 where ``active`` (Q_gen(0) > target).

    Q_gen decreases monotonically in τ² towards 0, so the root is unique. The
    iteration is Newton's method on g(τ²) = 1/Q_gen(τ²) − 1/target rather than
    on Q_gen itself: each term of Q_gen falls like 1/(vᵢ + τ²), so g is close
    to linear (and concave, by Cauchy–Schwarz, when μ̂ is held fixed) and
    Newton needs a handful of steps from τ² = 0 instead of dozens. The sign
    of g brackets the root; a step that leaves the bracket becomes a bisection
    step, or a doubling while no upper end is known yet.
    Returns (root, converged, iterations); inactive entries get 0.
    """
    n = len(b.k)
    active = np.asarray(active, dtype=bool)
    state = {"x": np.zeros(n), "lo": np.zeros(n), "hi": np.full(n, np.inf),
             "target": np.broadcast_to(np.asarray(target, dtype=float), (n,)).copy(),
             "converged": ~active, "iterations": np.zeros(n, dtype=int)}

    def step(sub, blocks, L):
        x, lo, hi = L["x"], L["lo"], L["hi"]
        q, dq = blockwise(Batch.q_gen_and_slope, sub, x, blocks)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = 1.0 / q - 1.0 / L["target"]
            newton = x - g * q * q / -dq  # g' = −Q'/Q²
        below = g < 0  # Q_gen still above the target: the root lies to the right
        lo = np.where(below, x, lo)
        hi = np.where(below, hi, x)
        ok = (newton >= lo) & (newton <= hi) & np.isfinite(newton)
        fallback = np.where(np.isfinite(hi), 0.5 * (lo + hi), 2.0 * lo + 1.0)
        x_new = np.where(ok, newton, fallback)
        done = ((np.abs(x_new - x) <= tol * np.maximum(1.0, x_new))
                | (hi - lo <= tol * np.maximum(1.0, lo)))
        return {"x": x_new, "lo": lo, "hi": hi}, done

    iterate_columns(b, np.flatnonzero(active), state, step, maxiter)
    return np.where(active, state["x"], 0.0), state["converged"], state["iterations"]


def tau2_pm(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Paule–Mandel (1982): the τ² at which Q_gen(τ²) = k − 1; 0 when Q_gen(0) < k − 1."""
    target = (b.k - 1).astype(float)
    active = (b.k > 1) & (common_effect_sums(b)[0] > target)
    root, conv, iters = solve_q_gen(b, target, active, tol, maxiter)
    return Tau2Fit(root, conv, iters)


def tau2_eb(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Empirical Bayes (Morris 1983; Berkey et al. 1995).

    Its estimating equation, Σw(y−μ̂)²·k/(k−1) = k, is the Paule–Mandel
    equation Q_gen(τ²) = k − 1, so the two estimators coincide (Viechtbauer
    et al. 2015); it is solved the same way.
    """
    return tau2_pm(b, tol, maxiter)


def tau2_qprofile_ci(b: Batch, level: float = 0.95, tol: float = DEFAULT_TOL,
                     maxiter: int = DEFAULT_MAXITER) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q-profile confidence interval for τ² (Viechtbauer 2007, Stat Med 26:37–52).

    The limits solve Q_gen(τ²) = χ²_{k−1} quantiles: the lower limit the
    upper (1+level)/2 quantile, the upper limit the lower (1−level)/2 one;
    a limit is 0 when Q_gen(0) already falls below its quantile.
    Returns (lower, upper, converged); nan where k < 2.
    """
    df = (b.k - 1).astype(float)
    alpha = 1 - level
    valid = b.k > 1
    dfv = np.where(valid, df, 1.0)
    crit_hi = per_df(chi2.isf, alpha / 2, dfv)  # for the lower limit
    crit_lo = per_df(chi2.ppf, alpha / 2, dfv)  # for the upper limit
    q0 = common_effect_sums(b)[0]
    lb, c1, _ = solve_q_gen(b, crit_hi, valid & (q0 > crit_hi), tol, maxiter)
    ub, c2, _ = solve_q_gen(b, crit_lo, valid & (q0 > crit_lo), tol, maxiter)
    lb = np.where(valid, lb, np.nan)
    ub = np.where(valid, ub, np.nan)
    return lb, ub, c1 & c2
