"""conf_int(level) and the per-study CI helper against metafor at levels other than 95%
(tests/fixtures/metafor/engine_cases.json, made by make_engine_fixtures.R)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import synthesis

CASES = [c for c in json.loads((Path(__file__).parent / "fixtures" / "metafor"
                                / "engine_cases.json").read_text()) if c["type"] == "level"]


def _pool(case, level):
    s = case["settings"]
    df = pd.DataFrame({"study": case["input"]["study"], "yi": case["input"]["yi"],
                       "vi": case["input"]["vi"]})
    # metafor's predict(): z for test="z", t(k-1) for knha/adhoc
    return synthesis.pool(df, measure="GEN", method=s["method"], hksj=s["test"] != "z",
                          hksj_adhoc=s["test"] == "adhoc",
                          pi="z" if s["test"] == "z" else "k-1", level=level)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_conf_int_at_another_level_matches_metafor(case):
    exp, level = case["result"], case["settings"]["level"]
    at95 = _pool(case, 0.95)
    lb, ub = at95.conf_int(level)
    assert lb == pytest.approx(exp["ci_lb"], rel=1e-6)
    assert ub == pytest.approx(exp["ci_ub"], rel=1e-6)
    direct = _pool(case, level)  # the plan's level given to the fit itself
    assert (direct.ci_lb, direct.ci_ub) == pytest.approx((exp["ci_lb"], exp["ci_ub"]), rel=1e-6)
    assert direct.conf_int() == (direct.ci_lb, direct.ci_ub)
    if exp.get("pi_lb") is not None:
        assert (direct.pi_lb, direct.pi_ub) == pytest.approx((exp["pi_lb"], exp["pi_ub"]), rel=1e-6)


@pytest.mark.parametrize("case", CASES[:2], ids=[c["id"] for c in CASES[:2]])
def test_study_conf_int_matches_summary_escalc(case):
    level = case["settings"]["level"]
    lb, ub = _pool(case, 0.95).study_conf_int(level)
    assert list(lb) == pytest.approx(case["result"]["study_ci_lb"], rel=1e-12)
    assert list(ub) == pytest.approx(case["result"]["study_ci_ub"], rel=1e-12)


def test_conf_int_rejects_a_level_outside_0_1():
    res = _pool(CASES[0], 0.95)
    with pytest.raises(ValueError, match="between 0 and 1"):
        res.conf_int(95)
