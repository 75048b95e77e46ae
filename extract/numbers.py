"""Rounding-aware arithmetic on numbers as they were printed.

A number printed as "86.96" stands for any value in [86.955, 86.965]; the
checks here ask whether a printed number is consistent with what it should
equal, allowing exactly that much.  Exact rationals are used so that values
on a rounding boundary (12.5 printed as "13" or as "12") are judged
correctly rather than by floating-point luck.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from statistics import NormalDist

_STD_NORMAL = NormalDist()

_NUM = re.compile(r"^\s*[<>≤≥=]*\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*%?\s*$")


@dataclass(frozen=True)
class Printed:
    """A printed number: its exact value and the half-width of its rounding interval."""

    text: str
    value: Fraction
    half_ulp: Fraction

    @property
    def lo(self) -> Fraction:
        return self.value - self.half_ulp

    @property
    def hi(self) -> Fraction:
        return self.value + self.half_ulp

    @property
    def decimals(self) -> int:
        return max(0, -Decimal(self.text).as_tuple().exponent)  # type: ignore[operator]


#: Longest printed number accepted, and the widest decimal exponent: a paper prints
#: nothing longer or smaller, and the bounds keep exact arithmetic on any input fast
#: ("0.0e-99999999" would otherwise build a hundred-million-digit power of ten).
MAX_NUMBER_CHARS = 64
MAX_EXPONENT = 400


def printed(text: str | float | int) -> Printed:
    """Parse a printed number ("0.40", "86.96%", "<0.001") keeping its precision.

    Only finite numbers a float can hold are accepted (a decimal exponent within
    ±MAX_EXPONENT, at most MAX_NUMBER_CHARS characters); anything else is a
    ValueError, so every call takes bounded time.
    """
    s = str(text)
    if len(s) > MAX_NUMBER_CHARS:
        raise ValueError(f"not a number: {s[:MAX_NUMBER_CHARS]!r}… (too long)")
    m = _NUM.match(s)
    if not m:
        raise ValueError(f"not a number: {text!r}")
    body = m.group(1)
    try:
        dec = Decimal(body)
    except InvalidOperation:  # pragma: no cover - the regex admits only numbers
        raise ValueError(f"not a number: {text!r}") from None
    exponent = dec.as_tuple().exponent
    assert isinstance(exponent, int)
    if abs(exponent) > MAX_EXPONENT or (not dec.is_zero() and abs(dec.adjusted()) > 308):
        raise ValueError(f"not a number: {text!r} (exponent out of range)")
    if not math.isfinite(float(dec)):  # 1.8e308: the digits round past the largest float
        raise ValueError(f"not a number: {text!r} (not representable)")
    half = Fraction(1, 2) * Fraction(10) ** exponent
    return Printed(text=body, value=Fraction(dec), half_ulp=half)


def percent_consistent(events: int, total: int, percent_text: str) -> bool:
    """Is the printed percentage a rounding of 100·events/total? (boundaries inclusive)"""
    if total == 0:
        return False
    p = printed(percent_text)
    exact = Fraction(100 * events, total)
    return p.lo <= exact <= p.hi


def percent_truncated(events: int, total: int, percent_text: str) -> bool:
    """Is the printed percentage 100·events/total cut off (not rounded) at its decimals?

    Some papers truncate: 8/115 = 6.9565% printed "6.95". The exact value then lies
    in [printed, printed + one unit of the last digit).
    """
    if total == 0:
        return False
    p = printed(percent_text)
    exact = Fraction(100 * events, total)
    return p.value <= exact < p.value + 2 * p.half_ulp


def ratio_centre_consistent(est: str, lower: str, upper: str) -> tuple[bool, float, float]:
    """Could a Wald CI's geometric centre √(L·U) equal the estimate, given rounding?

    For a CI built as exp(b ± z·se) the estimate exp(b) is exactly the
    geometric mean of the limits; rounding each printed number to its decimals
    widens that to an interval. Returns (consistent, centre_lo, centre_hi).
    """
    e, lo, hi = printed(est), printed(lower), printed(upper)
    c_lo = math.sqrt(float(max(lo.lo, Fraction(0))) * float(max(hi.lo, Fraction(0))))
    c_hi = math.sqrt(float(lo.hi) * float(hi.hi))
    ok = not (c_hi < float(e.lo) or c_lo > float(e.hi))
    return ok, c_lo, c_hi


def p_from_ci_range(est: str, lower: str, upper: str, level: float = 0.95) -> tuple[float, float]:
    """Range of two-sided Wald p-values compatible with a printed ratio and CI.

    Altman DG, Bland JM. How to obtain the P value from a confidence interval.
    BMJ 2011;343:d2304: SE = (ln U − ln L)/(2·z_{level}), z = ln(est)/SE,
    p from the normal distribution (here exactly, not their polynomial
    approximation). Each printed number ranges over its rounding interval.
    """
    e, lo, hi = printed(est), printed(lower), printed(upper)
    zcrit = _STD_NORMAL.inv_cdf(0.5 + level / 2)
    ps = []
    eps = 1e-300
    for ev in (e.lo, e.hi):
        for lv in (lo.lo, lo.hi):
            for uv in (hi.lo, hi.hi):
                lf, uf, ef = float(max(lv, eps)), float(uv), float(max(ev, eps))
                if uf <= lf:
                    continue
                se = (math.log(uf) - math.log(lf)) / (2 * zcrit)
                z = abs(math.log(ef)) / se
                ps.append(2 * _normal_tail(z))
    # the estimate interval may straddle 1 (z = 0, p = 1)
    if e.lo <= 1 <= e.hi:
        ps.append(1.0)
    if not ps:
        return (0.0, 1.0)
    return (min(ps), max(ps))


def _normal_tail(z: float) -> float:
    """Upper normal tail for large z, where 1 − cdf loses all precision."""
    return math.erfc(z / math.sqrt(2)) / 2


def p_interval(op: str, text: str) -> tuple[float, float]:
    """The values a reported p could stand for: '=0.032' -> [0.0315, 0.0325]; '<0.001' -> (0, 0.001]."""
    p = printed(text)
    if op in ("<", "<="):
        return (0.0, float(p.value))
    if op in (">", ">="):
        return (float(p.value), 1.0)
    return (float(p.lo), float(min(p.hi, Fraction(1))))


def number_pattern(text: str) -> re.Pattern[str]:
    """Regex finding a printed number as a whole number inside a quote.

    "46" must not match inside "146" or "4.46"; ".37" in a quote matches 0.37;
    "1280" matches "1,280".
    """
    body = printed(text).text.lstrip("+")
    alternatives = {re.escape(body)}
    if body.startswith("0."):
        alternatives.add(re.escape(body[1:]))
    int_part, _, frac = body.partition(".")
    if len(int_part) > 3 and int_part.isdigit():
        grouped = f"{int(int_part):,}" + ("." + frac if frac else "")
        alternatives.add(re.escape(grouped))
    alt = "|".join(sorted(alternatives, key=len, reverse=True))
    # not the tail of a longer number ("146", "4.46", "1,280") nor its head
    return re.compile(rf"(?<![\d.])(?<!\d,)(?:{alt})(?!\d|\.\d|,\d{{3}})")
