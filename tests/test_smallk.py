"""The lead-estimate rule and the labelled alternatives shown for 2–4 studies.

Reference values: metafor 3.8.1 (R script in the comments, run with
control=list(threshold=1e-12, tol=1e-12, tau2.max=100)); the Bayesian posterior
by an independent adaptive-quadrature integration written out below.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, stats

from synthesis import pool
from synthesis.plan import Analysis
from synthesis.priors import TauPriorSpec, resolve_tau_prior, turner_log_tau2
from synthesis.smallk import choose_lead, lead_estimates, needs_alternatives

# GC vs no GC, PFS/EFS/LFS (the shipped review): Ma 2024 LFS HR 0.698 [0.334, 1.458]
# (adjusted), Zhang 2025 PFS HR 0.37 [0.16, 0.84] (adjusted, low-dose GC).
GC_PFS = pd.DataFrame({"study": ["Ma 2024", "Zhang 2025"], "ratio": [0.698, 0.37],
                       "ci_lower": [0.334, 0.16], "ci_upper": [1.458, 0.84]})
# library(metafor)
# yi <- log(c(0.698, 0.37)); sei <- (log(c(1.458, 0.84)) - log(c(0.334, 0.16)))/(2*qnorm(0.975))
# r <- rma(yi=yi, sei=sei, method="REML", test="adhoc", control=...)
# exp(c(r$b, r$ci.lb, r$ci.ub)); r$tau2
REML_ADHOC = (0.52347669547270215, 0.00944694636282562, 29.00702938055609437)
REML_TAU2 = 0.04128955678197804
# f <- rma(yi=yi, sei=sei, method="FE"); exp(c(f$b, f$ci.lb, f$ci.ub))
FE = (0.527491306493293, 0.304101570570454, 0.914980734575118)


def _analysis(**model) -> Analysis:
    return Analysis.model_validate({
        "id": "gc_pfs", "title": "GC PFS", "measure": "HR", "model": model,
        "select": {"kind": "ratio", "outcome": ["pfs_family"], "exposure": ["gc"]}})


def _contribs(df):
    return [SimpleNamespace(record=SimpleNamespace(estimate=r.ratio, ci_lower=r.ci_lower,
                                                   ci_upper=r.ci_upper, ci_level=0.95))
            for r in df.itertuples()]


# --- the rule -----------------------------------------------------------------------------


@pytest.mark.parametrize("k, primary, bayes_ok, plan_random, expected", [
    (0, "auto", True, True, "none"),
    (1, "auto", True, True, "single"),
    (1, "bayes", True, True, "single"),
    (2, "auto", True, True, "bayes"),
    (3, "auto", True, True, "bayes"),
    (4, "auto", True, True, "bayes"),
    (5, "auto", True, True, "random"),
    (40, "auto", True, True, "random"),
    (2, "auto", False, True, "random"),      # RD: no default τ prior
    (3, "auto", True, False, "common"),      # the plan chose MH/FE
    (2, "random", True, True, "random"),
    (2, "common", True, True, "common"),
    (12, "bayes", True, True, "bayes"),
    (12, "bayes", False, True, "random"),
])
def test_rule(k, primary, bayes_ok, plan_random, expected):
    d = choose_lead(k, primary, bayes_ok, plan_random)
    assert d.method == expected
    assert d.reason  # every decision says why


def test_rule_rejects_unknown_primary():
    with pytest.raises(ValueError, match="primary must be one of"):
        choose_lead(3, "median")


def test_alternatives_only_for_very_few_studies():
    assert [k for k in range(8) if needs_alternatives(k)] == [2, 3, 4]


# --- the estimates ------------------------------------------------------------------------


def _posterior_mu(y, v, scale, level=0.95):
    """Independent reference: p(τ | y) ∝ HN(τ; scale)·∫ Π N(yᵢ; μ, vᵢ+τ²) dμ (flat μ prior),
    integrated with QUADPACK; μ | y is the mixture of N(μ̂(τ), 1/Σw(τ)). Returns the median of μ
    and its central interval."""
    y, v = np.asarray(y), np.asarray(v)

    def parts(t):
        w = 1 / (v + t * t)
        mu = (w * y).sum() / w.sum()
        # marginal likelihood with μ integrated out (up to a constant)
        lik = math.sqrt(np.prod(w) / w.sum()) * math.exp(-0.5 * (w * (y - mu) ** 2).sum())
        return 2 * stats.norm.pdf(t, scale=scale) * lik, mu, 1 / math.sqrt(w.sum())

    norm = integrate.quad(lambda t: parts(t)[0], 0, np.inf, epsabs=0, epsrel=1e-12)[0]

    def cdf(x):
        return integrate.quad(lambda t: parts(t)[0] * stats.norm.cdf(x, parts(t)[1], parts(t)[2]),
                              0, np.inf, epsabs=0, epsrel=1e-12)[0] / norm

    q = lambda p: optimize.brentq(lambda x: cdf(x) - p, -5, 5, xtol=1e-12)  # noqa: E731
    return q(0.5), q((1 - level) / 2), q((1 + level) / 2)


def test_k2_lead_is_bayes_with_reml_and_common_beside_it():
    main = pool(GC_PFS, measure="RATIO", method="REML", hksj_adhoc=True)
    common = pool(GC_PFS, measure="RATIO", method="FE")
    res = lead_estimates(_analysis(), main, common, _contribs(GC_PFS))
    assert res.decision.method == "bayes"
    lead = res.lead
    assert lead.method == "bayes" and lead.interval == "CrI"
    assert lead.label == "Bayesian random effects, half-normal(0.5) prior on τ"
    ref = [math.exp(x) for x in _posterior_mu(main.yi, main.vi, 0.5)]
    np.testing.assert_allclose([lead.estimate, lead.ci_lb, lead.ci_ub], ref, rtol=1e-7)
    # the numbers: HR 0.52 (0.22–1.21)
    assert f"{lead.estimate:.2f} {lead.ci_lb:.2f} {lead.ci_ub:.2f}" == "0.52 0.22 1.21"
    assert [a.method for a in res.alternatives] == ["random", "common"]
    reml, fe = res.alternatives
    np.testing.assert_allclose([reml.estimate, reml.ci_lb, reml.ci_ub], REML_ADHOC, rtol=1e-6)
    np.testing.assert_allclose(reml.tau, math.sqrt(REML_TAU2), rtol=1e-6)
    assert reml.label == "Random effects (REML, HKSJ CI, ad hoc (never narrower than Wald))"
    np.testing.assert_allclose([fe.estimate, fe.ci_lb, fe.ci_ub], FE, rtol=1e-6)
    assert fe.label == "Common effect (IV)"
    assert res.lead.describe.endswith("; 95% CrI")


def test_plan_can_make_reml_primary():
    main = pool(GC_PFS, measure="RATIO", method="REML", hksj_adhoc=True)
    common = pool(GC_PFS, measure="RATIO", method="FE")
    res = lead_estimates(_analysis(primary="random"), main, common, _contribs(GC_PFS))
    assert res.lead.method == "random"
    np.testing.assert_allclose(res.lead.estimate, REML_ADHOC[0], rtol=1e-6)
    assert [a.method for a in res.alternatives] == ["bayes", "common"]


def test_single_study_keeps_its_printed_ci():
    # RUX vs no RUX, PFS: Zhang 2025 HR 0.83 (0.38–1.83); recomputed from the log SE the upper
    # limit would be 1.82
    one = pd.DataFrame({"study": ["Zhang 2025"], "ratio": [0.83], "ci_lower": [0.38],
                        "ci_upper": [1.83]})
    main = pool(one, measure="RATIO", method="REML", hksj_adhoc=True)
    assert f"{math.exp(main.ci_ub):.2f}" == "1.82"
    res = lead_estimates(_analysis(), main, None, _contribs(one))
    assert res.decision.method == "single" and res.alternatives == ()
    assert (res.lead.estimate, res.lead.ci_lb, res.lead.ci_ub) == (0.83, 0.38, 1.83)
    assert res.lead.label == "Single study, as reported"


def test_no_study_no_lead():
    res = lead_estimates(_analysis(), None, None, [])
    assert res.lead is None and res.decision.method == "none"


# --- priors -------------------------------------------------------------------------------


def test_turner_table_values():
    # Turner et al. 2015, Table IV (as bayesmeta's TurnerEtAlPrior("surgical", "pharma",
    # "placebo / control")): log τ² ~ N(-2.14, 1.74²); the marginal prior N(-2.56, 1.74²)
    assert turner_log_tau2("surgical / device related success / failure",
                           "pharmacological vs. placebo / control") == (-2.14, 1.74)
    assert turner_log_tau2("all-cause mortality", "non-pharmacological vs. pharmacological") \
        == (-2.92, 1.02)
    assert turner_log_tau2("any", "pharmacological vs. pharmacological") == (-2.56, 1.74)
    r = resolve_tau_prior(TauPriorSpec(family="turner", outcome="all-cause mortality"), "HR")
    # τ is log-normal with log-median μ/2 = -1.975 and log-sd σ/2 = 0.67
    assert r.priors.tau_family == "log-normal"
    assert r.priors.tau_scale == pytest.approx(math.exp(-1.975), rel=1e-15)
    assert r.priors.tau_log_sd == pytest.approx(0.67, rel=1e-15)
    assert "applied here to HR" in r.note


def test_turner_prior_posterior_matches_quadrature():
    """The log-normal τ prior in the posterior: τ quantiles against direct integration."""
    from synthesis.bayes import BayesPosterior

    r = resolve_tau_prior(TauPriorSpec(family="turner", outcome="adverse events"), "OR")
    mu, sigma = -1.87, 1.52  # Table IV, adverse events, pharmacological vs placebo/control
    y, v = np.array([-0.36, -0.99, 0.12]), np.array([0.14, 0.18, 0.09])

    def dens(t):  # prior density of τ from log τ² ~ N(μ, σ²): p(τ) = 2τ·lnN(τ²)
        t2 = t * t
        prior = 2 * t * stats.lognorm.pdf(t2, s=sigma, scale=math.exp(mu))
        w = 1 / (v + t2)
        m = (w * y).sum() / w.sum()
        return prior * math.sqrt(np.prod(w) / w.sum()) * math.exp(-0.5 * (w * (y - m) ** 2).sum())

    z = integrate.quad(dens, 0, np.inf, epsabs=0, epsrel=1e-12, limit=200)[0]
    cdf = lambda x: integrate.quad(dens, 0, x, epsabs=0, epsrel=1e-12, limit=200)[0] / z  # noqa
    median = optimize.brentq(lambda x: cdf(x) - 0.5, 1e-6, 5, xtol=1e-13)
    post = BayesPosterior(y, v, r.priors)
    assert post.median("tau") == pytest.approx(median, rel=1e-8)
    assert post.cdf("tau", 0.3) == pytest.approx(cdf(0.3), rel=1e-8)


@pytest.mark.parametrize("spec, message", [
    ({"family": "turner"}, "needs 'outcome'"),
    ({"family": "turner", "outcome": "any", "scale": 1.0}, "'scale' is for the half-normal"),
    ({"family": "half-normal", "outcome": "pain"}, "'outcome' is for the turner prior"),
    ({"family": "half-normal", "scale": 0}, "greater than 0"),
])
def test_tau_prior_spec_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        TauPriorSpec.model_validate(spec)


def test_no_default_prior_for_risk_differences():
    r = resolve_tau_prior(None, "RD")
    assert r.priors is None and "set model.tau_prior" in r.note
