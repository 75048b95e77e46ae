"""One τ² engine: meta-regression with every estimator, influence and leave-one-out with
several, against metafor (tests/fixtures/metafor/engine_cases.json, from
make_engine_fixtures.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthesis import heterogeneity as het
from synthesis.models import PoolSettings

CASES = json.loads((Path(__file__).parent / "fixtures" / "metafor"
                    / "engine_cases.json").read_text())
REG = [c for c in CASES if c["type"] == "metareg"]
INF = [c for c in CASES if c["type"] == "influence"]
RTOL, ATOL = 1e-6, 1e-9


def close(a, b, what):
    assert np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=RTOL, atol=ATOL), \
        f"{what}: ours {a} vs metafor {b}"


def _regression(c):
    inp = c["input"]
    X, names = het.design_matrix(inp["x"], c["moderator"])
    return het.meta_regression(inp["yi"], inp["vi"], X, names, c["settings"]["method"],
                               knha=c["settings"]["test"] == "knha")


@pytest.mark.parametrize("c", REG, ids=[c["id"] for c in REG])
def test_meta_regression_matches_metafor_for_every_estimator(c):
    mr, r = _regression(c), c["result"]
    assert mr.converged
    close(mr.tau2, r["tau2"], "tau2")
    close(mr.coefficients["estimate"], r["estimate"], "coefficients")
    close(mr.coefficients["se"], r["se"], "SE")
    close(mr.qm, r["QM"], "QM")
    close(mr.qe, r["QE"], "QE")
    if "ci_lb" in r:
        close(mr.coefficients["ci_lb"], r["ci_lb"], "CI lower")
        close(mr.coefficients["ci_ub"], r["ci_ub"], "CI upper")
        close(mr.coefficients["pval"], r["pval"], "p")
        close(mr.qm_pval, r["QMp"], "QMp")
        close(mr.i2, r["I2"], "I2")
        close(mr.h2, r["H2"], "H2")
    if r.get("R2") is not None:
        close(mr.r2, r["R2"], "R2")


@pytest.mark.parametrize("c", INF, ids=[c["id"] for c in INF])
def test_influence_and_leave_one_out_match_metafor(c):
    inp, r, s = c["input"], c["result"], c["settings"]
    knha = s["test"] == "knha"
    inf = het.influence(inp["yi"], inp["vi"], s["method"], knha=knha, study=inp["study"])
    assert inf["converged"].all()
    for ours, theirs in (("rstudent", "rstudent"), ("dffits", "dffits"), ("cook_d", "cook_d"),
                         ("cov_r", "cov_r"), ("tau2_del", "tau2_del"), ("qe_del", "QE_del"),
                         ("hat", "hat"), ("weight", "weight"), ("dfbetas", "dfbs")):
        close(inf[ours], r[theirs], ours)
    assert list(inf["influential"]) == r["inf"]
    loo = het.leave_one_out(inp["yi"], inp["vi"],
                            PoolSettings(method=s["method"], hksj=knha, hksj_adhoc=False),
                            inp["study"])
    for ours, theirs in (("estimate", "l1o_estimate"), ("se", "l1o_se"), ("ci_lb", "l1o_ci_lb"),
                         ("ci_ub", "l1o_ci_ub"), ("tau2", "l1o_tau2"), ("q", "l1o_Q")):
        close(loo[ours], r[theirs], f"leave-one-out {ours}")
    # one engine: τ² without a study is the same number in both tables
    assert list(inf["tau2_del"]) == list(loo["tau2"])


def test_intercept_only_is_the_pooling_estimator():
    """p = 1 is not a special matrix path: it is the estimator pool uses, bit for bit."""
    import pandas as pd

    import synthesis
    from synthesis.estimators.mods import tau2_mods

    c = INF[0]
    y, v = np.array(c["input"]["yi"]), np.array(c["input"]["vi"])
    for method in ("DL", "HE", "SJ", "ML", "REML", "PM", "EB"):
        pooled = synthesis.pool(pd.DataFrame({"yi": y, "vi": v}), measure="GEN", method=method)
        assert tau2_mods(y, v, np.ones((y.size, 1)), method) == (pooled.tau2, True)
