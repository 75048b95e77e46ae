"""Plots of the heterogeneity report: leave-one-out, Baujat, meta-regression bubbles.

Figures are ``matplotlib.figure.Figure`` objects from :mod:`synthesis.drawing`
(no pyplot, no global state), drawn inside its ``style()``; estimates are on
the reader's scale (proportion, OR, HR) with a log axis for ratios.
"""

from __future__ import annotations

import numpy as np

from .. import measures
from ..drawing import (DIAGNOSTIC_DPI, axis_limits, ci_lines, figure_bytes, log_ticks,
                       new_figure, style)


def loo_png(title: str, measure: str, rows: list[dict], full: dict, method_note: str) -> bytes:
    """Leave-one-out estimates with CIs (reader's scale); dashed: all studies."""
    m = measures.get(measure)
    n = len(rows)
    with style():
        fig = new_figure(6.5, 0.38 * n + 1.5)
        ax = fig.add_subplot()
        est = [r["estimate"] for r in rows]
        ivs = [(r["ci_lb"], r["ci_ub"]) for r in rows]
        lo_lim, hi_lim = axis_limits(est + [full["estimate"]], ivs, m.ratio)
        if m.proportion:
            lo_lim, hi_lim = max(lo_lim, 0.0), min(hi_lim, 1.0)
        if m.ratio:  # before drawing: the arrows ask the axis for its scale
            ax.set_xscale("log")
        # one LineCollection and one marker line for all rows (no per-row artists)
        ci_lines(ax, [r["ci_lb"] for r in rows], [r["ci_ub"] for r in rows], range(n),
                 lo_lim, hi_lim, color="0.2")
        ax.plot(est, range(n), "s", color="0.2", ms=5, ls="none")
        ax.axvline(full["estimate"], color="0.5", ls="--", lw=0.8)
        ax.set_yticks(range(n))
        ax.set_yticklabels([f"without {r['omitted']}" for r in rows])
        ax.set_ylim(n - 0.5, -0.5)
        if m.ratio:
            ticks = log_ticks(lo_lim, hi_lim)
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.minorticks_off()
        ax.set_xlim(lo_lim, hi_lim)
        ax.set_title(f"Leave-one-out: {title}", fontsize=9)
        ax.set_xlabel(f"{m.name.lower()} without the study\n{method_note}", fontsize=8)
        fig.tight_layout()
    return figure_bytes(fig, "png", DIAGNOSTIC_DPI)


def baujat_png(title: str, q_contribution, influence, labels: list[str]) -> bytes:
    """Baujat plot: each study's contribution to Q against its influence on the estimate."""
    qx, iy = np.asarray(q_contribution, float), np.asarray(influence, float)
    with style():
        fig = new_figure(5, 4)
        ax = fig.add_subplot()
        ax.scatter(qx, iy, color="0.2")
        # name only the studies that stand out: labels of a crowded corner overlap
        score = qx / max(qx.max(), 1e-300) + iy / max(iy.max(), 1e-300)
        named = set(np.argsort(-score)[:5]) if len(labels) > 6 else set(range(len(labels)))
        for i in sorted(named):
            ax.annotate(labels[i], (qx[i], iy[i]), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
        ax.set_xlabel("contribution to Q")
        ax.set_ylabel("influence on the pooled estimate")
        ax.set_title(f"Baujat plot: {title}", fontsize=9)
        fig.tight_layout()
    return figure_bytes(fig, "png", DIAGNOSTIC_DPI)


def bubble_png(title: str, mr, name: str, label: str, measure: str) -> bytes:
    """Meta-regression bubble plot; the y axis on the reader's scale (log axis for ratios)."""
    m = measures.get(measure)
    with style():
        fig = new_figure(5, 4)
        ax = fig.add_subplot()
        x = mr.x[:, 1]
        w = 1 / (mr.vi + mr.tau2)
        # Freeman–Tukey values only back-transform at a study size, and a regression
        # line has none: that plot stays on the analysis (double-arcsine) scale.
        analysis_scale = m.scale == "freeman-tukey"
        to_axis = (lambda v: np.asarray(v, dtype=float)) if analysis_scale else m.backtransform
        y = to_axis(mr.yi)
        if m.ratio:  # before drawing; 1-2-5 ticks written as numbers, not powers of ten
            ax.set_yscale("log")
            lo, hi = axis_limits(list(y), [], True)
            ticks = log_ticks(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_yticks(ticks)
            ax.set_yticklabels([f"{t:g}" for t in ticks])
            ax.minorticks_off()
        ax.scatter(x, y, s=300 * w / w.max(), facecolor="0.85", edgecolor="0.2", zorder=3)
        if len(np.unique(x)) > 2:
            grid = np.linspace(x.min(), x.max(), 50)
            b = mr.coefficients["estimate"].to_numpy()
            ax.plot(grid, to_axis(b[0] + b[1] * grid), color="0.1")
        ax.set_xlabel(label)
        ax.set_ylabel("Freeman–Tukey double arcsine" if analysis_scale else m.name.lower())
        ax.set_title(f"Meta-regression on {name}: {title}", fontsize=9)
        fig.tight_layout()
    return figure_bytes(fig, "png", DIAGNOSTIC_DPI)
