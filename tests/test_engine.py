"""Effect sizes against escalc, and the engine's own guarantees (batch identity, small k, convergence)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

import synthesis
from synthesis import effects
from synthesis.effects import ZeroCellRule
from synthesis.estimators import Batch, estimate_tau2, ksum, tau2_qprofile_ci
from synthesis.models import PoolSettings, fit_iv_batch

FIXTURES = Path(__file__).parent / "fixtures" / "metafor"
ESCALC = json.loads((FIXTURES / "escalc_cases.json").read_text())


@pytest.mark.parametrize("case", ESCALC, ids=[c["id"] for c in ESCALC])
def test_escalc(case):
    inp = case["input"]
    if case["measure"] == "RD" and case.get("drop00"):
        pytest.skip("carsynth keeps double-zero studies for RD by design (they inform a difference)")
    if case["measure"] in ("PAS", "PFT") and (case.get("add") or 0) > 0:
        pytest.skip("carsynth adds no continuity correction for PAS/PFT: they need none")
    rule = ZeroCellRule(add=case.get("add") if case.get("add") is not None else 0.5,
                        to=case.get("to") or "only0",
                        drop_double_zero=bool(case.get("drop00")))
    if case["layout"] == "binary":
        es = effects.binary(inp["event_e"], inp["n_e"], inp["event_c"], inp["n_c"],
                            case["measure"], rule)
    else:
        es = effects.proportion(inp["events"], inp["n"], case["measure"], rule)
    for i, (y, v) in enumerate(zip(case["yi"], case["vi"])):
        if y is None:
            assert i in es.excluded
        elif v == 0:
            # metafor returns a zero variance; such a study cannot be weighted,
            # so carsynth lists it as excluded with the reason
            assert i in es.excluded and "variance is zero" in es.excluded[i]
        else:
            assert es.yi[i] == pytest.approx(y, rel=1e-9, abs=1e-12)
            assert es.vi[i] == pytest.approx(v, rel=1e-9, abs=1e-12)


def test_double_zero_excluded_from_or_kept_for_rd():
    args = ([0, 3], [10, 12], [0, 5], [11, 12])
    or_ = effects.binary(*args, "OR")
    rd = effects.binary(*args, "RD")
    assert 0 in or_.excluded and "no events in either group" in or_.excluded[0]
    assert 0 not in rd.excluded and abs(rd.yi[0]) < 0.01


def test_zero_cell_rule_none_excludes_with_reason():
    es = effects.binary([0, 3], [10, 12], [2, 5], [11, 12], "OR", ZeroCellRule(to="none"))
    assert 0 in es.excluded and "zero cell" in es.excluded[0]
    assert es.yi[1] == pytest.approx(math.log(3 * 7 / (9 * 5)))


def test_ratio_from_ci_recovers_log_scale_se():
    es = effects.ratio_from_ci([0.45], [0.21], [0.96])
    assert es.yi[0] == pytest.approx(math.log(0.45))
    assert math.sqrt(es.vi[0]) == pytest.approx((math.log(0.96) - math.log(0.21)) / (2 * 1.959963984540054))


def test_ratio_from_p_and_reported_ratios():
    # a ratio whose CI gives p: the p route must recover the same SE
    est, lo, hi = 0.5, 0.3, 0.8333333333
    se = (math.log(hi) - math.log(lo)) / (2 * 1.959963984540054)
    from scipy.stats import norm
    p = 2 * norm.sf(abs(math.log(est)) / se)
    assert math.sqrt(effects.ratio_from_p([est], [p]).vi[0]) == pytest.approx(se, rel=1e-12)
    # Handbook §6.3.2 by hand: HR 0.5 (95% CI 0.3 to 0.83) and HR 0.8 with p = 0.04 only,
    # where Φ⁻¹(1 − 0.04/2) = 2.053748910631823; HR 1.0 with p = 0.5 has no SE
    es = effects.reported_ratios([0.5, 0.8, 1.0], [0.3, None, None], [0.83, None, None],
                                 [0.95, 0.95, 0.95], [None, 0.04, 0.5])
    assert es.measure == "RATIO"
    assert es.yi[:2] == pytest.approx([math.log(0.5), math.log(0.8)], rel=1e-15)
    assert math.sqrt(es.vi[0]) == pytest.approx((math.log(0.83) - math.log(0.3))
                                                / (2 * 1.959963984540054), rel=1e-12)
    assert math.sqrt(es.vi[1]) == pytest.approx(-math.log(0.8) / 2.053748910631823, rel=1e-12)
    assert list(es.excluded) == [2] and "p = 1" in es.excluded[2]


def test_pft_backtransform_uses_harmonic_mean():
    ni = np.array([10.0, 40.0])
    nhm = 2 / (1 / 10 + 1 / 40)
    t = 0.5 * (np.arcsin(np.sqrt(3 / (nhm + 1))) + np.arcsin(np.sqrt(4 / (nhm + 1))))
    # the inverse at the harmonic mean returns x/n for a study of that size
    assert effects.ipft_harmonic([t], ni)[0] == pytest.approx(3 / nhm, rel=1e-10)


def _random_batch(seed=1, n=50, k=7):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.2, (n, k))
    y = rng.normal(0.2, np.sqrt(0.09 + v))
    return y, v


@pytest.mark.parametrize("method", ["DL", "REML", "ML", "PM", "SJ", "HE", "EB", "FE"])
def test_batch_is_identical_to_single(method):
    y, v = _random_batch()
    df = pd.DataFrame({"analysis": np.repeat(np.arange(len(y)), y.shape[1]),
                       "yi": y.ravel(), "vi": v.ravel()})
    batch = synthesis.pool_batch(df, method=method)
    for i in range(len(y)):
        single = synthesis.pool(pd.DataFrame({"study": range(y.shape[1]), "yi": y[i], "vi": v[i]}),
                                measure="GEN", method=method).to_dict()
        for key in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "tau2_ci_lb", "tau2_ci_ub",
                    "pi_lb", "pi_ub", "q", "i2", "i2_tau2"):
            a, b = batch.loc[i, key], single[key]
            if b is None:
                assert np.isnan(a)
            else:
                assert a == b, f"{method} {key}: batch {a!r} != single {b!r}"


def test_batch_with_unequal_k():
    df = pd.DataFrame({"analysis": ["a"] * 3 + ["b"] * 5,
                       "yi": [0.1, 0.4, 0.3, -0.2, 0.0, 0.5, 0.1, 0.2],
                       "vi": [0.02, 0.03, 0.04, 0.05, 0.01, 0.02, 0.03, 0.04]})
    out = synthesis.pool_batch(df)
    assert list(out["analysis"]) == ["a", "b"] and list(out["k"]) == [3, 5]
    b = synthesis.pool(pd.DataFrame({"study": range(5), "yi": df.yi[3:].values,
                                     "vi": df.vi[3:].values}), measure="GEN").to_dict()
    assert out.loc[1, "estimate"] == b["estimate"] and out.loc[1, "tau2"] == b["tau2"]


def test_pairwise_sum_ignores_trailing_padding_and_batch_width():
    """ksum must give the same bits for an analysis alone and padded inside a wider batch."""
    rng = np.random.default_rng(11)
    for k in range(1, 40):
        x = rng.normal(size=(k, 1)) * 10.0 ** rng.integers(-8, 8, size=(k, 1))
        alone = ksum(x)[0]
        padded = ksum(np.vstack([x, np.zeros((13, 1))]))[0]
        wide = ksum(np.hstack([x, rng.normal(size=(k, 6))]))[0]
        assert alone == padded == wide, k


@pytest.mark.parametrize("method", ["REML", "ML", "PM", "DL"])
def test_batch_of_mixed_k_is_identical_to_single(method):
    """Analyses of k = 2..24 padded to one batch give the single path's bits (k >= 8 included,
    where numpy's own sum would change its summation order with the padding)."""
    rng = np.random.default_rng(3)
    rows = []
    for a, k in enumerate(rng.integers(2, 25, size=30)):
        v = rng.uniform(0.005, 0.3, k)
        y = rng.normal(0.1, np.sqrt(0.05 + v))
        rows += [{"analysis": f"a{a}", "yi": yi, "vi": vi} for yi, vi in zip(y, v)]
    df = pd.DataFrame(rows)
    batch = synthesis.pool_batch(df, method=method).set_index("analysis")
    for name, part in df.groupby("analysis", sort=False):
        single = synthesis.pool(part[["yi", "vi"]].reset_index(drop=True), measure="GEN",
                                method=method).to_dict()
        for key in ("estimate", "se", "tau2", "tau2_ci_lb", "tau2_ci_ub", "q", "pi_lb", "pi_ub"):
            a, b = batch.loc[name, key], single[key]
            assert (b is None and np.isnan(a)) or a == b, f"{method} {name} {key}"


def _global_max_tau2(y, v, reml):
    """Independent reference: the (restricted) log-likelihood maximised over a dense grid in
    τ² ≥ 0, then refined by a bounded scalar search around the best grid point."""
    from scipy.optimize import minimize_scalar

    def loglik(t):
        w = 1 / (v + t)
        mu = (w * y).sum() / w.sum()
        ll = -0.5 * np.log(v + t).sum() - 0.5 * (w * (y - mu) ** 2).sum()
        return ll - 0.5 * np.log(w.sum()) if reml else ll

    top = 10 * (np.ptp(y) ** 2 + v.max())
    grid = np.concatenate([[0.0], np.geomspace(top * 1e-9, top, 3000)])
    ll = np.array([loglik(t) for t in grid])
    j = int(np.argmax(ll))
    if j == 0:
        return 0.0, loglik
    res = minimize_scalar(lambda t: -loglik(t), bounds=(grid[j - 1], grid[min(j + 1, grid.size - 1)]),
                          method="bounded", options={"xatol": 1e-14})
    return float(res.x), loglik


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_reml_and_ml_reach_the_global_maximum(method):
    rng = np.random.default_rng(8)
    reml = method == "REML"
    for k, tau2 in [(2, 0.0), (3, 0.01), (3, 0.3), (5, 0.05), (10, 0.09), (10, 1.0), (25, 0.02)]:
        for _ in range(12):
            v = rng.uniform(0.01, 0.2, k)
            y = rng.normal(0.2, np.sqrt(tau2 + v))
            fit = estimate_tau2(Batch(y[None], v[None]), method)
            ours = float(fit.tau2[0])
            ref, loglik = _global_max_tau2(y, v, reml)
            assert fit.converged[0]
            # the same maximum: equal log-likelihood, and τ² equal where the peak is not flat
            assert loglik(ours) >= loglik(ref) - 1e-10
            assert ours == pytest.approx(ref, rel=1e-5, abs=1e-7)


def test_ml_finds_an_interior_maximum_above_a_local_one_at_zero():
    """A data set whose ML likelihood falls at τ² = 0 (a local maximum there), dips, and
    rises to a higher maximum at τ² ≈ 0.0205: the iteration alone would stop at 0."""
    y = np.array([0.1325, 0.607, -0.2607, -0.2816, 0.1357, -0.203, -0.4018, 1.1268, 0.7571,
                  -0.2449])
    v = np.array([0.0301, 0.139, 0.1408, 0.152, 0.1003, 0.1293, 0.1511, 0.1969, 0.1405, 0.1938])
    ref, loglik = _global_max_tau2(y, v, reml=False)
    fit = estimate_tau2(Batch(y[None], v[None]), "ML")
    assert ref == pytest.approx(0.0204689, abs=1e-6)
    assert float(fit.tau2[0]) == pytest.approx(ref, rel=1e-7)
    assert loglik(ref) > loglik(0.0)


@pytest.mark.parametrize("method", ["REML", "ML", "PM"])
def test_default_tolerance_gives_the_converged_value(method):
    """Iterations stop at a step below 1e-10; the value equals a 1e-13 solution to ~1e-15."""
    y, v = _random_batch(seed=12, n=400, k=6)
    b = Batch(y, v)
    loose, tight = estimate_tau2(b, method), estimate_tau2(b, method, tol=1e-13)
    assert loose.converged.all() and tight.converged.all()
    np.testing.assert_allclose(loose.tau2, tight.tau2, rtol=0, atol=1e-14)
    lb, ub, _ = tau2_qprofile_ci(b)
    lb_t, ub_t, _ = tau2_qprofile_ci(b, tol=1e-13)
    np.testing.assert_allclose(np.c_[lb, ub], np.c_[lb_t, ub_t], rtol=1e-14, atol=1e-14)


def test_qprofile_limits_solve_the_generalised_q_equation():
    y, v = _random_batch(seed=5, n=20, k=9)
    b = Batch(y, v)
    lb, ub, conv = tau2_qprofile_ci(b, 0.95)
    assert conv.all()
    upper_q, lower_q = chi2.isf(0.025, 8), chi2.ppf(0.025, 8)
    q_lb, q_ub = b.q_gen(lb), b.q_gen(ub)
    for i in range(len(lb)):
        if lb[i] > 0:
            assert q_lb[i] == pytest.approx(upper_q, rel=1e-9)
        else:
            assert b.q_gen(np.zeros(len(lb)))[i] <= upper_q
        if ub[i] > 0:
            assert q_ub[i] == pytest.approx(lower_q, rel=1e-9)


def test_k1_is_the_study_itself_with_a_warning():
    res = synthesis.pool(pd.DataFrame({"study": ["A"], "yi": [0.3], "vi": [0.04]}), measure="GEN")
    assert res.k == 1 and res.estimate == 0.3 and res.se == pytest.approx(0.2)
    assert res.ci_lb == pytest.approx(0.3 - 1.959963984540054 * 0.2)
    assert any("k = 1" in w and "nothing is pooled" in w for w in res.warnings)
    assert res.to_dict()["pi_lb"] is None and "k ≥ 3" in res.pi_note


def test_k2_is_computed_with_a_small_k_warning_and_no_hts_interval():
    df = pd.DataFrame({"study": ["A", "B"], "yi": [0.1, 0.6], "vi": [0.02, 0.03]})
    res = synthesis.pool(df, measure="GEN")
    assert res.k == 2 and any(w.startswith("k = 2") for w in res.warnings)
    # HKSJ with 1 df: a very wide interval, never false precision
    assert res.ci_ub - res.ci_lb > 5 * (2 * 1.96 * math.sqrt(1 / (1 / 0.02 + 1 / 0.03)))
    assert res.to_dict()["pi_lb"] is None
    assert synthesis.pool(df, measure="GEN", pi="k-1").to_dict()["pi_lb"] is not None


def test_non_convergence_is_reported_not_hidden():
    y, v = _random_batch(seed=3, n=1, k=8)
    s = PoolSettings(method="REML", maxiter=1)
    fit = fit_iv_batch(y, v, None, s)
    assert not fit["converged"][0]
    df = pd.DataFrame({"study": range(8), "yi": y[0], "vi": v[0]})
    res = synthesis.pool(df, measure="GEN")
    assert res.converged


def test_statsmodels_dl_is_not_truncated_but_ours_is():
    """statsmodels' combine_effects leaves a negative DL τ² untruncated (the brief's warning)."""
    from statsmodels.stats.meta_analysis import combine_effects
    y, v = np.array([0.1, 0.11, 0.09]), np.array([0.05, 0.06, 0.07])
    sm = combine_effects(y, v, method_re="dl")
    ours = synthesis.pool(pd.DataFrame({"study": range(3), "yi": y, "vi": v}), measure="GEN",
                          method="DL", hksj=False)
    assert sm.tau2 < 0 and ours.tau2 == 0.0
    # where τ² > 0 both agree
    y2 = np.array([0.1, 0.9, -0.4, 0.5])
    v2 = np.array([0.05, 0.06, 0.07, 0.04])
    sm2 = combine_effects(y2, v2, method_re="dl")
    ours2 = synthesis.pool(pd.DataFrame({"study": range(4), "yi": y2, "vi": v2}), measure="GEN",
                           method="DL", hksj=False)
    assert ours2.tau2 == pytest.approx(sm2.tau2, rel=1e-12)
    assert ours2.estimate == pytest.approx(sm2.mean_effect_re, rel=1e-12)


def test_hksj_adhoc_never_narrower_than_wald():
    df = pd.DataFrame({"study": range(4), "yi": [0.2, 0.21, 0.19, 0.2], "vi": [0.02, 0.03, 0.04, 0.05]})
    wald = synthesis.pool(df, measure="GEN", hksj=False)
    plain = synthesis.pool(df, measure="GEN", hksj_adhoc=False)
    adhoc = synthesis.pool(df, measure="GEN", hksj_adhoc=True)
    assert plain.se < wald.se  # homogeneous data: plain HKSJ shrinks the SE
    assert adhoc.se == pytest.approx(wald.se)


def test_mh_rr_and_rd_match_hand_computation():
    a, n1, c, n2 = np.array([5, 10]), np.array([50, 60]), np.array([8, 15]), np.array([52, 58])
    res = synthesis.pool(pd.DataFrame({"study": ["x", "y"], "event_e": a, "n_e": n1,
                                       "event_c": c, "n_c": n2}), measure="RR", method="MH")
    N = n1 + n2
    assert math.exp(res.estimate) == pytest.approx((a * n2 / N).sum() / (c * n1 / N).sum())
    rd = synthesis.pool(pd.DataFrame({"study": ["x", "y"], "event_e": a, "n_e": n1,
                                      "event_c": c, "n_c": n2}), measure="RD", method="MH")
    w = n1 * n2 / N
    assert rd.estimate == pytest.approx(((a / n1 - c / n2) * w).sum() / w.sum())


def test_result_object_contract():
    df = pd.DataFrame({"study": ["A", "B", "C"], "yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.015]})
    res = synthesis.pool(df, measure="GEN")
    d = res.to_dict()
    for key in ("k", "measure", "method", "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2",
                "tau2_ci_lb", "tau2_ci_ub", "i2", "i2_tau2", "h2", "q", "q_df", "q_pval",
                "pi_lb", "pi_ub", "weights", "excluded", "backtransformed"):
        assert key in d
    json.dumps(d, allow_nan=False)
    assert sum(d["weights"]) == pytest.approx(100)
    assert list(res.summary.columns[:3]) == ["k", "measure", "method"]
    assert len(res.summary) == 1 and len(res.studies) == 3


@pytest.mark.parametrize("method", ["REML", "ML", "PM", "EB", "DL", "SJ", "HE", "FE"])
def test_batch_with_empty_and_single_study_analyses_raises_no_numpy_warnings(method):
    import warnings

    rows = [{"analysis": "one", "yi": 0.2, "vi": 0.02}]
    rows += [{"analysis": "five", "yi": 0.1 * j, "vi": 0.02 + 0.01 * j} for j in range(5)]
    rows += [{"analysis": "none usable", "yi": 0.3, "vi": 0.0}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = synthesis.pool_batch(pd.DataFrame(rows), method=method).set_index("analysis")
    assert out.loc["one", "k"] == 1 and out.loc["one", "estimate"] == 0.2
    assert out.loc["none usable", "k"] == 0 and np.isnan(out.loc["none usable", "estimate"])
    assert out.loc["five", "k"] == 5 and np.isfinite(out.loc["five", "estimate"])
