"""Between-study variance (τ²) estimators and the Q-profile interval, vectorised.

Every function works on a batch of B meta-analyses at once: ``y`` and ``v``
are (B, K) arrays and ``mask`` marks which of the K slots hold a study (so
analyses with different k share one array). A single analysis is a batch of
one, so the single and batch paths are the same code and give identical
numbers.

All estimators are truncated at 0. The iterative ones (ML, REML, EB, PM and
the Q-profile limits) stop when a step changes τ² by less than ``tol``
(default 1e-10, relative above τ² = 1; metafor's default is 1e-5), and report
non-convergence instead of returning an unconverged value silently. The steps
are Newton steps, whose remaining error is of the order of the square of the
last step, so the results agree with a 1e-13 criterion to about 1e-15.

Sources: DerSimonian & Laird 1986; Hedges 1983 (HE); Sidik & Jonkman 2005
(SJ); Paule & Mandel 1982 (PM); Morris 1983 (EB); Viechtbauer 2005 (ML and
REML, solved by safeguarded Newton iteration); Viechtbauer 2007 (Q-profile
CI). The update formulas follow metafor's rma.uni (Viechtbauer 2010) so
results agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy.stats import chi2

from .constants import TAU2_METHODS
DEFAULT_TOL = 1e-10
DEFAULT_MAXITER = 1000


def per_df(quantile, p: float, df: np.ndarray) -> np.ndarray:
    """``quantile(p, df)`` elementwise, computed once per distinct df.

    A batch has few distinct degrees of freedom (one per k), and scipy's
    quantile functions cost microseconds per element; the values are the
    same as calling ``quantile`` on the whole array.
    """
    df = np.asarray(df)
    if df.size and (df == df.flat[0]).all():  # the usual batch: one k for all
        return np.full(df.shape, quantile(p, df.flat[0]))
    values, inverse = np.unique(df, return_inverse=True)
    return quantile(p, values)[inverse.reshape(np.shape(df))]


@dataclass
class Tau2Fit:
    tau2: np.ndarray  # (B,)
    converged: np.ndarray  # (B,) bool
    iterations: np.ndarray  # (B,) int


def ksum(x: np.ndarray) -> np.ndarray:
    """Sum over the studies axis (axis 0) in a fixed pairwise order.

    Neighbours are added in pairs, level by level, and an odd last entry is
    carried up unchanged. Trailing zeros (padding) leave every partial sum
    exactly as it was, so an analysis gets the same bits whether it is pooled
    alone or padded inside a batch of larger analyses; numpy's own sum picks
    its order by array length and layout, which would break that. The order
    is pairwise, so rounding error grows with log k, not k.
    """
    while x.shape[0] > 1:
        n = x.shape[0]
        h = n // 2
        out = np.empty((h + n % 2,) + x.shape[1:])
        np.add(x[0:2 * h:2], x[1:2 * h:2], out=out[:h])
        if n % 2:
            out[h] = x[n - 1]
        x = out
    return x[0]


class Batch:
    """B meta-analyses of up to K studies, stored studies-down: (K, B) arrays.

    The constructor takes (B, K) arrays (one row per analysis) and a mask of
    the slots that hold a study. Internally each column is an analysis, so the
    per-analysis sums run across contiguous rows (several times faster than
    summing along short rows), and padded slots carry y = 0, v = 1 and a mask
    weight of 0, which drops them out of every sum.
    """

    def __init__(self, y: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None):
        y = np.atleast_2d(np.asarray(y, dtype=float))
        v = np.atleast_2d(np.asarray(v, dtype=float))
        if mask is None:
            mask = np.isfinite(y) & np.isfinite(v)
        mask = np.atleast_2d(np.asarray(mask, dtype=bool))
        self.m = np.zeros(mask.T.shape)
        np.copyto(self.m, 1.0, where=mask.T)
        self.y = np.zeros(mask.T.shape)
        self.v = np.ones(mask.T.shape)
        np.copyto(self.y, y.T, where=mask.T)
        np.copyto(self.v, v.T, where=mask.T)
        self.k = mask.sum(axis=1)

    def rows(self, idx: np.ndarray) -> "Batch":
        """The analyses at ``idx`` as a batch of their own."""
        sub = object.__new__(Batch)
        sub.y, sub.v, sub.m, sub.k = self.y[:, idx], self.v[:, idx], self.m[:, idx], self.k[idx]
        return sub

    def columns(self, sl: slice) -> "Batch":
        """A view of the analyses in slice ``sl`` (no copy)."""
        sub = object.__new__(Batch)
        sub.y, sub.v, sub.m, sub.k = self.y[:, sl], self.v[:, sl], self.m[:, sl], self.k[sl]
        return sub

    @property
    def mask(self) -> np.ndarray:
        return self.m > 0

    def weights(self, tau2: np.ndarray) -> np.ndarray:
        """(K, B) inverse-variance weights 1/(v + τ²), 0 in padded slots."""
        return self.m / (self.v + tau2)

    def wmean(self, w: np.ndarray) -> np.ndarray:
        sw, swy = self.wsums(w)
        return swy / sw

    def wsums(self, w: np.ndarray) -> np.ndarray:
        """(Σw, Σwy), summed together in one pass over the studies."""
        terms = np.empty((w.shape[0], 2) + w.shape[1:])
        terms[:, 0] = w
        np.multiply(w, self.y, out=terms[:, 1])
        return ksum(terms)

    def q_gen(self, tau2: np.ndarray) -> np.ndarray:
        """Generalised Q: Σ wᵢ(yᵢ − μ̂)² with wᵢ = 1/(vᵢ + τ²) (DerSimonian & Kacker 2007)."""
        w = self.weights(tau2)
        r = self.y - self.wmean(w)
        return ksum(w * r * r)

    def q_gen_and_slope(self, tau2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = self.weights(tau2)
        r = self.y - self.wmean(w)
        terms = np.empty((w.shape[0], 2) + w.shape[1:])
        wr2, w2r2 = terms[:, 0], terms[:, 1]
        np.multiply(w, r, out=wr2)
        wr2 *= r
        np.multiply(w, wr2, out=w2r2)
        # d/dτ² Σ w r² = −Σ w² r² (the μ̂ term vanishes at the weighted mean)
        q, slope = ksum(terms)
        return q, -slope


def _common_effect_sums(b: Batch, zero: np.ndarray) -> tuple[np.ndarray, ...]:
    """(Q, Σw, Σw², Σ log v) with the common-effect weights w = 1/v."""
    w = b.weights(zero)
    sw, swy = b.wsums(w)
    r = b.y - swy / sw
    terms = np.empty((w.shape[0], 3) + w.shape[1:])
    np.multiply(w, r, out=terms[:, 0])
    terms[:, 0] *= r
    np.multiply(w, w, out=terms[:, 1])
    np.log(b.v, out=terms[:, 2])  # padded slots hold v = 1: log 0
    q, sw2, slogv = ksum(terms)
    return q, sw, sw2, slogv


def common_effect_sums(b: Batch) -> tuple[np.ndarray, ...]:
    """(Q, Σw, Σw², Σ log v) at τ² = 0, computed once per batch.

    DL, the Q-profile interval, the likelihood check of ML/REML and the
    summary all start from these; the cache saves a pass over the data each.
    """
    cached = getattr(b, "_ce_sums", None)
    if cached is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            cached = blockwise(_common_effect_sums, b, np.zeros(len(b.k)))
        b._ce_sums = cached
    return cached


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


# Array elements (studies × analyses) per block when a sweep is evaluated:
# large temporaries fall out of the cache and make every sweep page-fault
# fresh memory from the allocator; blocks of this size (about 3,000 analyses
# of k = 10) measured fastest. See docs/performance.md.
_BLOCK_ELEMENTS = 32768


def _blocks(b: Batch, elements: int = _BLOCK_ELEMENTS) -> list[tuple[slice, Batch]]:
    width = max(1, elements // max(1, b.y.shape[0]))
    return [(slice(a, a + width), b.columns(slice(a, a + width)))
            for a in range(0, b.k.size, width)]


def blockwise(fn, b: Batch, x: np.ndarray, blocks=None) -> tuple[np.ndarray, ...]:
    """``fn(b, x)`` computed block by block over the analyses, outputs concatenated."""
    blocks = _blocks(b) if blocks is None else blocks
    if len(blocks) == 1:
        return fn(b, x)
    parts = [fn(blk, x[sl]) for sl, blk in blocks]
    return tuple(np.concatenate(p) for p in zip(*parts))


def _iterate_columns(b: Batch, run: np.ndarray, state: dict[str, np.ndarray], step,
                     maxiter: int, block_elements: int = _BLOCK_ELEMENTS) -> None:
    """Iterate ``step`` on the analyses ``run`` until each reports done; update ``state``.

    ``state`` maps names to full-length (B,) arrays; it must hold ``converged``
    (bool) and ``iterations`` (int). ``step(sub_batch, blocks, local)`` gets
    the per-column values of every state array for the columns being iterated
    and returns (new values of some of them, done). Columns that are done
    keep their values: each column's arithmetic depends on that column alone,
    so a result does not depend on which other analyses are still running,
    and batch and single paths agree bit for bit.

    The columns are iterated in place, without gathering them each sweep.
    Once half of them are done, the rest are gathered into a smaller
    sub-batch, so a few slow columns do not keep the whole batch busy.
    """
    n = len(b.k)
    if 2 * run.size > n:
        # most analyses iterate: sweep the batch as it is (a gather costs about a sweep)
        idx = np.arange(n)
        local = {name: arr.copy() for name, arr in state.items()}
        sub = b
        active = np.zeros(n, dtype=bool)
        active[run] = True
    else:
        idx = run
        local = {name: arr[idx] for name, arr in state.items()}
        sub = b.rows(idx)
        active = np.ones(idx.size, dtype=bool)
    blocks = _blocks(sub, block_elements)
    for _ in range(maxiter):
        if not active.any():
            break
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # columns not iterating (k < 2, or done) may divide by zero; they are frozen below
            new, done = step(sub, blocks, local)
        for name, val in new.items():
            local[name] = np.where(active, val, local[name])
        local["iterations"] = local["iterations"] + active
        local["converged"] = local["converged"] | (active & done)
        active &= ~done
        n_active = int(active.sum())
        if n_active and 2 * n_active < active.size:
            for name, arr in state.items():
                arr[idx] = local[name]
            keep = np.flatnonzero(active)
            idx = idx[keep]
            local = {name: val[keep] for name, val in local.items()}
            sub = sub.rows(keep)
            blocks = _blocks(sub, block_elements)
            active = np.ones(idx.size, dtype=bool)
    for name, arr in state.items():
        arr[idx] = local[name]


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

    _iterate_columns(b, np.flatnonzero(active), state, step, maxiter)
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
        ll = blockwise(lambda sub, t: (_loglik(sub, t, reml),), b, tau2)[0]
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
    _iterate_columns(b, run, state, step, maxiter, _BLOCK_ELEMENTS // 2)
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


def _loglik(b: Batch, tau2: np.ndarray, reml: bool) -> np.ndarray:
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
    """:func:`_loglik` at τ² = 0, from the cached common-effect sums."""
    q, sw, _, slogv = common_effect_sums(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _loglik_from_sums(b.k, slogv, sw, q, reml)


def tau2_ml(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Maximum likelihood (Hardy & Thompson 1996), by safeguarded Newton iteration."""
    return _newton_ml(b, reml=False, tol=tol, maxiter=maxiter)


def tau2_reml(b: Batch, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER) -> Tau2Fit:
    """Restricted maximum likelihood (Raudenbush 2009; Viechtbauer 2005), by safeguarded Newton iteration."""
    return _newton_ml(b, reml=True, tol=tol, maxiter=maxiter)


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
