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


def sig(x: float | None, n: int = 3) -> str:
    """``x`` to ``n`` significant digits ('%g'); an em dash for a missing value."""
    return "—" if x is None or not math.isfinite(x) else f"{x:.{n}g}"


def pct(x: float | None, d: int = 0) -> str:
    """A percentage already on the 0–100 scale: '42%'; an em dash for a missing value."""
    return "—" if x is None or not math.isfinite(x) else f"{x:.{d}f}%"


def effect_ci(est: float, lo: float, hi: float, digits: int = 2) -> str:
    """'1.23 [0.45, 3.21]'; empty if any of the three is not finite."""
    if not all(math.isfinite(x) for x in (est, lo, hi)):
        return ""
    return f"{est:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def p_equals(p: float | None, d: int = 4) -> str:
    """A P value after its relation sign, to ``d`` decimals: '= 0.0312', '< 0.0001'."""
    if p is None or not math.isfinite(p):
        return "—"
    return f"< {10 ** -d:.{d}f}" if p < 10 ** -d else f"= {p:.{d}f}"
