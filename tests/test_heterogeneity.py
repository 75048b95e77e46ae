"""Meta-regression, influence, leave-one-out, cumulative and subgroups against metafor; the
Bayesian model against brute-force quadrature."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from synthesis import heterogeneity as het
from synthesis.models import PoolSettings

CASES = {c["id"]: c for c in json.loads(
    (Path(__file__).parent / "fixtures" / "metafor" / "regression_cases.json").read_text())}
RTOL, ATOL = 1e-6, 1e-9


def close(a, b, what):
    assert np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=RTOL, atol=ATOL), \
        f"{what}: ours {a} vs metafor {b}"


@pytest.mark.parametrize("cid", [c for c in CASES if CASES[c]["type"] == "metareg"])
def test_meta_regression_matches_metafor(cid):
    c = CASES[cid]
    inp, res = c["input"], c["result"]
    X, names = het.design_matrix(inp[c["moderator"]], c["moderator"], c.get("reference_level"))
    knha = c["settings"]["test"] == "knha"
    mr = het.meta_regression(inp["yi"], inp["vi"], X, names, "REML", knha=knha)
    coef = res["coefficients"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("stat", "stat"),
                         ("pval", "pval"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub")):
        close(mr.coefficients[ours], coef[theirs], f"coefficient {ours}")
    close(mr.tau2, res["tau2"], "tau2")
    close(mr.qm, res["QM"], "QM")
    close(mr.qm_pval, res["QMp"], "QMp")
    close(mr.qe, res["QE"], "QE")
    close(mr.qe_pval, res["QEp"], "QEp")
    close(mr.r2, res["R2"], "R2")
    close(mr.i2, res["I2"], "I2")
    close(mr.h2, res["H2"], "H2")


def test_influence_matches_metafor():
    c = CASES["dat.bcg_RR_REML_z_influence"]
    inf = het.influence(c["input"]["yi"], c["input"]["vi"], "REML", study=c["input"]["study"])
    r = c["result"]
    for ours, theirs in (("rstudent", "rstudent"), ("dffits", "dffits"), ("cook_d", "cook_d"),
                         ("cov_r", "cov_r"), ("tau2_del", "tau2_del"), ("qe_del", "QE_del"),
                         ("hat", "hat"), ("weight", "weight"), ("dfbetas", "dfbs_intrcpt")):
        close(inf[ours], r[theirs], ours)
    assert list(inf["influential"]) == [x == "*" for x in r["inf"]]


def test_leave_one_out_matches_metafor():
    c = CASES["dat.bcg_RR_REML_z_leave1out"]
    s = PoolSettings(method="REML", hksj=False)
    loo = het.leave_one_out(c["input"]["yi"], c["input"]["vi"], s, c["input"]["study"])
    r = c["result"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("pval", "pval"),
                         ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"), ("q", "Q"), ("q_pval", "Qp"),
                         ("tau2", "tau2"), ("i2_tau2", "I2"), ("h2", "H2")):
        close(loo[ours], r[theirs], ours)


def test_cumulative_by_year_matches_metafor():
    c = CASES["dat.bcg_RR_REML_z_cumul_year"]
    s = PoolSettings(method="REML", hksj=False)
    cum = het.cumulative(c["input"]["yi"], c["input"]["vi"], c["input"]["year"], s,
                         c["input"]["study"])
    r = c["result"]
    assert list(cum["added"]) == r["study"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("tau2", "tau2"), ("q", "Q")):
        close(cum[ours], r[theirs], ours)


def test_subgroups_match_metafor():
    c = CASES["dat.bcg_RR_REML_z_subgroup_alloc"]
    s = PoolSettings(method="REML", hksj=False)
    sg = het.subgroups(c["input"]["yi"], c["input"]["vi"], c["input"]["alloc"], s, "alloc")
    r = c["result"]
    assert list(sg.table["level"]) == r["levels"] and list(sg.table["k"]) == r["k"]
    close(sg.table["estimate"], r["estimate"], "subgroup estimates")
    close(sg.table["se"], r["se"], "subgroup SE")
    close(sg.table["tau2"], r["tau2"], "subgroup tau2")
    close(sg.q_between, r["Qb"], "Q between (metafor: QM of the FE model on the subgroup estimates)")
    close(sg.pval, r["Qb_pval"], "its p")
    assert sg.df == r["Qb_df"] == 2


def test_common_tau2_subgroups_use_the_mixed_model_test():
    c = CASES["dat.bcg_RR_REML_z_mods_alloc"]
    s = PoolSettings(method="REML", hksj=False)
    sg = het.subgroups(c["input"]["yi"], c["input"]["vi"], c["input"]["alloc"], s, "alloc",
                       common_tau2=True)
    close(sg.q_between, c["result"]["QM"], "QM as the subgroup test")
    assert sg.common_tau2 and (sg.table["tau2"] == sg.table["tau2"].iloc[0]).all()


def test_meta_regression_needs_more_studies_than_coefficients():
    with pytest.raises(ValueError, match="more studies than coefficients"):
        het.meta_regression([0.1, 0.2], [0.01, 0.02], np.array([[1, 0], [1, 1]]), ["a", "b"])


def test_baujat_contributions_sum_to_q():
    yi, vi = np.array([0.1, 0.5, -0.2, 0.3]), np.array([0.02, 0.05, 0.03, 0.04])
    bj = het.baujat(yi, vi)
    w = 1 / vi
    q = (w * (yi - (w * yi).sum() / w.sum()) ** 2).sum()
    assert bj["q_contribution"].sum() == pytest.approx(q)
    assert math.isfinite(bj["influence"].max())
