"""bayes.png: the posterior behind a Bayesian lead, with the other estimates marked."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from synthesis.bayes import BayesPosterior, BayesPriors
from synthesis.report.bayesplot import bayes_figure, bayes_files
from synthesis.smallk import LabelledEstimate

Y = np.log([0.698, 0.37])
V = ((np.log([1.458, 0.84]) - np.log([0.334, 0.16])) / (2 * 1.959963984540054)) ** 2


def _fit(bayes):
    reml = LabelledEstimate("random", "Random effects (REML)", 2, 0.5235, 0.0094, 29.0,
                            short="Random effects, REML")
    lead = LabelledEstimate("bayes", "Bayesian", 2, 0.5214, 0.2194, 1.2113, "CrI")
    return SimpleNamespace(
        analysis=SimpleNamespace(id="gc_pfs", title="GC PFS", measure="HR"),
        main=SimpleNamespace(ni=None, weights=np.array([54.7, 45.3])),
        lead=lead, alternatives=(reml,), bayes=bayes)


def test_no_posterior_no_plot():
    assert bayes_files(_fit(None)) == {}


def test_posterior_on_the_readers_scale_with_the_other_estimates():
    post = BayesPosterior(Y, V, BayesPriors(0.5))
    fig = bayes_figure(_fit(post))
    effect, tau = fig.axes
    assert effect.get_xscale() == "log"
    # the density is drawn against the hazard ratio; its peak near exp(posterior median)
    line = effect.get_lines()[0]
    x, y = line.get_xdata(), line.get_ydata()
    assert abs(math.log(x[np.argmax(y)]) - post.median("mu")) < 0.05
    # the REML estimate is marked as a point, the Bayesian lead is the curve itself
    points = [ln.get_xdata()[0] for ln in effect.get_lines()[1:] if ln.get_marker() == "D"]
    assert points == [0.5235]
    # the τ panel shows the half-normal(0.5) prior: density 2·φ(τ/0.5)/0.5 at τ = 0.5
    prior = tau.get_lines()[1]
    t, d = prior.get_xdata(), prior.get_ydata()
    i = int(np.argmin(abs(t - 0.5)))
    expected = 2 / (0.5 * math.sqrt(2 * math.pi)) * math.exp(-0.5 * (t[i] / 0.5) ** 2)
    assert abs(d[i] - expected) < 1e-9
    files = bayes_files(_fit(post))
    assert list(files) == ["gc_pfs/bayes.png"] and files["gc_pfs/bayes.png"][:4] == b"\x89PNG"
