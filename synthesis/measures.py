"""The measure registry: every fact about an effect measure lives here, once.

For each measure code (OR, RR, RD, HR, RATIO, PETO, PR, PLO, PAS, PFT, GEN):
its display name, the analysis scale, the back-transformation to the display
scale, the null value on the display scale, the digits it is printed with,
whether it is drawn on a log axis or as a proportion, and whether a test
against the null makes sense (it does not for a single-group proportion:
"is the incidence different from 50%?" is not a question anyone asks).

Everything else (effects, results, plots, tables, reports) asks this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Measure:
    code: str
    name: str  # "Odds Ratio": forest-plot header and axis label
    scale: str  # the analysis scale: log, identity, logit, arcsine, freeman-tukey
    scale_note: str  # what the back-transformed numbers are
    null: float | None  # no effect, on the display scale (None: no null)
    digits: int  # decimals of an estimate and its CI in tables and plots
    test_null: bool  # does a test against the null make sense?
    kind: str  # "ratio", "difference", "proportion", "generic"

    @property
    def ratio(self) -> bool:
        """A ratio: analysed as a log, drawn on a log axis with the null at 1."""
        return self.kind == "ratio"

    @property
    def proportion(self) -> bool:
        return self.kind == "proportion"

    def backtransform(self, values, ni=None) -> np.ndarray:
        """Analysis scale -> display scale (exp, inverse logit, inverse arcsine, inverse
        Freeman–Tukey at the harmonic mean of ``ni``)."""
        v = np.asarray(values, dtype=float)
        if self.scale == "log":
            return np.exp(v)
        if self.scale == "logit":
            return 1 / (1 + np.exp(-v))
        if self.scale == "arcsine":
            return np.sin(np.clip(v, 0, np.pi / 2)) ** 2
        if self.scale == "freeman-tukey":
            if ni is None:
                raise ValueError("the Freeman–Tukey back-transformation needs the study sizes")
            return ipft_harmonic(v, ni)
        return v


def _ratio(code: str, name: str, note: str) -> Measure:
    return Measure(code, name, "log", note, 1.0, 2, True, "ratio")


def _prop(code: str, scale: str, note: str) -> Measure:
    return Measure(code, "Proportion", scale, note, None, 3, False, "proportion")


MEASURES: dict[str, Measure] = {m.code: m for m in (
    _ratio("OR", "Odds Ratio", "odds ratio (exp of the pooled log OR)"),
    _ratio("RR", "Risk Ratio", "risk ratio (exp of the pooled log RR)"),
    _ratio("HR", "Hazard Ratio", "hazard ratio (exp of the pooled log HR)"),
    _ratio("RATIO", "Ratio", "ratio (exp of the pooled log ratio)"),
    _ratio("PETO", "Odds Ratio", "odds ratio (exp of the pooled log OR)"),
    Measure("RD", "Risk Difference", "identity", "risk difference (no transformation)", 0.0, 3,
            True, "difference"),
    _prop("PR", "identity", "proportion (no transformation)"),
    _prop("PLO", "logit", "proportion (inverse logit)"),
    _prop("PAS", "arcsine", "proportion (inverse arcsine square root)"),
    _prop("PFT", "freeman-tukey",
          "proportion (inverse Freeman-Tukey at the harmonic mean of n, Miller 1978)"),
    Measure("GEN", "Effect", "identity", "as analysed (no transformation)", 0.0, 2, True,
            "generic"),
)}

#: measures analysed as log ratios
RATIO = tuple(c for c, m in MEASURES.items() if m.ratio)
#: single-group proportions
PROPORTION = tuple(c for c, m in MEASURES.items() if m.proportion)


def get(code: str) -> Measure:
    """The registry entry of a measure code (case-insensitive)."""
    try:
        return MEASURES[code.upper()]
    except KeyError:
        raise ValueError(f"unknown measure {code!r}; measures are: {', '.join(MEASURES)}") from None


def backtransform(measure: str, values, ni=None) -> np.ndarray:
    """Analysis scale -> display scale for ``measure`` (see :meth:`Measure.backtransform`)."""
    return get(measure).backtransform(values, ni)


def ipft_harmonic(t, ni) -> np.ndarray:
    """Inverse of the Freeman–Tukey double arcsine at the harmonic mean of n.

    Miller JJ. The inverse of the Freeman–Tukey double arcsine transformation.
    Am Stat 1978;32:138, eq. (3), with n the harmonic mean of the study sizes;
    clamped to [0, 1] outside the transformation's range, as metafor's
    transf.ipft.hm does.
    """
    t = np.asarray(t, dtype=float)
    n_arr = np.asarray(ni, dtype=float)
    nhm = 1 / np.mean(1 / n_arr[np.isfinite(n_arr)])
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sin(2 * t)
        inner = 1 - (s + (s - 1 / s) / nhm) ** 2
        p = 0.5 * (1 - np.sign(np.cos(2 * t)) * np.sqrt(inner))
    lo = 0.5 * (np.arcsin(0.0) + np.arcsin(np.sqrt(1 / (nhm + 1))))
    hi = 0.5 * (np.arcsin(np.sqrt(nhm / (nhm + 1))) + np.arcsin(1.0))
    p = np.where(t > hi, 1.0, np.where(t < lo, 0.0, p))
    return p
