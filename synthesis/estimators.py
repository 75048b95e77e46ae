"""Between-study variance (τ²) estimators and the Q-profile interval, vectorised.

Every function works on a batch of B meta-analyses at once: ``y`` and ``v``
are (B, K) arrays and ``mask`` marks which of the K slots hold a study (so
analyses with different k share one array). A single analysis is a batch of
one, so the single and batch paths are the same code and give identical
numbers.

All estimators are truncated at 0. The iterative ones (ML, REML, EB, PM and
the Q-profile limits) are solved to an absolute tolerance of ``tol`` (default
1e-12, below metafor's 1e-5 default), and report non-convergence instead of
returning an unconverged value silently.

Sources: DerSimonian & Laird 1986; Hedges 1983 (HE); Sidik & Jonkman 2005
(SJ); Paule & Mandel 1982 (PM); Morris 1983 (EB); Viechtbauer 2005 (ML and
REML by Fisher scoring); Viechtbauer 2007 (Q-profile CI). The update
formulas follow metafor's rma.uni (Viechtbauer 2010) so results agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2

from .constants import TAU2_METHODS
DEFAULT_TOL = 1e-12
DEFAULT_MAXITER = 1000


@dataclass
class Tau2Fit:
    tau2: np.ndarray  # (B,)
    converged: np.ndarray  # (B,) bool
    iterations: np.ndarray  # (B,) int


class Batch:
    """Masked (B, K) arrays of effect sizes with cached sums used by every estimator."""

    def __init__(self, y: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None):
        y = np.atleast_2d(np.asarray(y, dtype=float))
        v = np.atleast_2d(np.asarray(v, dtype=float))
        if mask is None:
            mask = np.isfinite(y) & np.isfinite(v)
        mask = np.atleast_2d(np.asarray(mask, dtype=bool))
        self.mask = mask
        # padded slots get y = 0, v = 1 and weight 0, so sums ignore them
        self.y = np.where(mask, y, 0.0)
        self.v = np.where(mask, v, 1.0)
        self.k = mask.sum(axis=1)

    def rows(self, idx: np.ndarray) -> "Batch":
        """The analyses at ``idx`` as a batch of their own (no copy of the padding logic)."""
        sub = object.__new__(Batch)
        sub.y, sub.v, sub.mask, sub.k = self.y[idx], self.v[idx], self.mask[idx], self.k[idx]
        return sub

    def weights(self, tau2: np.ndarray) -> np.ndarray:
        return np.where(self.mask, 1.0 / (self.v + tau2[:, None]), 0.0)

    def wmean(self, w: np.ndarray) -> np.ndarray:
        return (w * self.y).sum(axis=1) / w.sum(axis=1)

    def q_gen(self, tau2: np.ndarray) -> np.ndarray:
        """Generalised Q: Σ wᵢ(yᵢ − μ̂)² with wᵢ = 1/(vᵢ + τ²) (DerSimonian & Kacker 2007)."""
        w = self.weights(tau2)
        mu = self.wmean(w)
        return (w * (self.y - mu[:, None]) ** 2).sum(axis=1)

    def q_gen_and_slope(self, tau2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.weights(tau2)
        mu = self.wmean(w)
        r2 = (self.y - mu[:, None]) ** 2
        # d/dτ² Σ w r² = −Σ w² r² (the μ̂ term vanishes at the weighted mean)
        return (w * r2).sum(axis=1), -(w * w * r2).sum(axis=1)


def tau2_dl(b: Batch) -> Tau2Fit:
    """DerSimonian–Laird: τ² = max(0, (Q − (k−1)) / (Σw − Σw²/Σw)), w = 1/v."""
    w = b.weights(np.zeros(len(b.k)))
    sw = w.sum(1)
    q = b.q_gen(np.zeros(len(b.k)))
    c = sw - (w * w).sum(1) / sw
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where(b.k > 1, (q - (b.k - 1)) / c, 0.0)
    return _done(np.maximum(0.0, np.nan_to_num(tau2)), b)


def tau2_he(b: Batch) -> Tau2Fit:
    """Hedges (1983) unweighted method of moments: (Σ(y−ȳ)² − Σv(1 − 1/k)) / (k−1)."""
    k = b.k.astype(float)
    ybar = b.y.sum(1) / k
    rss = (np.where(b.mask, (b.y - ybar[:, None]) ** 2, 0.0)).sum(1)
    tr_pv = (np.where(b.mask, b.v, 0.0)).sum(1) * (1 - 1 / k)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where(b.k > 1, (rss - tr_pv) / (k - 1), 0.0)
    return _done(np.maximum(0.0, np.nan_to_num(tau2)), b)


def tau2_sj(b: Batch) -> Tau2Fit:
    """Sidik–Jonkman (2005): τ₀² = Σ(y−ȳ)²/k; τ² = τ₀² · Σw(y−μ̂_w)²/(k−1), w = 1/(v + τ₀²)."""
    k = b.k.astype(float)
    ybar = b.y.sum(1) / k
    tau0 = (np.where(b.mask, (b.y - ybar[:, None]) ** 2, 0.0)).sum(1) / k
    with np.errstate(divide="ignore", invalid="ignore"):
        tau2 = np.where((b.k > 1) & (tau0 > 0), tau0 * b.q_gen(tau0) / (k - 1), 0.0)
    return _done(np.maximum(0.0, np.nan_to_num(tau2)), b)


def _done(tau2: np.ndarray, b: Batch) -> Tau2Fit:
    n = len(b.k)
    return Tau2Fit(tau2, np.ones(n, dtype=bool), np.zeros(n, dtype=int))


def solve_q_gen(b: Batch, target: np.ndarray, active: np.ndarray,
                tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve Q_gen(τ²) = target for τ² ≥ 0 where ``active`` (Q_gen(0) > target).

    Q_gen decreases monotonically in τ² towards 0, so the root is unique: it
    is bracketed by quadrupling an upper limit, then found by Newton steps that
    fall back to bisection whenever a step would leave the bracket.
    Returns (root, converged, iterations); inactive entries get 0.
    """
    n = len(b.k)
    target = np.broadcast_to(np.asarray(target, dtype=float), (n,)).copy()
    lo = np.zeros(n)
    hi = np.ones(n)
    # bracket: grow hi until Q_gen(hi) <= target (only rows that need it)
    todo = np.flatnonzero(active)
    for _ in range(200):
        if todo.size == 0:
            break
        q_hi = b.rows(todo).q_gen(hi[todo])
        grow = q_hi > target[todo]
        lo[todo[grow]] = hi[todo[grow]]
        hi[todo[grow]] *= 4
        todo = todo[grow]
    # Newton from the left end: Q_gen is decreasing and convex in practice, so the
    # iterates approach the root from below; the bracket guards the rest.
    x = lo.copy()
    converged = ~active
    iters = np.zeros(n, dtype=int)
    for it in range(maxiter):
        run = np.flatnonzero(~converged)
        if run.size == 0:
            break
        xr, lr, hr = x[run], lo[run], hi[run]
        q, dq = b.rows(run).q_gen_and_slope(xr)
        f = q - target[run]
        lr = np.where(f > 0, xr, lr)
        hr = np.where(f <= 0, xr, hr)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = xr - np.where(dq != 0, f / dq, 0.0)
        ok = (newton > lr) & (newton < hr) & np.isfinite(newton)
        x_new = np.where(ok, newton, 0.5 * (lr + hr))
        change = np.abs(x_new - xr)
        x[run], lo[run], hi[run] = x_new, lr, hr
        iters[run] = it + 1
        converged[run] = (change <= tol * np.maximum(1.0, np.abs(x_new))) | (hr - lr <= tol)
    return np.where(active, x, 0.0), converged, iters


def tau2_pm(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Paule–Mandel (1982): the τ² at which Q_gen(τ²) = k − 1; 0 when Q_gen(0) < k − 1."""
    target = (b.k - 1).astype(float)
    active = (b.k > 1) & (b.q_gen(np.zeros(len(b.k))) > target)
    root, conv, iters = solve_q_gen(b, target, active, tol, maxiter)
    return Tau2Fit(root, conv, iters)


def tau2_eb(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Empirical Bayes (Morris 1983; Berkey et al. 1995).

    Its estimating equation, Σw(y−μ̂)²·k/(k−1) = k, is the Paule–Mandel
    equation Q_gen(τ²) = k − 1, so the two estimators coincide (Viechtbauer
    et al. 2015); it is solved the same way.
    """
    return tau2_pm(b, tol, maxiter)


def _fisher_scoring(b: Batch, reml: bool, tol: float, maxiter: int) -> Tau2Fit:
    """ML / REML by Fisher scoring from the HE estimate, step-halving at 0.

    Viechtbauer W. Bias and efficiency of meta-analytic variance estimators
    in the random-effects model. J Educ Behav Stat 2005;30:261–293, eqs. 8–11:
    ML:   Δ = (Σw²r² − Σw) / Σw²
    REML: Δ = (Σw²r² − tr P) / tr(P²), P = W − wwᵀ/Σw.
    Plain Fisher scoring can oscillate without converging on ordinary data
    (about 3 in 1,000 simulated meta-analyses of k = 10; metafor then stops
    with an error unless its step is damped), so the iteration is safeguarded:
    the sign of the score brackets the root, and a step leaving the bracket is
    replaced by bisection. Where plain scoring converges the fixed point is the
    same. Only rows still iterating are updated.
    """
    n = len(b.k)
    tau2 = tau2_he(b).tau2.copy()
    converged = b.k <= 1
    iters = np.zeros(n, dtype=int)
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    prev_sign = np.zeros(n, dtype=int)
    for it in range(maxiter):
        active = np.flatnonzero(~converged)
        if active.size == 0:
            break
        sub = b.rows(active)
        t = tau2[active]
        w = sub.weights(t)
        sw = w.sum(1)
        mu = (w * sub.y).sum(1) / sw
        r = np.where(sub.mask, sub.y - mu[:, None], 0.0)
        w2 = (w * w).sum(1)
        score = (w * w * r * r).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):  # k = 1 rows give 0/0
            adj = _fisher_step(reml, w, sw, w2, score)
        adj = np.where(np.isfinite(adj), adj, 0.0)
        # step halving keeps τ² ≥ 0, as metafor does
        for _ in range(60):
            neg = t + adj < 0
            if not neg.any():
                break
            adj = np.where(neg, adj / 2, adj)
        # Safeguard: the sign of the score brackets the root; a step that
        # leaves the bracket becomes a bisection step (safeguarded Newton).
        with np.errstate(divide="ignore", invalid="ignore"):
            rising = _score_sign(reml, w, sw, w2, score) > 0
        lo[active] = np.where(rising, np.maximum(lo[active], t), lo[active])
        hi[active] = np.where(~rising, np.minimum(hi[active], t), hi[active])
        new = np.maximum(t + adj, 0.0)
        lo_a, hi_a = lo[active], hi[active]
        # bisect when the step leaves the bracket, or when the score changed sign
        # since the last iterate (scoring is jumping across the root)
        flipped = (prev_sign[active] != 0) & (prev_sign[active] != np.where(rising, 1, -1))
        outside = np.isfinite(hi_a) & ((new <= lo_a) | (new >= hi_a) | flipped) & (hi_a > lo_a)
        new = np.where(outside, 0.5 * (lo_a + hi_a), new)
        prev_sign[active] = np.where(rising, 1, -1)
        change = np.abs(new - t)
        tau2[active] = new
        iters[active] = it + 1
        width = np.where(np.isfinite(hi_a), hi_a - lo_a, np.inf)
        converged[active] = (change <= tol * np.maximum(1.0, new)) | (width <= tol * np.maximum(1.0, new))
    for i in np.flatnonzero(~converged):
        # Scoring found no root of the right kind (the likelihood can have a
        # local minimum between a maximum at 0 and one inside): maximise the
        # (restricted) likelihood directly instead.
        tau2[i], converged[i] = _maximise_directly(b.rows(np.array([i])), reml, tol, maxiter)
    tau2 = np.where(b.k > 1, tau2, 0.0)
    # metafor's check that the fit is not worse than τ² = 0 (a local maximum)
    ll = _loglik(b, tau2, reml)
    ll0 = _loglik(b, np.zeros(n), reml)
    stuck = converged & (tau2 > 0) & (ll0 - ll > 1e-10)
    tau2 = np.where(stuck, 0.0, tau2)
    return Tau2Fit(tau2, converged, iters)


def _maximise_directly(one: Batch, reml: bool, tol: float, maxiter: int) -> tuple[float, bool]:
    """Global maximum of the log-likelihood in τ² ≥ 0: a log-spaced grid, then Brent's method
    between the grid neighbours of the best point."""
    from scipy.optimize import minimize_scalar

    k = int(one.k[0])
    y = one.y[0][one.mask[0]]
    v = one.v[0][one.mask[0]]
    upper = max(10 * float(np.var(y)) * k / max(k - 1, 1), 10 * float(v.max()), 1e-8)
    grid = np.concatenate([[0.0], np.geomspace(upper * 1e-8, upper, 400)])
    ll = _loglik(Batch(np.tile(y, (grid.size, 1)), np.tile(v, (grid.size, 1))), grid, reml)
    j = int(np.argmax(ll))
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
    if hi <= lo:
        return float(grid[j]), True
    res = minimize_scalar(
        lambda t: -float(_loglik(Batch(y[None, :], v[None, :]), np.array([t]), reml)[0]),
        bounds=(lo, hi), method="bounded",
        options={"xatol": tol * max(1.0, hi), "maxiter": maxiter})
    best = float(res.x) if -res.fun >= ll[j] else float(grid[j])
    return best, bool(res.success)


def _score_sign(reml: bool, w, sw, w2, score):
    """The numerator of the Fisher step: positive where the likelihood still rises in τ²."""
    if reml:
        return score - (sw - w2 / sw)
    return score - sw


def _fisher_step(reml: bool, w, sw, w2, score):
    if reml:
        w3 = (w**3).sum(1)
        tr_p = sw - w2 / sw
        tr_pp = w2 - 2 * w3 / sw + (w2 / sw) ** 2
        return (score - tr_p) / tr_pp
    return (score - sw) / w2


def _loglik(b: Batch, tau2: np.ndarray, reml: bool) -> np.ndarray:
    w = b.weights(tau2)
    sw = w.sum(1)
    mu = (w * b.y).sum(1) / sw
    rss = (w * (b.y - mu[:, None]) ** 2).sum(1)
    logdet = np.where(b.mask, np.log(b.v + tau2[:, None]), 0.0).sum(1)
    k = b.k.astype(float)
    if reml:
        return -0.5 * (k - 1) * np.log(2 * np.pi) - 0.5 * logdet - 0.5 * np.log(sw) - 0.5 * rss
    return -0.5 * k * np.log(2 * np.pi) - 0.5 * logdet - 0.5 * rss


def tau2_ml(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Maximum likelihood (Hardy & Thompson 1996), by Fisher scoring."""
    return _fisher_scoring(b, reml=False, tol=tol, maxiter=maxiter)


def tau2_reml(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Restricted maximum likelihood (Raudenbush 2009; Viechtbauer 2005), by Fisher scoring."""
    return _fisher_scoring(b, reml=True, tol=tol, maxiter=maxiter)


def estimate_tau2(b: Batch, method: str, tol: float = DEFAULT_TOL,
                  maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    method = method.upper()
    if method == "DL":
        return tau2_dl(b)
    if method == "HE":
        return tau2_he(b)
    if method == "SJ":
        return tau2_sj(b)
    if method == "PM":
        return tau2_pm(b, tol, maxiter)
    if method == "EB":
        return tau2_eb(b, tol, maxiter)
    if method == "ML":
        return tau2_ml(b, tol, maxiter)
    if method == "REML":
        return tau2_reml(b, tol, maxiter)
    raise ValueError(f"unknown τ² method {method!r}; expected one of {TAU2_METHODS}")


def tau2_qprofile_ci(b: Batch, level: float = 0.95, tol: float = DEFAULT_TOL,
                     maxiter: int = DEFAULT_MAXITER) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q-profile confidence interval for τ² (Viechtbauer 2007, Stat Med 26:37–52).

    The limits solve Q_gen(τ²) = χ²_{k−1} quantiles: the lower limit the
    upper (1+level)/2 quantile, the upper limit the lower (1−level)/2 one;
    a limit is 0 when Q_gen(0) already falls below its quantile.
    Returns (lower, upper, converged); nan where k < 2.
    """
    n = len(b.k)
    df = (b.k - 1).astype(float)
    alpha = 1 - level
    valid = b.k > 1
    dfv = np.where(valid, df, 1.0)
    crit_hi = chi2.isf(alpha / 2, dfv)  # for the lower limit
    crit_lo = chi2.ppf(alpha / 2, dfv)  # for the upper limit
    q0 = b.q_gen(np.zeros(n))
    lb, c1, _ = solve_q_gen(b, crit_hi, valid & (q0 > crit_hi), tol, maxiter)
    ub, c2, _ = solve_q_gen(b, crit_lo, valid & (q0 > crit_lo), tol, maxiter)
    lb = np.where(valid, lb, np.nan)
    ub = np.where(valid, ub, np.nan)
    return lb, ub, c1 & c2
