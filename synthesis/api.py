"""The Python API: ``pool`` for one meta-analysis, ``pool_batch`` for many.

This is a stable contract that other tools script against:

>>> import pandas as pd, synthesis
>>> df = pd.DataFrame({"study": ["A", "B", "C"], "yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.015]})
>>> res = synthesis.pool(df, measure="GEN", method="REML")
>>> round(res.estimate, 4)
0.1865
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import effects
from .effects import BINARY_MEASURES, PROPORTION_MEASURES, EffectSizes, ZeroCellRule
from .models import COUNT_METHODS, PoolSettings, fit_iv_batch, mantel_haenszel, peto
from .results import PoolResult

LAYOUTS: dict[str, tuple[str, ...]] = {
    "binary": ("study", "event_e", "n_e", "event_c", "n_c"),
    "proportion": ("study", "events", "n"),
    "ratio": ("study", "ratio", "ci_lower", "ci_upper"),
    "generic_vi": ("study", "yi", "vi"),
    "generic_sei": ("study", "yi", "sei"),
}
MEASURES_FOR_LAYOUT = {
    "binary": BINARY_MEASURES,
    "proportion": PROPORTION_MEASURES,
    "ratio": ("RATIO",),
    "generic_vi": ("GEN",),
    "generic_sei": ("GEN",),
}


class InputError(ValueError):
    """Data that cannot be pooled as given; ``row`` is the 1-based data row, if known."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column


def detect_layout(columns) -> str:
    """Which CSV layout a set of column names is; raises InputError naming what is missing."""
    cols = {str(c).strip() for c in columns}
    for name, needed in LAYOUTS.items():
        if set(needed) - {"study"} <= cols:  # study labels are optional
            return name
    best = max(LAYOUTS.items(), key=lambda kv: len(set(kv[1]) & cols))
    missing = [c for c in best[1] if c not in cols]
    shapes = "; ".join(",".join(v) for v in LAYOUTS.values())
    raise InputError(
        f"columns {sorted(cols)} match no known layout (missing {', '.join(missing)} for the "
        f"closest one); expected one of: {shapes}"
    )


def _numeric(df: pd.DataFrame, col: str, *, integer: bool = False, positive: bool = False,
             nonneg: bool = False) -> np.ndarray:
    out = np.empty(len(df))
    for i, raw in enumerate(df[col].tolist()):
        row = i + 1
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == "":
            raise InputError(f"'{col}' is empty", row, col)
        try:
            val = float(str(raw).strip())
        except ValueError:
            raise InputError(f"'{col}' is not a number: {raw!r}", row, col) from None
        if not np.isfinite(val):
            raise InputError(f"'{col}' must be a finite number; found {raw!r}", row, col)
        if integer and val != int(val):
            raise InputError(f"'{col}' must be a whole number; found {raw!r}", row, col)
        if nonneg and val < 0:
            raise InputError(f"'{col}' must not be negative; found {raw!r}", row, col)
        if positive and val <= 0:
            raise InputError(f"'{col}' must be positive; found {raw!r}", row, col)
        out[i] = val
    return out


def effect_sizes(data: pd.DataFrame, measure: str, settings: PoolSettings) -> tuple[EffectSizes, dict]:
    """Compute yi/vi from a DataFrame in one of the layouts; also return the raw columns."""
    layout = detect_layout(data.columns)
    measure = measure.upper()
    allowed = MEASURES_FOR_LAYOUT[layout]
    if measure not in allowed:
        raise InputError(
            f"measure {measure} does not fit the {layout.split('_')[0]} layout "
            f"({', '.join(LAYOUTS[layout])}); use one of: {', '.join(allowed)}"
        )
    data = data.rename(columns=lambda c: str(c).strip())
    raw: dict[str, np.ndarray] = {}
    if layout == "binary":
        for col in ("event_e", "n_e", "event_c", "n_c"):
            raw[col] = _numeric(data, col, integer=True, nonneg=True)
        for ev, n in (("event_e", "n_e"), ("event_c", "n_c")):
            bad = np.flatnonzero(raw[ev] > raw[n])
            if bad.size:
                i = int(bad[0])
                raise InputError(f"{ev} ({raw[ev][i]:g}) exceeds {n} ({raw[n][i]:g})", i + 1, ev)
            zero = np.flatnonzero(raw[n] == 0)
            if zero.size:
                raise InputError(f"{n} must be at least 1", int(zero[0]) + 1, n)
        es = effects.binary(raw["event_e"], raw["n_e"], raw["event_c"], raw["n_c"], measure,
                            settings.zero_cells)
    elif layout == "proportion":
        raw["events"] = _numeric(data, "events", integer=True, nonneg=True)
        raw["n"] = _numeric(data, "n", integer=True, positive=True)
        bad = np.flatnonzero(raw["events"] > raw["n"])
        if bad.size:
            i = int(bad[0])
            raise InputError(f"events ({raw['events'][i]:g}) exceed n ({raw['n'][i]:g})", i + 1,
                             "events")
        es = effects.proportion(raw["events"], raw["n"], measure, settings.zero_cells)
    elif layout == "ratio":
        for col in ("ratio", "ci_lower", "ci_upper"):
            raw[col] = _numeric(data, col, positive=True)
        bad = np.flatnonzero(~((raw["ci_lower"] <= raw["ratio"]) & (raw["ratio"] <= raw["ci_upper"])
                               & (raw["ci_lower"] < raw["ci_upper"])))
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"ratio {raw['ratio'][i]:g} is not inside its CI "
                f"[{raw['ci_lower'][i]:g}, {raw['ci_upper'][i]:g}] (or the CI is reversed)",
                i + 1, "ratio")
        es = effects.ratio_from_ci(raw["ratio"], raw["ci_lower"], raw["ci_upper"], 0.95)
    else:
        raw["yi"] = _numeric(data, "yi")
        if layout == "generic_vi":
            raw["vi"] = _numeric(data, "vi", nonneg=True)
            es = effects.generic(raw["yi"], vi=raw["vi"])
        else:
            raw["sei"] = _numeric(data, "sei", nonneg=True)
            es = effects.generic(raw["yi"], sei=raw["sei"])
    raw["layout"] = layout  # type: ignore[assignment]
    return es, raw


def pool(data: pd.DataFrame, measure: str = "GEN", method: str = "REML", hksj: bool = True,
         hksj_adhoc: bool = False, pi: str = "hts", level: float = 0.95,
         zero_cells: ZeroCellRule | None = None) -> PoolResult:
    """Pool one meta-analysis.

    ``data`` is a DataFrame in one of the layouts of :data:`LAYOUTS`;
    ``measure`` OR/RR/RD (binary), PR/PLO/PAS/PFT (proportion), RATIO (a
    ratio with its 95% CI, analysed as a log ratio) or GEN (yi with vi or sei).
    ``method`` FE, DL, REML, ML, PM, SJ, HE, EB, MH or PETO.
    """
    settings = PoolSettings(measure=measure, method=method, hksj=hksj, hksj_adhoc=hksj_adhoc,
                            pi=pi, level=level, zero_cells=zero_cells or ZeroCellRule())
    if data is None or len(data) == 0:
        raise InputError("no studies to pool")
    es, raw = effect_sizes(data, settings.measure, settings)
    study = [str(s) for s in data["study"].tolist()] if "study" in data else [
        str(i + 1) for i in range(len(data))]
    if settings.method in COUNT_METHODS:
        if raw["layout"] != "binary":
            raise InputError(f"method {settings.method} needs two-group counts "
                             f"(study,event_e,n_e,event_c,n_c)")
        if settings.method == "PETO" and settings.measure != "OR":
            raise InputError("Peto's method gives an odds ratio: use --measure OR")
        return pool_counts(study, es, raw, settings)
    return pool_effects(es, study, settings)


def pool_effects(es: EffectSizes, study: list[str], settings: PoolSettings) -> PoolResult:
    """Pool precomputed effect sizes with an inverse-variance model (FE or random effects)."""
    fit = fit_iv_batch(es.yi[None, :], es.vi[None, :], es.usable[None, :], settings)
    return PoolResult.from_batch(fit, 0, settings, study, es)


def pool_counts(study, es: EffectSizes, raw, settings: PoolSettings) -> PoolResult:
    """Pool two-group counts with Mantel-Haenszel or Peto (``raw``: event_e, n_e, event_c, n_c)."""
    args = (raw["event_e"], raw["n_e"], raw["event_c"], raw["n_c"])
    if settings.method == "MH":
        cf = mantel_haenszel(*args, settings.measure, settings.zero_cells)
    else:
        cf = peto(*args, settings.zero_cells)
        es = effects.binary(*args, effects.PETO, settings.zero_cells)
    return PoolResult.from_counts(cf, settings, study, es)


def pool_batch(df: pd.DataFrame, method: str = "REML", hksj: bool = True,
               hksj_adhoc: bool = False, pi: str = "hts", level: float = 0.95) -> pd.DataFrame:
    """Pool many meta-analyses of generic yi/vi at once (vectorised).

    ``df`` has columns ``analysis, yi, vi`` (one row per study). Returns one
    row per analysis, in first-appearance order, with the same keys as
    ``PoolResult.to_dict()`` (without per-study weights). Numerically
    identical to calling :func:`pool` on each analysis.
    """
    missing = [c for c in ("analysis", "yi", "vi") if c not in df.columns]
    if missing:
        raise InputError(f"pool_batch needs columns analysis, yi, vi; missing {', '.join(missing)}")
    settings = PoolSettings(measure="GEN", method=method, hksj=hksj, hksj_adhoc=hksj_adhoc,
                            pi=pi, level=level)
    if settings.method in COUNT_METHODS:
        raise InputError("pool_batch pools yi/vi; MH and PETO need counts (use pool)")
    codes, names = pd.factorize(df["analysis"], sort=False)
    yi = df["yi"].to_numpy(dtype=float)
    vi = df["vi"].to_numpy(dtype=float)
    n_an = len(names)
    counts = np.bincount(codes, minlength=n_an)
    kmax = int(counts.max()) if n_an else 0
    grouped = bool((codes[1:] >= codes[:-1]).all())  # each analysis' rows already together
    if grouped and n_an and (counts == kmax).all():
        Y, V = yi.reshape(n_an, kmax), vi.reshape(n_an, kmax)
    else:
        # one row per analysis, its studies in file order, padded with nan
        order = np.arange(len(codes)) if grouped else np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        pos = np.arange(len(codes)) - starts[sorted_codes]
        Y = np.full((n_an, kmax), np.nan)
        V = np.full((n_an, kmax), np.nan)
        Y[sorted_codes, pos] = yi[order]
        V[sorted_codes, pos] = vi[order]
    mask = np.isfinite(Y) & np.isfinite(V) & (V > 0)
    fit = fit_iv_batch(Y, V, mask, settings, weights=False)
    out = pd.DataFrame({key: fit[key] for key in PoolResult.BATCH_KEYS}, copy=False)
    out.insert(0, "analysis", names)
    out["method"] = settings.method
    out["ci_type"] = settings.ci_type
    return out
