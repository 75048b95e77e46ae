"""The batch layout shared by every τ² estimator: B meta-analyses of up to K studies
in (K, B) arrays, fixed-order sums, blockwise evaluation and the per-column iteration
driver (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


# Array elements (studies × analyses) per block when a sweep is evaluated:
# large temporaries fall out of the cache and make every sweep page-fault
# fresh memory from the allocator; blocks of this size (about 3,000 analyses
# of k = 10) measured fastest. See docs/performance.md.
BLOCK_ELEMENTS = 32768


def blocks_of(b: Batch, elements: int = BLOCK_ELEMENTS) -> list[tuple[slice, Batch]]:
    width = max(1, elements // max(1, b.y.shape[0]))
    return [(slice(a, a + width), b.columns(slice(a, a + width)))
            for a in range(0, b.k.size, width)]


def blockwise(fn, b: Batch, x: np.ndarray, blocks=None) -> tuple[np.ndarray, ...]:
    """``fn(b, x)`` computed block by block over the analyses, outputs concatenated."""
    blocks = blocks_of(b) if blocks is None else blocks
    if len(blocks) == 1:
        return fn(b, x)
    parts = [fn(blk, x[sl]) for sl, blk in blocks]
    return tuple(np.concatenate(p) for p in zip(*parts))


def iterate_columns(b: Batch, run: np.ndarray, state: dict[str, np.ndarray], step,
                     maxiter: int, block_elements: int = BLOCK_ELEMENTS) -> None:
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
    blocks = blocks_of(sub, block_elements)
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
            blocks = blocks_of(sub, block_elements)
            active = np.ones(idx.size, dtype=bool)
    for name, arr in state.items():
        arr[idx] = local[name]


