"""Number formatting for tables, plots and reports (one set, used everywhere)."""

from __future__ import annotations

import math


def fixed(x: float | None, d: int = 2) -> str:
    """``x`` with ``d`` decimals; an em dash for a missing or non-finite value."""
    return "—" if x is None or not math.isfinite(x) else f"{x:.{d}f}"


def p_value(p: float | None) -> str:
    """A P value as in RevMan: '< 0.001', three decimals below 0.01, else two."""
    if p is None or not math.isfinite(p):
        return "—"
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"
