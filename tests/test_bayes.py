"""The Bayesian random-effects model (synthesis.bayes) against published bayesmeta output,
an independent adaptive quadrature, and a brute-force 2-D grid.

Published worked examples (R package bayesmeta, which uses the same model and priors):

* Baeten et al. 2013 / ankylosing-spondylitis placebo responders (bayesmeta's
  ``BaetenEtAl2013``, 8 studies, logit proportions), half-normal(1) on τ and
  N(0, 2²) on μ: the ``print()`` of the fit in the "RBesT vs bayesmeta"
  vignette, github.com/martingramage/RBest-vs-Bayesmeta, section 3.2.
* Rubin 1981, the eight schools (bayesmeta's ``Rubin1981``), half-Cauchy(25) on
  τ and N(0, 50²) on μ: the bayesmeta package vignette ("A simple example").
* A k = 6 meta-analysis of MDMA for PTSD (Hedges' g), half-normal(0.5) on τ and
  N(0, 1) on μ: PennLINC sypres-docs, "MDMA for PTSD" reproducibility guide,
  "Bayesian implementation". The g values and 95% CIs are printed to 4
  decimals, so the standard errors are rebuilt from the CIs.

bayesmeta integrates τ adaptively (its τ summaries are exact to the printed
digits), but it evaluates the μ and θ mixtures on a τ grid chosen for a bounded
divergence (``delta = 0.01``, ``epsilon = 1e-4``), which moves μ and θ by up to
a few thousandths of a posterior sd. So τ is compared to the printed digits,
μ and θ to 0.5 % of their posterior sd; the exactness of μ and θ is checked
separately against QUADPACK.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special
from scipy.stats import norm

from synthesis.bayes import BayesPosterior, BayesPriors, bayes_random_effects


def _baeten():
    events = np.array([23, 12, 19, 9, 39, 6, 9, 10], dtype=float)
    total = np.array([107, 44, 51, 39, 139, 20, 78, 35], dtype=float)
    # metafor escalc(measure = "PLO"): logit and its large-sample variance
    return np.log(events / (total - events)), 1 / events + 1 / (total - events)


def _close_to_print(ours, printed, digits=7):
    """Agreement with a number printed to ``digits`` decimals (half a unit, plus slack)."""
    assert ours == pytest.approx(printed, abs=0.6 * 10.0**-digits)


def test_published_baeten2013_half_normal_tau_and_normal_mu():
    y, v = _baeten()
    b = BayesPosterior(y, v, BayesPriors(tau_scale=1.0, tau_family="half-normal", mu=(0.0, 2.0)))
    _close_to_print(b.median("tau"), 0.3111929)
    _close_to_print(b.mean("tau"), 0.3381136)
    _close_to_print(b.sd("tau"), 0.2105358)
    lo, hi = b.interval("tau", kind="shortest")
    assert lo == 0.0
    _close_to_print(hi, 0.7206157)
    tol_mu = 0.005 * 0.1791477
    assert b.median("mu") == pytest.approx(-1.0745744, abs=tol_mu)
    assert b.mean("mu") == pytest.approx(-1.0750280, abs=tol_mu)
    assert b.sd("mu") == pytest.approx(0.1791477, abs=tol_mu)
    lo, hi = b.interval("mu", kind="shortest")
    assert (lo, hi) == pytest.approx((-1.4372342, -0.7167790), abs=tol_mu)
    tol_theta = 0.005 * 0.4370869
    assert b.median("theta") == pytest.approx(-1.0731776, abs=tol_theta)
    assert b.sd("theta") == pytest.approx(0.4370869, abs=tol_theta)
    lo, hi = b.interval("theta", kind="shortest")
    assert (lo, hi) == pytest.approx((-1.9932746, -0.1621511), abs=tol_theta)
    # the predictive mean is the mean of μ
    assert b.mean("theta") == b.mean("mu")


def test_published_eight_schools_half_cauchy_tau():
    y = np.array([28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16])
    se = np.array([14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6])
    b = bayes_random_effects(y, se**2, tau_prior_scale=25.0, tau_prior="half-cauchy",
                             mu_prior=(0.0, 50.0))
    _close_to_print(b.median("tau"), 4.758539, digits=6)
    _close_to_print(b.mean("tau"), 5.884511, digits=6)
    _close_to_print(b.sd("tau"), 4.869904, digits=6)
    assert b.interval("tau", kind="shortest") == pytest.approx((0.0, 15.165894), abs=6e-7)
    # the vignette's central interval for τ: qposterior(tau.p = c(0.025, 0.975))
    assert b.interval("tau") == pytest.approx((0.2199559, 18.0531718), abs=6e-8)
    tol = 0.005 * 4.995762
    assert b.median("mu") == pytest.approx(7.962961, abs=tol)
    assert b.mean("mu") == pytest.approx(7.985729, abs=tol)
    assert b.sd("mu") == pytest.approx(4.995762, abs=tol)
    assert b.interval("mu", kind="shortest") == pytest.approx((-1.823353, 17.824562), abs=tol)
    assert 1 - b.cdf("mu", 0.0) == pytest.approx(0.9487521, abs=1e-3)


def test_published_small_k_half_normal_05():
    """k = 6, the situation this model is for; inputs rebuilt from 4-decimal g and CIs."""
    g = np.array([-0.7712, -0.5915, -1.2080, -0.9603, -0.8525, -0.2761])
    lb = np.array([-1.2295, -1.0069, -2.1842, -1.9458, -2.1083, -1.2607])
    ub = np.array([-0.3129, -0.1760, -0.2317, 0.0251, 0.4033, 0.7084])
    se = (ub - lb) / (2 * norm.ppf(0.975))
    b = bayes_random_effects(g, se**2, tau_prior_scale=0.5, mu_prior=(0.0, 1.0))
    # the rounding of the inputs moves the results by a few 1e-6
    assert b.median("tau") == pytest.approx(0.1520771, abs=2e-5)
    assert b.mean("tau") == pytest.approx(0.1921266, abs=2e-5)
    assert b.sd("tau") == pytest.approx(0.1614149, abs=2e-5)
    lo, hi = b.interval("tau", kind="shortest")
    assert lo == 0.0 and hi == pytest.approx(0.5087099, abs=2e-5)
    tol = 0.005 * 0.1759992
    assert b.median("mu") == pytest.approx(-0.7044605, abs=tol)
    assert b.sd("mu") == pytest.approx(0.1759992, abs=tol)
    assert b.interval("mu", kind="shortest") == pytest.approx((-1.0545489, -0.3574634), abs=tol)


def _quadpack_cdfs(y, v, scale, mu_prior):
    """Posterior CDFs of τ, μ and θ by scipy's adaptive QUADPACK, written from the model
    directly (no code shared with synthesis.bayes)."""

    def post(t):
        s2 = v + t * t
        if mu_prior is None:
            prec = (1 / s2).sum()
            m = (y / s2).sum() / prec
            ll = -0.5 * np.log(s2).sum() - 0.5 * math.log(prec) - 0.5 * ((y - m) ** 2 / s2).sum()
        else:
            m0, s0 = mu_prior
            prec = (1 / s2).sum() + 1 / s0**2
            m = ((y / s2).sum() + m0 / s0**2) / prec
            ll = (-0.5 * np.log(s2).sum() - 0.5 * math.log(prec)
                  - 0.5 * (((y - m) ** 2 / s2).sum() + (m - m0) ** 2 / s0**2))
        return math.exp(ll - 0.5 * (t / scale) ** 2), m, 1 / prec

    opts = {"epsabs": 0, "epsrel": 1e-12, "limit": 400}
    z = integrate.quad(lambda t: post(t)[0], 0, np.inf, **opts)[0]

    def tau_cdf(x):
        return integrate.quad(lambda t: post(t)[0], 0, x, **opts)[0] / z

    def mixture_cdf(x, predictive):
        def f(t):
            p, m, var = post(t)
            return p * special.ndtr((x - m) / math.sqrt(var + (t * t if predictive else 0)))
        return integrate.quad(f, 0, np.inf, **opts)[0] / z

    return tau_cdf, mixture_cdf


@pytest.mark.parametrize("y,v,scale,mu_prior", [
    ([-0.36, -0.80], [0.04, 0.09], 0.5, None),                                  # k = 2
    ([0.1, 0.5, -0.2], [0.02, 0.05, 0.03], 0.5, None),                          # k = 3
    ([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79], [0.33, 0.19, 0.42, 0.02, 0.05, 0.007], 0.5,
     (0.0, 1.0)),
    ([1.2], [0.3], 1.0, None),                                                  # k = 1
])
def test_quantiles_solve_the_posterior_cdfs_of_an_independent_quadrature(y, v, scale, mu_prior):
    y, v = np.asarray(y), np.asarray(v)
    b = bayes_random_effects(y, v, tau_prior_scale=scale, mu_prior=mu_prior)
    tau_cdf, mixture_cdf = _quadpack_cdfs(y, v, scale, mu_prior)
    for p in (0.025, 0.5, 0.975):
        assert tau_cdf(b.quantile("tau", p)) == pytest.approx(p, abs=1e-9)
        assert mixture_cdf(b.quantile("mu", p), False) == pytest.approx(p, abs=1e-9)
        assert mixture_cdf(b.quantile("theta", p), True) == pytest.approx(p, abs=1e-9)


def _brute_force(y, v, scale, n=801):
    """The joint posterior on a plain 2-D (μ, τ) grid: no analytic step at all."""
    spread = 6 * math.sqrt(float(np.var(y)) + float(v.max())) + 2
    mu = np.linspace(float(y.mean()) - spread, float(y.mean()) + spread, n)
    tau = np.linspace(0, scale * 8 + spread, n)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    s2 = v[None, None, :] + T[..., None] ** 2
    ll = (-0.5 * np.log(s2) - 0.5 * (y[None, None, :] - M[..., None]) ** 2 / s2).sum(-1)
    p = np.exp(ll - 0.5 * (T / scale) ** 2 - ll.max())
    p_mu = integrate.trapezoid(p, tau, axis=1)
    cdf = integrate.cumulative_trapezoid(p_mu, mu, initial=0)
    p_tau = integrate.trapezoid(p, mu, axis=0)
    cdf_t = integrate.cumulative_trapezoid(p_tau, tau, initial=0)
    return (float(np.interp(0.5, cdf / cdf[-1], mu)), float(np.interp(0.5, cdf_t / cdf_t[-1], tau)))


@pytest.mark.parametrize("y,v", [
    ([-0.36, -0.80], [0.04, 0.09]),
    ([0.1, 0.5, -0.2], [0.02, 0.05, 0.03]),
])
def test_agrees_with_a_brute_force_two_dimensional_grid(y, v):
    y, v = np.asarray(y), np.asarray(v)
    b = bayes_random_effects(y, v, tau_prior_scale=0.5)
    mu_median, tau_median = _brute_force(y, v, 0.5)
    assert b.median("mu") == pytest.approx(mu_median, abs=2e-3)
    assert b.median("tau") == pytest.approx(tau_median, abs=5e-3)


def test_quadrature_has_converged():
    y, v = _baeten()
    coarse = BayesPosterior(y, v, BayesPriors(0.5))
    fine = BayesPosterior(y, v, BayesPriors(0.5), panels=256)
    for param in ("tau", "mu", "theta"):
        for p in (0.025, 0.5, 0.975):
            assert coarse.quantile(param, p) == pytest.approx(fine.quantile(param, p), rel=1e-11)


def test_one_study_leaves_the_half_normal_prior_on_tau():
    """With k = 1 the data say nothing about τ: its posterior is the prior, whose quantiles
    are scale·Φ⁻¹((1 + p)/2)."""
    b = bayes_random_effects([0.2], [0.04], tau_prior_scale=0.5)
    for p in (0.025, 0.5, 0.975):
        assert b.quantile("tau", p) == pytest.approx(0.5 * norm.ppf((1 + p) / 2), rel=1e-10)
    assert b.mean("tau") == pytest.approx(0.5 * math.sqrt(2 / math.pi), rel=1e-10)


def test_normal_prior_on_mu_shrinks_towards_its_mean():
    flat = bayes_random_effects([1.0, 1.2], [0.05, 0.05])
    shrunk = bayes_random_effects([1.0, 1.2], [0.05, 0.05], mu_prior=(0.0, 0.5))
    assert 0 < shrunk.median("mu") < flat.median("mu")


def test_half_cauchy_moments_that_do_not_exist_are_not_reported():
    one = bayes_random_effects([0.2], [0.04], tau_prior_scale=0.5, tau_prior="half-cauchy")
    assert one.mean("tau") is None and one.sd("tau") is None
    assert one.median("tau") == pytest.approx(0.5, rel=1e-10)  # half-Cauchy median = scale
    two = bayes_random_effects([0.2, 0.5], [0.04, 0.05], tau_prior_scale=0.5,
                               tau_prior="half-cauchy")
    assert two.mean("tau") is not None and two.sd("tau") is None
    assert two.to_dict()["tau"]["sd"] is None


def test_result_contract_and_plot(tmp_path):
    y, v = _baeten()
    b = bayes_random_effects(y, v, tau_prior_scale=0.5)
    s = b.summary
    assert list(s.index) == ["tau", "mu", "theta"]
    assert list(s.columns) == ["median", "mean", "sd", "lower", "upper"]
    d = b.to_dict()
    assert d["interval"] == "central (equal-tailed)" and d["k"] == 8
    assert d["mu"]["median"] == s.loc["mu", "median"]
    assert d["prior"] == {"tau": "half-normal(scale 0.5)", "mu": "flat (improper uniform)"}
    # θ's interval contains μ's, and the central interval is never shorter than the shortest
    assert d["theta"]["lower"] < d["mu"]["lower"] and d["theta"]["upper"] > d["mu"]["upper"]
    lo, hi = b.interval("mu", kind="shortest")
    assert hi - lo <= d["mu"]["upper"] - d["mu"]["lower"] + 1e-12
    import matplotlib

    matplotlib.use("Agg")
    ax = b.plot(param="tau")
    ax.figure.savefig(tmp_path / "tau.png")
    assert ax.get_xlabel() == "τ" and (tmp_path / "tau.png").stat().st_size > 1000


@pytest.mark.parametrize("kwargs,message", [
    ({"tau_prior_scale": 0.0}, "scale must be a positive"),
    ({"tau_prior": "uniform"}, "τ prior must be one of"),
    ({"mu_prior": (0.0, -1.0)}, "sd of the normal prior"),
])
def test_bad_settings_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bayes_random_effects([0.1, 0.2], [0.01, 0.02], **kwargs)


def test_bad_data_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="vi finite and positive"):
        bayes_random_effects([0.1, 0.2], [0.01, 0.0])
    with pytest.raises(ValueError, match="same, non-zero length"):
        bayes_random_effects([], [])
