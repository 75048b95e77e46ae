"""``<analysis>/bayes.png``: the Bayesian random-effects fit behind a small-k lead estimate.

Two panels: the posterior of the pooled effect on the reader's scale (HR, OR,
proportion) with its central credible interval shaded and the other estimates
marked, and the posterior of τ with its prior, so a reader sees how much the
2–4 studies moved the prior. Drawn from the posterior the pipeline fitted
(``AnalysisFit.bayes``); nothing is fitted here.
"""

from __future__ import annotations

import math

import numpy as np

from .. import measures


def bayes_figure(fit):
    """The figure, or None when the analysis has no Bayesian fit."""
    from ..drawing import log_ticks, new_figure, style

    post = getattr(fit, "bayes", None)
    if post is None:
        return None
    a = fit.analysis
    m = measures.get(a.measure)
    ni = fit.main.ni[np.isfinite(fit.main.weights)] if fit.main.ni is not None else None
    with style():
        fig = new_figure(8.6, 3.1)
        ax1 = fig.add_axes([0.07, 0.2, 0.42, 0.62])
        ax2 = fig.add_axes([0.57, 0.2, 0.40, 0.62])
        # effect: density of μ on the analysis scale, drawn against the reader's scale
        q = [post.quantile("mu", p) for p in (0.0005, 0.9995)]
        x = np.linspace(q[0], q[1], 400)
        cdf = np.array([post.cdf("mu", xi) for xi in x])
        dens = np.gradient(cdf, x)
        shown = m.backtransform(x, ni)
        lo, hi = post.interval("mu")
        inside = (x >= lo) & (x <= hi)
        ax1.plot(shown, dens, color="0.1", lw=1.2)
        ax1.fill_between(shown[inside], dens[inside], color="0.82")
        if m.ratio:
            ax1.set_xscale("log")
            ticks = log_ticks(float(shown.min()), float(shown.max()))
            ax1.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax1.minorticks_off()
        if m.null is not None and shown.min() < m.null < shown.max():
            ax1.axvline(m.null, color="0.35", lw=0.8)
        ymax = float(dens.max())
        others = [e for e in (fit.lead, *fit.alternatives)
                  if e is not None and e.method != "bayes" and math.isfinite(e.estimate)]
        ends = float(shown.min()), float(shown.max())
        middle = math.sqrt(ends[0] * ends[1]) if m.ratio else sum(ends) / 2  # axis middle
        for i, est in enumerate(others):  # the other estimates, as points above the curve
            y = ymax * (1.08 + 0.09 * i)
            right = est.estimate > middle  # label on the side with room
            ax1.plot([est.estimate], [y], marker="D", ms=4, color="0.45", linestyle="none")
            ax1.annotate(est.short or est.label, (est.estimate, y), xytext=(-5 if right else 5, 0),
                         textcoords="offset points", fontsize=6.5, va="center", color="0.3",
                         ha="right" if right else "left")
        ax1.set_ylim(0, ymax * (1.15 + 0.09 * len(others)))
        ax1.set_yticks([])
        level = round(100 * post.level)
        ax1.set_title(f"{m.name}: posterior median {m.backtransform([post.median('mu')], ni)[0]:.2f}, "
                      f"{level}% CrI shaded", fontsize=8)
        ax1.set_xlabel(m.name, fontsize=8)
        # τ: posterior and prior
        t_hi = max(post.quantile("tau", 0.995), 1e-3)
        t = np.linspace(t_hi / 400, t_hi, 400)
        tc = np.array([post.cdf("tau", ti) for ti in t])
        ax2.plot(t, np.gradient(tc, t), color="0.1", lw=1.2, label="posterior")
        prior = np.exp(post.priors.log_tau_density(t))
        ax2.plot(t, prior, color="0.5", lw=1.0, ls="--", label="prior")
        ax2.set_yticks([])
        ax2.set_xlim(0, t_hi)
        ax2.set_ylim(bottom=0)
        ax2.set_xlabel("τ (between-study sd, analysis scale)", fontsize=8)
        ax2.set_title(f"τ: prior {post.priors.describe()['tau']}; posterior median "
                      f"{post.median('tau'):.2f}", fontsize=8)
        ax2.legend(fontsize=7, frameon=False)
        for ax in (ax1, ax2):
            for side in ("left", "right", "top"):
                ax.spines[side].set_visible(False)
            ax.tick_params(labelsize=7.5)
        fig.text(0.01, 0.97, f"{a.title}: Bayesian random effects (k = {post.k})", fontsize=9,
                 fontweight="bold", va="top")
    return fig


def bayes_files(fit) -> dict[str, bytes]:
    """{'<id>/bayes.png': bytes} where the analysis has a Bayesian fit, else {}."""
    from ..drawing import DIAGNOSTIC_DPI, figure_bytes

    fig = bayes_figure(fit)
    if fig is None:
        return {}
    return {f"{fit.analysis.id}/bayes.png": figure_bytes(fig, "png", DIAGNOSTIC_DPI)}
