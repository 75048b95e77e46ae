"""`carsynth pool FILE.csv`: the printed text, and one clear line for every input it cannot pool.

Reference values:
* CRS incidence (the shipped review's crs_any_incidence data), R metafor 3.8-1:
    rma(measure="PLO", xi=c(76,110,41), ni=c(93,120,45), method="REML", test="adhoc")
      predict(transf=transf.ilogit): 0.8820546144 [0.6476681524, 0.9681780471]
    the same with test="knha":                  [0.6689266465, 0.9651331698]
* k = 1 (76 of 93), by hand: logit(76/93) = ln(76/17) = 1.49752; vi = 1/76 + 1/17 = 0.0719814;
  SE = 0.268293; Wald CI 1.49752 -/+ 1.959964 * 0.268293 = [0.97168, 2.02336];
  back-transformed 1/(1 + exp(-x)): 0.81720 [0.72545, 0.88323].
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

import synthesis
from synthesis.api import InputError
from synthesis.cli import main

CRS = "study,events,n\nMa 2024,76,93\nZhang 2025,110,120\nZhou 2025,41,45\n"


def _pool(tmp_path, capsys, text: str, *args: str):
    path = tmp_path / "x.csv"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy warning reaching the user fails the test
        rc = main(["pool", str(path), *args])
    out, err = capsys.readouterr()
    return rc, out, err.replace(str(path), "x.csv")


def _one_error(rc, err) -> str:
    assert rc == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Warning" not in err
    return lines[0]


def test_default_ci_is_the_plans_ad_hoc_hksj(tmp_path, capsys):
    rc, out, _ = _pool(tmp_path, capsys, CRS, "--measure", "PLO")
    assert rc == 0
    assert out.splitlines()[0] == "REML meta-analysis of PLO, k = 3  (CI: HKSJ ad hoc t(2))"
    assert "back-transformed           0.8821   [0.6477, 0.9682]" in out
    rc, out, _ = _pool(tmp_path, capsys, CRS, "--measure", "PLO", "--hksj")
    assert "(CI: HKSJ t(2))" in out and "[0.6689, 0.9651]" in out


def test_k1_prints_the_study_without_test_or_heterogeneity(tmp_path, capsys):
    rc, out, _ = _pool(tmp_path, capsys, "study,events,n\nMa 2024,76,93\n", "--measure", "PLO")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "PLO, k = 1: a single study, nothing pooled (CI: the study's own Wald z)"
    assert "  analysis scale             1.4975   [0.9717, 2.0234]   SE 0.2683" in lines
    assert "  back-transformed           0.8172   [0.7255, 0.8832]   proportion (inverse logit)" \
        in lines
    for absent in ("HKSJ", "t(", "heterogeneity:", "Q =", "I²", "τ²", "H² =", ", p ",
                   "prediction interval"):
        assert absent not in out, absent


@pytest.mark.parametrize("rows, col, value", [
    ("A,1e308,1\nB,-1e308,1\nC,0.5,0.1\n", "yi", "1e308"),
    ("A,0.1,1e-300\nB,0.2,1e-300\nC,0.5,0.1\n", "vi", "1e-300"),
])
def test_values_beyond_double_precision_are_one_clear_error(tmp_path, capsys, rows, col, value):
    rc, _, err = _pool(tmp_path, capsys, "study,yi,vi\n" + rows, "--measure", "GEN")
    line = _one_error(rc, err)
    assert line.startswith(f"carsynth pool: x.csv:2: row 1 (A), column '{col}': {value} ")
    assert "rescale" in line


def test_all_rows_excluded_is_an_error(tmp_path, capsys):
    rc, _, err = _pool(tmp_path, capsys, "study,event_e,n_e,event_c,n_c\nA,0,10,0,10\nB,0,12,0,9\n",
                       "--measure", "OR")
    line = _one_error(rc, err)
    assert line.startswith("carsynth pool: x.csv: no study can be pooled: row 1 (A): no events in "
                           "either group")
    assert "row 2 (B): no events in either group" in line


def test_duplicated_column_is_an_error(tmp_path, capsys):
    rc, _, err = _pool(tmp_path, capsys, "study,yi,vi,yi\nA,0.1,0.1,5\nB,0.2,0.1,6\n",
                       "--measure", "GEN")
    assert _one_error(rc, err) == ("carsynth pool: x.csv:1: column 'yi' appears twice in the "
                                   "header (columns 2 and 4)")


def test_unknown_column_is_an_error(tmp_path, capsys):
    rc, _, err = _pool(tmp_path, capsys, "study,yi,vi,notes\nA,0.1,0.1,x\nB,0.2,0.1,y\n",
                       "--measure", "GEN")
    assert _one_error(rc, err) == ("carsynth pool: x.csv:1: column 'notes' is not part of the "
                                   "study,yi,vi layout; remove or rename it")


def test_vi_and_sei_together_is_an_error(tmp_path, capsys):
    rc, _, err = _pool(tmp_path, capsys, "study,yi,vi,sei\nA,0.1,0.01,0.1\nB,0.2,0.04,0.2\n",
                       "--measure", "GEN")
    assert _one_error(rc, err) == ("carsynth pool: x.csv:1: column 'sei' is not part of the "
                                   "study,yi,vi layout; remove or rename it")


@pytest.mark.parametrize("text, line", [
    ("study,yi,vi\nA,0.1,0.1,9\nB,0.2,0.1\n", 2),  # pandas took column 1 as an index here
    ("study,yi,vi\nA,0.1,0.1\nB,0.2,0.1,9\n", 3),
])
def test_row_with_extra_fields_names_its_line(tmp_path, capsys, text, line):
    rc, _, err = _pool(tmp_path, capsys, text, "--measure", "GEN")
    assert _one_error(rc, err) == (f"carsynth pool: x.csv:{line}: 4 fields where the header has 3 "
                                   f"(quote a value that contains a comma)")


def test_row_with_missing_fields_names_its_line(tmp_path, capsys):
    rc, _, err = _pool(tmp_path, capsys, "study,yi,vi\nA,0.1,0.1\nB,0.2\n", "--measure", "GEN")
    assert _one_error(rc, err) == "carsynth pool: x.csv:3: 2 fields where the header has 3"


def test_missing_value_names_the_row_and_suggests_drop_missing(tmp_path, capsys):
    text = "study,yi,vi\nA,0.1,0.1\nB,,0.1\nC,0.3,NA\nD,0.2,0.05\n"
    rc, _, err = _pool(tmp_path, capsys, text, "--measure", "GEN")
    assert _one_error(rc, err) == ("carsynth pool: x.csv:3: row 2 (B), column 'yi': missing value; "
                                   "fill it in, or use --drop-missing to leave such rows out")
    rc, out, err = _pool(tmp_path, capsys, text, "--measure", "GEN", "--drop-missing")
    assert rc == 0 and err == ""
    assert "k = 2" in out.splitlines()[0]
    assert "  warning: row 2 (B) left out: missing value in 'yi'" in out
    assert "  warning: row 3 (C) left out: missing value in 'vi'" in out


def test_api_names_the_row_of_a_missing_value_and_can_drop_it():
    df = pd.DataFrame({"study": ["A", "B", "C"], "event_e": [3, None, 4], "n_e": [10, 12, 9],
                       "event_c": [1, 2, 2], "n_c": [10, 11, 10]})
    with pytest.raises(InputError) as exc:
        synthesis.pool(df, measure="OR")
    assert str(exc.value) == "row 2 (B), column 'event_e': missing value"
    res = synthesis.pool(df, measure="OR", drop_missing=True)
    assert res.k == 2 and "row 2 (B) left out: missing value in 'event_e'" in res.warnings


def test_api_all_excluded_and_overflow_are_input_errors():
    with pytest.raises(InputError, match="no study can be pooled"):
        synthesis.pool(pd.DataFrame({"event_e": [0], "n_e": [5], "event_c": [0], "n_c": [5]}),
                       measure="RR")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match="rescale"):
            synthesis.pool(pd.DataFrame({"yi": [0.1, 0.2], "sei": [1e-160, 0.1]}), measure="GEN")
