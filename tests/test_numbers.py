"""extract/numbers.py and parse_p: rounding-aware arithmetic on numbers as printed."""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

import pytest

from extract.numbers import (
    number_pattern,
    p_from_ci_range,
    p_interval,
    percent_consistent,
    printed,
    ratio_centre_consistent,
)
from extract.schema import parse_p

# --- printed -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, body, value, half, decimals",
    [
        ("0.40", "0.40", Fraction(2, 5), Fraction(1, 200), 2),
        ("86.96%", "86.96", Fraction(8696, 100), Fraction(1, 200), 2),
        ("<0.001", "0.001", Fraction(1, 1000), Fraction(1, 2000), 3),
        ("≤ 0.05", "0.05", Fraction(1, 20), Fraction(1, 200), 2),
        ("13", "13", Fraction(13), Fraction(1, 2), 0),
        (".37", ".37", Fraction(37, 100), Fraction(1, 200), 2),
        ("1e-3", "1e-3", Fraction(1, 1000), Fraction(1, 2000), 3),
        (45, "45", Fraction(45), Fraction(1, 2), 0),
    ],
)
def test_printed_keeps_the_precision(text, body, value, half, decimals):
    p = printed(text)
    assert (p.text, p.value, p.half_ulp, p.decimals) == (body, value, half, decimals)
    assert (p.lo, p.hi) == (value - half, value + half)


@pytest.mark.parametrize("text", ["", "abc", "12.5.1", "0,45", "NaN", "5 %x"])
def test_printed_refuses_non_numbers(text):
    with pytest.raises(ValueError, match="not a number"):
        printed(text)


# --- percent_consistent ----------------------------------------------------------------


@pytest.mark.parametrize(
    "events, total, text, ok",
    [
        # 1/8 = 12.5% exactly: a rounding boundary, both neighbours are consistent
        (1, 8, "13", True),
        (1, 8, "12", True),
        (1, 8, "12.5", True),
        (1, 8, "12.50", True),
        (1, 8, "12.4", False),
        (1, 8, "12.6", False),
        (1, 8, "14", False),
        # 1/16 = 6.25%: boundary at one decimal
        (1, 16, "6.2", True),
        (1, 16, "6.3", True),
        (1, 16, "6.24", False),
        # 2/3 = 66.666...%
        (2, 3, "66.67", True),
        (2, 3, "66.66", False),
        (2, 3, "67", True),
        (2, 3, "66.7", True),
        (2, 3, "66.6", False),
        (2, 3, "66", False),
        # zero decimals
        (27, 30, "90", True),
        (27, 30, "91", False),
        (50, 60, "83", True),
        (50, 60, "84", False),
        # trailing zeros keep their precision
        (2, 5, "40.0", True),
        (2, 5, "40.00", True),
        (2, 5, "40", True),
        (2, 5, "40.1", False),
        (27, 30, "90.0", True),
        # the seed papers' misprints (ma2024)
        (16, 93, "5.3", False),
        (8, 93, "2.65", False),
        (45, 93, "48.3", False),
        (45, 93, "48.4", True),
        (40, 46, "86.96", True),
        (53, 55, "96.36", True),
        # extremes
        (0, 12, "0", True),
        (0, 12, "0.0", True),
        (12, 12, "100", True),
        (12, 12, "100.0", True),
        (1, 1000, "0.1", True),
        (1, 1000, "0", True),  # 0.1% printed with no decimals
        (1, 100, "0", False),  # 1% is not "0"
        (1, 3, "33.33%", True),
    ],
)
def test_percent_consistent(events, total, text, ok):
    assert percent_consistent(events, total, text) is ok


def test_percent_consistent_total_zero_is_never_consistent():
    assert percent_consistent(0, 0, "0") is False


# --- ratio_centre_consistent -----------------------------------------------------------


def test_ratio_centre_hr_037():
    ok, lo, hi = ratio_centre_consistent("0.37", "0.16", "0.84")
    assert ok is True
    # the geometric centre over the rounding box [0.155, 0.165] x [0.835, 0.845]
    assert lo == pytest.approx(math.sqrt(0.155 * 0.835), rel=1e-12)
    assert hi == pytest.approx(math.sqrt(0.165 * 0.845), rel=1e-12)
    assert (round(lo, 4), round(hi, 4)) == (0.3598, 0.3734)


def test_ratio_centre_hr_045():
    ok, lo, hi = ratio_centre_consistent("0.45", "0.21", "0.96")
    assert ok is True
    assert lo == pytest.approx(math.sqrt(0.205 * 0.955), rel=1e-12)
    assert hi == pytest.approx(math.sqrt(0.215 * 0.965), rel=1e-12)


def test_ratio_centre_hr_060_is_off_centre():
    ok, lo, hi = ratio_centre_consistent("0.60", "0.21", "0.96")
    assert ok is False
    assert hi < 0.595  # the estimate's rounding interval [0.595, 0.605] lies above the centre


@pytest.mark.parametrize(
    "est, lo, hi, ok",
    [
        ("0.44", "0.20", "0.93", True),   # zhang2025 Table 5
        ("2.07", "1.09", "3.93", True),   # zhang2025, sex
        ("1.23", "0.62", "2.44", True),
        ("1.0", "0.5", "2.0", True),
        ("1.5", "0.5", "2.0", False),
        ("0.84", "0.24", "2.88", True),
        ("0.49", "0.06", "3.98", True),
        ("0.9", "0.21", "0.96", False),
    ],
)
def test_ratio_centre_more_cases(est, lo, hi, ok):
    assert ratio_centre_consistent(est, lo, hi)[0] is ok


# --- p_from_ci_range (Altman & Bland 2011) -------------------------------------------------

_N = NormalDist()


def wald_p(est: float, lower: float, upper: float, level: float = 0.95) -> float:
    """By hand: SE = (ln U - ln L) / (2 z), z = |ln est| / SE, p = 2 (1 - Phi(z))."""
    zcrit = _N.inv_cdf(0.5 + level / 2)
    se = (math.log(upper) - math.log(lower)) / (2 * zcrit)
    return 2 * (1 - _N.cdf(abs(math.log(est)) / se))


def test_p_from_ci_hr_045():
    lo, hi = p_from_ci_range("0.45", "0.21", "0.96")
    # the printed values themselves: SE = 0.3878, z = 2.059, p = 0.0394
    assert wald_p(0.45, 0.21, 0.96) == pytest.approx(0.039446, abs=1e-6)
    assert lo < wald_p(0.45, 0.21, 0.96) < hi
    # extremes: estimate farthest from 1 with the narrowest CI, and nearest with the widest
    assert lo == pytest.approx(wald_p(0.445, 0.215, 0.955), rel=1e-9)
    assert hi == pytest.approx(wald_p(0.455, 0.205, 0.965), rel=1e-9)
    assert (round(lo, 4), round(hi, 4)) == (0.0333, 0.0463)


def test_p_from_ci_altman_bland_example():
    # BMJ 2011;343:d2304: RR 0.81 (95% CI 0.70 to 0.94) gives P = 0.005
    lo, hi = p_from_ci_range("0.81", "0.70", "0.94")
    assert wald_p(0.81, 0.70, 0.94) == pytest.approx(0.00508, abs=1e-5)
    assert lo < 0.005 < hi
    assert lo == pytest.approx(wald_p(0.805, 0.705, 0.935), rel=1e-9)
    assert hi == pytest.approx(wald_p(0.815, 0.695, 0.945), rel=1e-9)


def test_p_from_ci_seed_table5():
    # zhang2025 Table 5: HR 0.37 (0.16-0.84), p = 0.017
    lo, hi = p_from_ci_range("0.37", "0.16", "0.84")
    assert lo < 0.017 < hi
    assert (round(lo, 4), round(hi, 4)) == (0.0148, 0.0234)


def test_p_from_ci_other_level():
    lo, hi = p_from_ci_range("0.45", "0.21", "0.96", level=0.99)
    assert lo == pytest.approx(wald_p(0.445, 0.215, 0.955, 0.99), rel=1e-9)
    assert hi == pytest.approx(wald_p(0.455, 0.205, 0.965, 0.99), rel=1e-9)
    assert hi < p_from_ci_range("0.45", "0.21", "0.96")[0]  # a 99% CI this wide means smaller p


def test_p_from_ci_estimate_straddling_one_reaches_p_1():
    lo, hi = p_from_ci_range("1.0", "0.5", "2.0")
    assert hi == 1.0
    # |ln 0.95| > ln 1.05: the far end of the estimate, with the narrowest CI
    assert lo == pytest.approx(wald_p(0.95, 0.55, 1.95), rel=1e-9)


def test_p_from_ci_reversed_limits_give_no_information():
    assert p_from_ci_range("0.45", "0.96", "0.21") == (0.0, 1.0)


# --- p_interval and parse_p -------------------------------------------------------------------


@pytest.mark.parametrize(
    "op, text, lo, hi",
    [
        ("<", "<0.001", 0.0, 0.001),
        ("<", "0.001", 0.0, 0.001),
        ("<=", "≤0.05", 0.0, 0.05),
        ("=", "=0.032", 0.0315, 0.0325),
        ("=", "0.032", 0.0315, 0.0325),
        ("=", "0.70", 0.695, 0.705),
        ("=", "0.7", 0.65, 0.75),
        (">", ">0.05", 0.05, 1.0),
        ("=", "1.0", 0.95, 1.0),  # capped at 1
        ("=", "1", 0.5, 1.0),
    ],
)
def test_p_interval(op, text, lo, hi):
    got = p_interval(op, text)
    assert got == pytest.approx((lo, hi), abs=1e-15)


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.03, ("=", 0.03)),
        (1, ("=", 1.0)),
        ("0.03", ("=", 0.03)),
        ("<0.001", ("<", 0.001)),
        ("< 0.001", ("<", 0.001)),
        ("<.001", ("<", 0.001)),
        (">0.05", (">", 0.05)),
        ("≤0.05", ("<=", 0.05)),
        ("≥ 0.5", (">=", 0.5)),
        ("<=0.05", ("<=", 0.05)),
        (" = 0.032 ", ("=", 0.032)),
        ("1e-5", ("=", 1e-5)),
        ("<1E-10", ("<", 1e-10)),
    ],
)
def test_parse_p(value, expected):
    assert parse_p(value) == expected


@pytest.mark.parametrize("value", ["about 0.05", "p<0.05", "0.05%", "n.s.", "", "<", "0.05*", True])
def test_parse_p_refuses(value):
    with pytest.raises(ValueError, match="not a p-value"):
        parse_p(value)


# --- number_pattern ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number, text, found",
    [
        ("46", "46 patients", True),
        ("46", "(n = 46)", True),
        ("46", "46%", True),
        ("46", "were 46.", True),
        ("46", "46/93", True),
        ("46", "146 patients", False),
        ("46", "4.46", False),
        ("46", "46.5", False),
        ("46", "460", False),
        ("46", "0.46", False),
        ("0.37", "HR .37 (95% CI .16-.84)", True),
        ("0.37", "HR 0.37", True),
        ("0.37", "HR 10.37", False),
        ("0.37", "0.375", False),
        (".37", "HR 0.37", False),  # typed .37 must be printed .37
        ("1280", "1,280 patients", True),
        ("1280", "1280 patients", True),
        ("1280", "11,280 patients", False),
        ("1280", "1,2800", False),
        ("10000", "10,000 cells", True),
        ("0.40", "0.40", True),
        ("0.40", "0.4", False),  # numbers as written
        ("0.4", "0.40", False),
        ("86.96", "86.96%", True),
        ("86.96%", "86.96%", True),
        ("<0.001", "p < 0.001", True),
        ("<0.001", "p<.001", True),
        ("0.001", "p = 0.0015", False),
        ("8.0", "aged 8.0 years", True),
        ("8", "aged 8.0 years", False),
    ],
)
def test_number_pattern(number, text, found):
    assert bool(number_pattern(number).search(text)) is found


def test_number_pattern_not_inside_grouped_thousands():
    assert number_pattern("280").search("1,280 patients") is None


# --- bounded parsing (issue 13, item 2) ---------------------------------------------------


@pytest.mark.parametrize("text, why", [
    ("0.0e-99999999", "exponent out of range"),  # YAML reads 0.0; Fraction(10)**-99999999 hung
    ("1e99999", "exponent out of range"),
    ("1e-309", "exponent out of range"),  # below the smallest normal float
    ("1.8e308", "not representable"),  # rounds past the largest float
    ("9" * 80, "too long"),
])
def test_printed_refuses_unbounded_numbers_quickly(text, why):
    import time

    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=why):
        printed(text)
    assert time.perf_counter() - t0 < 0.05


def test_printed_keeps_the_largest_and_smallest_normal_floats():
    assert float(printed("1.79769e+308").value) == 1.79769e308
    assert printed("1e-300").half_ulp == Fraction(1, 2 * 10**300)
    assert printed("0.000").value == 0
