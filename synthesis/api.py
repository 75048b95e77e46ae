"""The Python API: ``pool`` for one meta-analysis, ``pool_batch`` for many.

This is a stable contract that other tools script against:

>>> import pandas as pd, synthesis
>>> df = pd.DataFrame({"study": ["A", "B", "C"], "yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.015]})
>>> res = synthesis.pool(df, measure="GEN", method="REML")
>>> round(res.estimate, 4)
0.1865
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from . import codes, effects
from .codes import Note
from .errors import EXIT_USAGE, CarsynthError
from .constants import DEFAULTS
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


class InputError(CarsynthError, ValueError):
    """Data that cannot be pooled as given. ``row`` is the 1-based data row and ``study`` its
    label, if known; ``missing`` marks a missing value (which ``drop_missing`` would leave out).
    ``str()`` names the row, study and column: "row 2 (B), column 'yi': missing value".
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, row: int | None = None, column: str | None = None,
                 study: str | None = None, missing: bool = False):
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column
        self.study = study
        self.missing = missing

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}" + (f" ({self.study})" if self.study else ""))
        if self.column:
            where.append(f"column '{self.column}'")
        return (", ".join(where) + ": " if where else "") + self.message


# values beyond these cannot be pooled in double precision: the REML score sums w²(y − μ)²
RANGE = 1e50
_MISSING = {"", "na", "n/a", "nan", "null"}  # as R's NA, pandas' NaN and an empty CSV cell


def _is_missing(raw) -> bool:
    if raw is None or raw is pd.NA or (isinstance(raw, float) and np.isnan(raw)):
        return True
    return isinstance(raw, str) and raw.strip().lower() in _MISSING


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
        if _is_missing(raw):
            raise InputError("missing value", row, col, missing=True)
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


def pool(data: pd.DataFrame, measure: str = "GEN", method: str = DEFAULTS.method,
         hksj: bool = DEFAULTS.hksj, hksj_adhoc: bool = DEFAULTS.hksj_adhoc,
         pi: str = DEFAULTS.pi, level: float = DEFAULTS.level,
         zero_cells: ZeroCellRule | None = None, drop_missing: bool = False) -> PoolResult:
    """Pool one meta-analysis.

    ``data`` is a DataFrame in one of the layouts of :data:`LAYOUTS`;
    ``measure`` OR/RR/RD (binary), PR/PLO/PAS/PFT (proportion), RATIO (a
    ratio with its 95% CI, analysed as a log ratio) or GEN (yi with vi or sei).
    ``method`` FE, DL, REML, ML, PM, SJ, HE, EB, MH, PETO or GLMM (PLO or OR
    only: :mod:`synthesis.glmm`). Defaults are
    :data:`synthesis.constants.DEFAULTS` (docs/methods.md, "Defaults").

    A missing value (None, NaN, NA or an empty cell) is an :class:`InputError` naming
    its row, unless ``drop_missing`` leaves such rows out with a warning each (as
    metafor's ``na.action = "na.omit"``). So is data of which no study can be pooled,
    and values too extreme to pool in double precision.
    """
    settings = PoolSettings(measure=measure, method=method, hksj=hksj, hksj_adhoc=hksj_adhoc,
                            pi=pi, level=level, zero_cells=zero_cells or ZeroCellRule())
    if data is None or len(data) == 0:
        raise InputError("no studies to pool")
    data = data.rename(columns=lambda c: str(c).strip()).reset_index(drop=True)
    rows, dropped = _complete_rows(data, drop_missing)
    data = data.iloc[[r - 1 for r in rows]].reset_index(drop=True)
    study = [str(s) for s in data["study"].tolist()] if "study" in data else [
        str(r) for r in rows]
    try:
        es, raw = effect_sizes(data, settings.measure, settings)
        _check_poolable(es, raw, data, rows)
    except InputError as exc:  # name the row as the caller numbers it, and its study
        if exc.row is not None:
            if "study" in data:
                exc.study = _label(study[exc.row - 1])
            exc.row = rows[exc.row - 1]
        raise
    with np.errstate(over="raise"):
        try:
            res = _pool_es(data, es, raw, study, settings)
        except FloatingPointError:
            raise InputError("the numbers are too extreme to pool in double precision "
                             "(an overflow); rescale the data") from None
    res.warnings.extend(Note(codes.DROPPED_MISSING, d) for d in dropped)
    return res


def _label(text: str) -> str:
    return text if len(text) <= 40 else text[:39] + "…"


def _complete_rows(data: pd.DataFrame, drop: bool) -> tuple[list[int], list[str]]:
    """1-based rows without a missing value in the layout's columns, and a note per dropped row."""
    needed = [c for c in LAYOUTS[detect_layout(data.columns)] if c != "study"]
    keep, notes = [], []
    for i, values in enumerate(zip(*(data[c].tolist() for c in needed))):
        gap = next((c for c, v in zip(needed, values) if _is_missing(v)), None)
        if gap is None:
            keep.append(i + 1)
            continue
        label = _label(str(data["study"].iloc[i])) if "study" in data else None
        if not drop:
            raise InputError("missing value", i + 1, gap, label, missing=True)
        notes.append(f"row {i + 1}{f' ({label})' if label else ''} left out: missing value "
                     f"in '{gap}'")
    if not keep:
        raise InputError("every row has a missing value; no study to pool")
    return keep, notes


def _check_poolable(es: EffectSizes, raw: dict, data: pd.DataFrame, rows: list[int]) -> None:
    """At least one usable study, and every usable one within the range of double precision."""
    usable = np.flatnonzero(es.usable)
    if usable.size == 0:
        labels = [f" ({_label(str(x))})" for x in data["study"]] if "study" in data else [
            ""] * len(rows)
        reasons = "; ".join(f"row {rows[i]}{labels[i]}: {es.excluded.get(i, 'not usable')}"
                            for i in range(len(rows)))
        raise InputError(f"no study can be pooled: {reasons}")
    layout = raw["layout"]
    for i in usable:
        y, v = float(es.yi[i]), float(es.vi[i])
        if abs(y) <= RANGE and 1 / RANGE <= v <= RANGE:
            continue
        row = int(i) + 1
        if layout in ("generic_vi", "generic_sei"):
            col = "yi" if abs(y) > RANGE else layout.split("_")[1]
            bound = {"yi": "|yi| at most 1e50", "vi": "vi from 1e-50 to 1e50, or 0 to exclude "
                     "the study", "sei": "sei from 1e-25 to 1e25, or 0 to exclude the study"}[col]
            cell = _label(str(data[col].iloc[i]).strip())
            raise InputError(f"{cell} is outside what can be pooled in double precision "
                             f"({bound}); rescale the data", row, col)
        raise InputError(f"its effect size (yi = {y:.3g}, vi = {v:.3g}) is outside what can be "
                         f"pooled in double precision; check the numbers", row)


def _pool_es(data, es: EffectSizes, raw, study: list[str], settings: PoolSettings) -> PoolResult:
    if settings.method in COUNT_METHODS:
        if raw["layout"] != "binary":
            raise InputError(f"method {settings.method} needs two-group counts "
                             f"(study,event_e,n_e,event_c,n_c)")
        if settings.method == "PETO" and settings.measure != "OR":
            raise InputError("Peto's method gives an odds ratio: use --measure OR")
        return pool_counts(study, es, raw, settings)
    if settings.method == "GLMM":
        if (raw["layout"], settings.measure) not in (("proportion", "PLO"), ("binary", "OR")):
            raise InputError("method GLMM needs proportions with --measure PLO "
                             "(study,events,n) or two-group counts with --measure OR "
                             "(study,event_e,n_e,event_c,n_c)")
        return pool_glmm(study, es, raw, settings)
    return pool_effects(es, study, settings)


def pool_glmm(study: list[str], es: EffectSizes, raw, settings: PoolSettings) -> PoolResult:
    """Binomial GLMM (metafor rma.glmm): PLO from ``raw["events"], raw["n"]``; OR (UM.FS)
    from ``raw["event_e"], raw["n_e"], raw["event_c"], raw["n_c"]``. One usable study:
    its own estimate, as every other method. Data with no finite GLMM estimate (every
    study without events, say) is an :class:`InputError` saying why."""
    from .glmm import GlmmError, glmm_odds_ratio, glmm_proportion

    if int(es.usable.sum()) < 2:
        res = pool_effects(es, study, replace(settings, method="FE"))
        return replace(res, settings=settings)
    try:
        if settings.measure == "PLO":
            fit = glmm_proportion(raw["events"], raw["n"], settings.level)
        else:
            fit = glmm_odds_ratio(raw["event_e"], raw["n_e"], raw["event_c"], raw["n_c"],
                                  settings.level)
    except GlmmError as exc:
        raise InputError(f"GLMM: {exc}") from None
    return PoolResult.from_glmm(fit, settings, study, es)


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


def pool_batch(df: pd.DataFrame, method: str = DEFAULTS.method, hksj: bool = DEFAULTS.hksj,
               hksj_adhoc: bool = DEFAULTS.hksj_adhoc, pi: str = DEFAULTS.pi,
               level: float = DEFAULTS.level) -> pd.DataFrame:
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
    if settings.method == "GLMM":
        raise InputError("pool_batch pools yi/vi; a GLMM needs counts (use pool)")
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
