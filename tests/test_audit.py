"""The audit: 2×2 tests worked by hand and in R, ratio checks, table p-columns, and no false alarm
on the seed papers' correct figures."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from extract.audit import audit, audit_text, table_findings, text_tables, two_by_two_pvalues
from extract.text import load_document

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason="seed papers not found at ../shared/seeds")


def phi_upper(z: float) -> float:
    """1 − Φ(z) from the complementary error function (by hand, not the code under test)."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def test_issue_example_is_the_wald_test_on_the_log_rr_worked_by_hand():
    # 4/15 vs 13/26.  RR = (4/15)/(13/26) = 0.26667/0.5 = 0.53333.
    # SE(ln RR) = sqrt(1/4 − 1/15 + 1/13 − 1/26) = sqrt(0.25 − 0.066667 + 0.076923 − 0.038462)
    #           = sqrt(0.221795) = 0.470951.
    # z = ln 0.53333 / 0.470951 = −0.628609 / 0.470951 = −1.33477;  p = 2(1 − Φ(1.33477)) = 0.18195.
    # 95% CI: exp(−0.628609 ± 1.959964 × 0.470951) = 0.2119 to 1.3424, printed 0.21-1.34.
    se = math.sqrt(1 / 4 - 1 / 15 + 1 / 13 - 1 / 26)
    assert se == pytest.approx(0.470951, abs=1e-6)
    z = math.log(0.53333333333) / se
    assert z == pytest.approx(-1.33477, abs=1e-5)
    assert 2 * phi_upper(abs(z)) == pytest.approx(0.18195, abs=1e-5)
    assert math.exp(math.log(8 / 15) - 1.959964 * se) == pytest.approx(0.2119, abs=1e-4)
    assert math.exp(math.log(8 / 15) + 1.959964 * se) == pytest.approx(1.3424, abs=1e-4)
    p = two_by_two_pvalues(4, 15, 13, 26)
    assert p["Wald test on log RR"] == pytest.approx(0.181953, abs=1e-6)
    findings = audit_text("4/15 vs 13/26, RR 0.53 (95% CI, 0.21-1.34), p=0.18")
    assert [f.severity for f in findings] == ["note"]
    assert "reported p = 0.18 is reproduced by Wald test on log RR (" in findings[0].message


def test_two_by_two_tests_against_r_and_by_hand():
    p = two_by_two_pvalues(4, 15, 13, 26)
    # R 4.2: O <- matrix(c(4,13,11,13),2); G <- 2*sum(O*log(O/E)); pchisq(G,1,lower.tail=FALSE)
    assert p["likelihood-ratio test"] == pytest.approx(0.138372672125, rel=1e-9)
    assert p["chi-square"] == pytest.approx(0.144088641404, rel=1e-9)  # chisq.test(O, correct=FALSE)
    assert p["chi-square with Yates' correction"] == pytest.approx(0.257774451056, rel=1e-9)
    assert p["Fisher's exact test"] == pytest.approx(0.195438757893, rel=1e-9)  # fisher.test(O)
    # log OR: OR = (4·13)/(11·13) = 0.363636, SE = sqrt(1/4 + 1/11 + 1/13 + 1/13) = 0.703388,
    # z = −1.011601/0.703388 = −1.43819, p = 0.15038
    assert p["Wald test on log OR"] == pytest.approx(0.15038, abs=1e-5)
    # RD: 0.266667 − 0.5 = −0.233333, SE = sqrt(0.266667·0.733333/15 + 0.25/26) = 0.150507,
    # z = −1.55030, p = 0.12107
    assert p["Wald test on RD"] == pytest.approx(0.12107, abs=1e-5)


def test_a_zero_cell_leaves_out_the_tests_it_makes_undefined():
    p = two_by_two_pvalues(26, 26, 67, 75)  # zhang2025 Table 3: RUX 26/26 vs 67/75
    assert "Wald test on log OR" not in p and "likelihood-ratio test" not in p
    assert p["chi-square with Yates' correction"] == pytest.approx(0.189, abs=5e-4)  # the reported p


@pytest.mark.parametrize("text, severity, words", [
    ("HR 0.60 (95% CI 0.21-0.96)", "warning", "is not the geometric centre"),
    ("OR 1.5 (95% CI 0.2-0.9)", "error", "lies outside its CI"),
    ("HR 0.45 (95% CI 0.21–0.96), p = 0.40", "warning", "a Wald test gives p between 0.033 and 0.046"),
    ("the adjusted hazard ratio was 0.37 [0.16; 0.84], p = 0.017", None, None),
    ("p = 1.30 for the comparison", "error", "a p-value over 1"),
    ("the CR rate was 86.96% (40/46)", None, None),
    ("the CR rate was 88.96% (40/46)", "warning", "88.96% does not match 40/46 = 86.957%"),
    ("relapse occurred in 8/115 (6.95%)", "note", "cut off, not rounded"),
])
def test_ratio_count_and_p_checks(text, severity, words):
    findings = [f for f in audit_text(text) if f.kind != "2x2 test"]
    if severity is None:
        assert findings == []
    else:
        assert [f.severity for f in findings] == [severity] and words in findings[0].message


def test_a_p_value_column_holding_a_number_above_1_is_impossible():
    text = ("Characteristic\tTotal (N = 45)\tToci (N = 17)\tNon-toci (N = 28)\tP\tP [#]\n"
            "Male, No. (%)\t24 (53.3)\t8 (47.1)\t16 (57.1)\t0.511\t5.11\n"
            "ICANS, No. (%)\t2 (4.4)\t2 (11.8)\t0 (0)\t0.267\t0.99\n")
    tables = text_tables(text)
    assert len(tables) == 1 and tables[0]["line"] == 1
    errors = table_findings(tables[0]["rows"], page=3)
    assert [(f.severity, f.line, f.message) for f in errors] == [
        ("error", 2, "the p-value column 'P [#]' holds 5.11 (p cannot exceed 1)")]
    # a PDF table (rows from pymupdf) with a 'p-value' header
    rows = [["Group", "CR", "p-value"], ["GC", "53", "0.17"], ["TCZ", "74", "14"]]
    assert [f.message for f in table_findings(rows, 1)] == ["the p-value column 'p-value' holds 14 (p cannot exceed 1)"]


@needs_seeds
def test_no_false_alarm_on_the_seed_papers_only_their_real_inconsistencies():
    """Every warning or error on the seeds is one of their known misprints (see studies/*.yaml)."""
    expected = {
        "002_5054636f0ebafb8c.txt": ["16 (5.3%) matches none", "16 (5.3%) matches none", "8 (2.65%) matches none"],
        "003_313b9b40461b041d.txt": ["84.8% does not match 38/45", "2 (4.5%) matches none"],
        "004_2a7ad2f43d66f458.txt": ["84.8% does not match 38/45", "2 (4.5%) matches none"]
        + [f"'P [#]' holds {v} (p cannot exceed 1)" for v in ("5.11", "10", "3.95", "10", "1.06", "2.67")],
    }
    for seed in ("000_71deb3a1bf788464.txt", "001_71446caf5eda71fc.txt", "002_5054636f0ebafb8c.txt",
                 "003_313b9b40461b041d.txt", "004_2a7ad2f43d66f458.txt"):
        alarms = [f.message for f in audit(load_document(SEEDS / seed)) if f.severity != "note"]
        want = expected.get(seed, [])
        assert len(alarms) == len(want), (seed, alarms)
        for w in want:
            assert any(w in a for a in alarms), (seed, w, alarms)
