"""Maximum-likelihood and REML τ² by safeguarded Newton iteration, batched."""

from __future__ import annotations

from functools import partial

import numpy as np

from .batch import (BLOCK_ELEMENTS, DEFAULT_MAXITER, DEFAULT_TOL, Batch, Tau2Fit, blockwise,
                    common_effect_sums, iterate_columns, ksum)
from .moments import tau2_dl


def _newton_ml(b: Batch, reml: bool, tol: float, maxiter: int) -> Tau2Fit:
    """ML / REML τ²: safeguarded Newton iteration on the (restricted) likelihood score.

    Score and information from Viechtbauer W. Bias and efficiency of
    meta-analytic variance estimators in the random-effects model. J Educ
    Behav Stat 2005;30:261–293 (eqs. 8–11), with P = W − wwᵀ/Σw, r = y − μ̂:
      score    ML: Σw²r² − Σw          REML: Σw²r² − tr P
      expected ML: Σw²                 REML: tr(P²)
      observed ML: 2·uᵀPu − Σw²        REML: 2·uᵀPu − tr(P²),  u = W r
    (all up to the common factor ½; uᵀPu = yᵀP³y is the derivative of yᵀP²y).
    Newton with the observed information converges quadratically, where
    Fisher scoring (metafor's choice) converges linearly and can oscillate
    without converging on ordinary data (about 3 in 1,000 simulated
    meta-analyses of k = 10). Where the likelihood is locally convex the
    Fisher step is used instead. The sign of the score brackets the root, and
    any step that leaves the bracket, or does not at least halve the previous
    step, becomes a bisection (rtsafe, Press et al., Numerical Recipes §9.4).
    A step below 0 goes to 0, where the bracket closes if the score is
    negative: that is the truncated estimate. The start is the DL estimate
    (metafor starts from HE; DL is usually closer and saves a sweep, and the
    maximum reached is the same). Only rows still iterating are updated.
    """
    n = len(b.k)
    tau2 = tau2_dl(b).tau2.copy()
    converged = b.k <= 1
    iters = np.zeros(n, dtype=int)
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    jumped_from = _newton_rows(b, np.flatnonzero(~converged), tau2, lo, hi, converged, iters,
                               reml, tol, maxiter)
    # The iteration is local: a maximum at 0 (score ≤ 0 there) can hide a
    # higher interior one when the score turns positive further out (the
    # likelihood then has a local minimum in between). For rows that end at
    # 0, look at the sign of the score on a grid up to 2·(range(y)² + max v)
    # (for ML the score is negative for every τ² > range(y)²; if the last
    # grid point still rises, the search continues upwards unbounded) and
    # solve again inside the last rising stretch; the comparison with the
    # likelihood at 0 below keeps whichever maximum is higher.
    check = np.flatnonzero(converged & (tau2 == 0) & (b.k > 1))
    if check.size:
        sub = b.rows(check)
        spread = (np.max(np.where(sub.m > 0, sub.y, -np.inf), axis=0)
                  - np.min(np.where(sub.m > 0, sub.y, np.inf), axis=0))
        vmax = np.max(sub.m * sub.v, axis=0)
        upper = np.maximum(jumped_from[check], 2 * (spread**2 + vmax))
        grid = upper[:, None] * _BUMP_GRID[None, :]
        reps = np.repeat(check, _BUMP_GRID.size)
        up = blockwise(partial(_score_only, reml=reml), b.rows(reps),
                       grid.ravel())[0].reshape(grid.shape) > 0
        found = up.any(1)
        if found.any():
            rows, g, u = check[found], grid[found], up[found]
            idx = np.arange(rows.size)
            last_up = g.shape[1] - 1 - np.argmax(u[:, ::-1], axis=1)  # largest rising point
            lo[rows] = g[idx, last_up]
            hi[rows] = np.where(last_up + 1 < g.shape[1],
                                g[idx, np.minimum(last_up + 1, g.shape[1] - 1)], np.inf)
            tau2[rows] = np.where(np.isfinite(hi[rows]), 0.5 * (lo[rows] + hi[rows]), lo[rows])
            converged[rows] = False
            _newton_rows(b, rows, tau2, lo, hi, converged, iters, reml, tol, maxiter)
    for i in np.flatnonzero(~converged):
        # No root of the right kind was found (the likelihood can have a
        # local minimum between a maximum at 0 and one inside): maximise the
        # (restricted) likelihood directly instead.
        tau2[i], converged[i] = _maximise_directly(b.rows(np.array([i])), reml, tol, maxiter)
    tau2 = np.where(b.k > 1, tau2, 0.0)
    # metafor's check that the fit is not worse than τ² = 0 (a local maximum)
    with np.errstate(divide="ignore", invalid="ignore"):  # k = 0 analyses give nan, unused
        ll = blockwise(lambda sub, t: (loglik(sub, t, reml),), b, tau2)[0]
    ll0 = _loglik_at_zero(b, reml)
    stuck = converged & (tau2 > 0) & (ll0 - ll > 1e-10)
    tau2 = np.where(stuck, 0.0, tau2)
    return Tau2Fit(tau2, converged, iters)


# where, as fractions of an upper bound, to look for a rising likelihood when the iteration ends at 0
_BUMP_GRID = np.geomspace(1e-3, 1.0, 12)


def _ml_score(sub: Batch, t: np.ndarray, reml: bool):
    """(score, observed information, expected information) of ML or REML at τ² = t, each ×2."""
    w = sub.weights(t)
    sw, swy = sub.wsums(w)
    wr = w * (sub.y - swy / sw)  # padded slots have w = 0
    # the five sums in one pass: terms written straight into one (K, 5, B) buffer
    terms = np.empty((w.shape[0], 5, w.shape[1]))
    ww, wr2, wwr2, wwr, www = (terms[:, i] for i in range(5))
    np.multiply(w, w, out=ww)
    np.multiply(wr, wr, out=wr2)
    np.multiply(w, wr, out=wwr)
    np.multiply(wwr, wr, out=wwr2)
    np.multiply(ww, w, out=www)
    w2, w2r2, w3r2, w2r, w3 = ksum(terms)
    upu = w3r2 - w2r**2 / sw
    expected = w2 - 2 * w3 / sw + (w2 / sw) ** 2 if reml else w2
    score = _score(w2r2, w2, sw, reml)
    return score, 2 * upu - expected, expected


def _score(w2r2, w2, sw, reml: bool):
    """The score from its sums: Σw²r² − tr P (REML, tr P = Σw − Σw²/Σw) or − Σw (ML)."""
    return w2r2 - (sw - w2 / sw if reml else sw)


def _score_only(sub: Batch, t: np.ndarray, reml: bool) -> tuple[np.ndarray]:
    """The score alone (as in :func:`_ml_score`), for scanning its sign on a grid."""
    w = sub.weights(t)
    sw, swy = sub.wsums(w)
    wr = w * (sub.y - swy / sw)
    terms = np.empty((w.shape[0], 2, w.shape[1]))
    np.multiply(wr, wr, out=terms[:, 0])
    np.multiply(w, w, out=terms[:, 1])
    w2r2, w2 = ksum(terms)
    return (_score(w2r2, w2, sw, reml),)


def _newton_rows(b: Batch, run: np.ndarray, tau2, lo, hi, converged, iters, reml: bool,
                 tol: float, maxiter: int) -> np.ndarray:
    """The safeguarded Newton iteration of :func:`_newton_ml` on rows ``run``, in place.

    Returns, per row, the last τ² from which the iteration jumped to 0 (0 if none).
    """
    n = len(b.k)
    state = {"tau2": tau2, "lo": lo, "hi": hi, "converged": converged, "iterations": iters,
             "jumped_from": np.zeros(n), "last_step": np.full(n, np.inf)}
    score_fn = partial(_ml_score, reml=reml)

    def step(sub, blocks, L):
        t = L["tau2"]
        score, observed, expected = blockwise(score_fn, sub, t, blocks)
        rising = score > 0
        lr = np.where(rising, t, L["lo"])
        hr = np.where(rising, L["hi"], t)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = t + np.where(observed > 0, score / observed, score / expected)
        # Try the boundary itself where the step would cross it, or where the
        # likelihood falls and is convex (the Fisher step would creep there):
        # at 0 the bracket closes if the score is negative, which is the
        # truncated estimate.
        to_zero = (lr == 0) & ((new <= 0) | (~rising & (observed <= 0)))
        new = np.where(to_zero, 0.0, new)
        bad = ~np.isfinite(new) | (new > hr) | ((new < lr) & ~to_zero)
        bad |= ~to_zero & (np.abs(new - t) > 0.5 * L["last_step"])
        bisect = bad & np.isfinite(hr)
        new = np.where(bisect, 0.5 * (lr + hr), np.where(np.isfinite(new), new, t))
        change = np.abs(new - t)
        scale = tol * np.maximum(1.0, new)
        done = (change <= scale) | (hr - lr <= scale)  # hr − lr is inf while unbounded
        return {"tau2": new, "lo": lr, "hi": hr, "last_step": change,
                "jumped_from": np.where(to_zero & (t > 0), t, L["jumped_from"])}, done

    # the score stacks five sums per study, so its blocks are half as wide
    iterate_columns(b, run, state, step, maxiter, BLOCK_ELEMENTS // 2)
    return state["jumped_from"]


def _maximise_directly(one: Batch, reml: bool, tol: float, maxiter: int) -> tuple[float, bool]:
    """Global maximum of the log-likelihood in τ² ≥ 0: a log-spaced grid, then Brent's method
    between the grid neighbours of the best point."""
    from scipy.optimize import minimize_scalar

    k = int(one.k[0])
    y = one.y[:, 0][one.mask[:, 0]]
    v = one.v[:, 0][one.mask[:, 0]]
    upper = max(10 * float(np.var(y)) * k / max(k - 1, 1), 10 * float(v.max()), 1e-8)
    grid = np.concatenate([[0.0], np.geomspace(upper * 1e-8, upper, 400)])
    ll = loglik(Batch(np.tile(y, (grid.size, 1)), np.tile(v, (grid.size, 1))), grid, reml)
    j = int(np.argmax(ll))
    lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
    if hi <= lo:
        return float(grid[j]), True
    res = minimize_scalar(
        lambda t: -float(loglik(Batch(y[None, :], v[None, :]), np.array([t]), reml)[0]),
        bounds=(lo, hi), method="bounded",
        options={"xatol": tol * max(1.0, hi), "maxiter": maxiter})
    best = float(res.x) if -res.fun >= ll[j] else float(grid[j])
    return best, bool(res.success)


def loglik(b: Batch, tau2: np.ndarray, reml: bool) -> np.ndarray:
    w = b.weights(tau2)
    sw = ksum(w)
    r = b.y - ksum(w * b.y) / sw
    rss = ksum(w * r * r)
    logdet = ksum(b.m * np.log(b.v + tau2))
    return _loglik_from_sums(b.k, logdet, sw, rss, reml)


def _loglik_from_sums(k, logdet, sw, rss, reml: bool) -> np.ndarray:
    """The (restricted) log-likelihood with μ profiled out, from Σlog(v+τ²), Σw and Σw r²."""
    k = k.astype(float)
    if reml:
        return -0.5 * (k - 1) * np.log(2 * np.pi) - 0.5 * logdet - 0.5 * np.log(sw) - 0.5 * rss
    return -0.5 * k * np.log(2 * np.pi) - 0.5 * logdet - 0.5 * rss


def _loglik_at_zero(b: Batch, reml: bool) -> np.ndarray:
    """:func:`loglik` at τ² = 0, from the cached common-effect sums."""
    q, sw, _, slogv = common_effect_sums(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _loglik_from_sums(b.k, slogv, sw, q, reml)


def tau2_ml(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Maximum likelihood (Hardy & Thompson 1996), by safeguarded Newton iteration."""
    return _newton_ml(b, reml=False, tol=tol, maxiter=maxiter)


def tau2_reml(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Restricted maximum likelihood (Raudenbush 2009; Viechtbauer 2005), by safeguarded Newton iteration."""
    return _newton_ml(b, reml=True, tol=tol, maxiter=maxiter)


