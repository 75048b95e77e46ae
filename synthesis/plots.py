"""Forest and funnel plots.

``forest_figure`` draws the publication forest plot reviewers know from
RevMan and R's meta: a text table (study, counts, weight, effect and CI)
aligned row by row with the plot (squares sized by weight, CI lines with
arrows where clipped, pooled diamonds, prediction-interval bar), followed by
the heterogeneity line, the test for the overall effect, subgroup tests and
footnotes. ``forest_axes`` is the compact version behind ``PoolResult.plot``.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field

from matplotlib.patches import Polygon
from matplotlib.ticker import FixedLocator, NullLocator
from matplotlib.transforms import blended_transform_factory

from .drawing import (FILE_METADATA, axis_limits, ci_line, ci_lines, diamond,  # noqa: F401
                      figure_bytes, log_ticks, new_figure, style)

ROW_IN = 0.24  # row height, inches
CHAR_IN = 0.068  # approximate width of one character at 8.5 pt
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
#: pooled-row styles: (face, edge) of the diamond
DIAMOND_STYLE = {"random": ("0.1", "0.1"), "lead": ("0.1", "0.1"), "common": ("0.55", "0.55"),
                 "alt": ("white", "0.25")}


@dataclass
class ForestRow:
    kind: str  # "study", "header", "pooled", "pi", "blank"
    label: str
    est: float = math.nan  # display scale
    lo: float = math.nan
    hi: float = math.nan
    weight: float | None = None  # percent
    cells: list[str] = field(default_factory=list)  # count columns
    effect_text: str = ""
    marks: list[int] = field(default_factory=list)  # footnote numbers
    style: str = "random"  # pooled: "random", "common", "lead" (bold) or "alt" (open diamond)


@dataclass
class ForestSpec:
    title: str
    rows: list[ForestRow]
    columns: list[str]  # headers of the count columns
    effect_header: str  # e.g. "Odds Ratio\nIV, Random, 95% CI"
    log_scale: bool
    null_value: float | None
    xlabel: str = ""
    favours: tuple[str, str] | None = None
    summary_lines: list[str] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)
    not_pooled: list[str] = field(default_factory=list)
    percent_axis: bool = False


def _limits(spec: ForestSpec) -> tuple[float, float]:
    """The x range: every estimate and the null line, intervals within reach (arrows beyond)."""
    if spec.percent_axis:
        return 0.0, 1.0
    shown = [r for r in spec.rows if r.kind in ("study", "pooled", "pi")]
    return axis_limits([r.est for r in shown if r.kind != "pi"],
                       [(r.lo, r.hi) for r in shown], spec.log_scale, spec.null_value)


def forest_figure(spec: ForestSpec):
    """Draw the forest plot; returns the matplotlib Figure (``save_figure`` writes it)."""
    with style():
        return _forest_figure(spec)


def _forest_figure(spec: ForestSpec):
    rows = spec.rows
    n = len(rows)
    max_label = int((4.2 - 0.15) / CHAR_IN) - 4  # longer labels are shortened with an ellipsis
    for r in rows:
        if len(r.label) > max_label:
            r.label = r.label[: max_label - 1].rstrip() + "…"
    label_chars = max([len(r.label) + (3 if r.marks else 0) for r in rows] + [12])
    label_w = min(max(1.3, label_chars * CHAR_IN + 0.15), 4.2)
    col_w = [max(0.85, (max([len(c) for c in
                            [h] + [r.cells[i] for r in rows if len(r.cells) > i]]) + 1) * CHAR_IN)
             for i, h in enumerate(spec.columns)]
    weight_w = 0.62
    plot_w = 2.7
    effect_w = 1.75
    margin = 0.15
    fig_w = margin + label_w + sum(col_w) + 0.1 + plot_w + 0.1 + weight_w + effect_w + margin
    header_h = 0.55 + (0.22 if spec.title else 0)
    # wrap the text under the plot to the figure's width (no text may run off)
    wrap_chars = max(40, int((fig_w - 2 * margin) / (CHAR_IN * 0.93)))
    foot_text: list[str] = []
    for line in spec.summary_lines + spec.not_pooled + spec.footnotes:
        foot_text.extend(textwrap.wrap(line, wrap_chars, subsequent_indent="   ") or [""])
    foot_lines = len(foot_text)
    axis_h = 0.75  # x axis, tick labels and favours labels
    foot_h = 0.2 * foot_lines + 0.15
    body_h = ROW_IN * (n + 0.6)
    fig_h = header_h + body_h + axis_h + foot_h
    fig = new_figure(fig_w, fig_h)

    x0 = margin + label_w + sum(col_w) + 0.1
    ax = fig.add_axes([x0 / fig_w, (foot_h + axis_h) / fig_h, plot_w / fig_w, body_h / fig_h])
    ax.set_ylim(n - 0.4, -0.8)
    lo_lim, hi_lim = _limits(spec)
    if spec.log_scale:
        ax.set_xscale("log")
    ax.set_xlim(lo_lim, hi_lim)
    ticks = log_ticks(lo_lim, hi_lim) if spec.log_scale else []
    if ticks:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.yaxis.set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", labelsize=8)
    if spec.null_value is not None:
        ax.axvline(spec.null_value, color="0.35", lw=0.8, zorder=1)

    fx = lambda inch: inch / fig_w  # noqa: E731 - figure fraction from inches
    trans = blended_transform_factory(fig.transFigure, ax.transData)
    # column headers
    head_y = -0.8 - 0.15
    hdr = dict(transform=trans, fontweight="bold", va="bottom", fontsize=8.5)
    ax.text(fx(margin), head_y, "Study", ha="left", clip_on=False, **hdr)
    cx = margin + label_w
    col_centres = []
    for w, h in zip(col_w, spec.columns):
        col_centres.append(cx + w / 2)
        ax.text(fx(cx + w / 2), head_y, h, ha="center", clip_on=False, **hdr)
        cx += w
    xr = x0 + plot_w + 0.1
    ax.text(fx(xr + weight_w - 0.05), head_y, "Weight", ha="right", clip_on=False, **hdr)
    ax.text(fx(xr + weight_w + 0.1), head_y, spec.effect_header, ha="left", clip_on=False, **hdr)
    if spec.title:
        fig.text(fx(margin), 1 - 0.12 / fig_h, spec.title, ha="left", va="top",
                 fontsize=10, fontweight="bold")

    max_w = max([r.weight for r in rows if r.weight] + [1])
    # study CI lines and squares: one LineCollection and one scatter for all rows (no
    # per-row artists: a 300-study forest drew 600 Line2Ds); arrows only where clipped
    ci_rows, sq_x, sq_y, sq_size = [], [], [], []
    for y, r in enumerate(rows):
        label = r.label + ("".join(f" {m}".translate(SUPERSCRIPT) for m in r.marks)
                           if r.marks else "")
        weight_kw = ("bold" if r.kind == "header" or (r.kind == "pooled" and r.style != "alt")
                     else "normal")
        style = "italic" if r.kind == "pi" else "normal"
        ax.text(fx(margin), y, label, ha="left", va="center", transform=trans,
                fontweight=weight_kw, fontstyle=style, clip_on=False)
        for c, text in zip(col_centres, r.cells):
            ax.text(fx(c), y, text, ha="center", va="center", transform=trans,
                    fontweight=weight_kw, clip_on=False)
        if r.weight is not None and math.isfinite(r.weight):
            ax.text(fx(xr + weight_w - 0.05), y, f"{r.weight:.1f}%", ha="right", va="center",
                    transform=trans, fontweight=weight_kw, clip_on=False)
        if r.effect_text:
            ax.text(fx(xr + weight_w + 0.1), y, r.effect_text, ha="left", va="center",
                    transform=trans, fontweight=weight_kw, fontstyle=style, clip_on=False)
        if r.kind == "study" and math.isfinite(r.est):
            ci_rows.append((r.lo, r.hi, y))
            if lo_lim <= r.est <= hi_lim:
                size = 3 + 9 * math.sqrt((r.weight or max_w * 0.3) / max_w)
                sq_x.append(r.est)
                sq_y.append(y)
                sq_size.append(size * size)  # scatter sizes are points²: a square of side size
        elif r.kind == "pooled" and math.isfinite(r.est):
            face, edge = DIAMOND_STYLE.get(r.style, DIAMOND_STYLE["random"])
            diamond(ax, r.est, r.lo, r.hi, y, lo_lim, hi_lim, face=face, edge=edge)
        elif r.kind == "pi" and math.isfinite(r.lo):
            ci_line(ax, r.lo, r.hi, y, lo_lim, hi_lim, color="0.1", lw=2.2, caps=True)
    if ci_rows:
        ci_lines(ax, *zip(*ci_rows), lo_lim, hi_lim)
    if sq_x:
        ax.scatter(sq_x, sq_y, s=sq_size, marker="s", color="0.15", edgecolors="0.15",
                   linewidths=1.0, zorder=3)
    # favours labels under the axis, either side of the null line
    if spec.favours and spec.null_value is not None:
        left, right = spec.favours
        ax.annotate(left, xy=(spec.null_value, 0), xycoords=("data", "axes fraction"),
                    xytext=(-6, -26), textcoords="offset points", ha="right", va="top",
                    fontsize=8)
        ax.annotate(right, xy=(spec.null_value, 0), xycoords=("data", "axes fraction"),
                    xytext=(6, -26), textcoords="offset points", ha="left", va="top", fontsize=8)
    if spec.xlabel and not spec.favours:
        ax.set_xlabel(spec.xlabel, fontsize=8)
    # text under the plot
    y_in = foot_h - 0.12
    for line in foot_text:
        fig.text(fx(margin), y_in / fig_h, line, ha="left", va="top", fontsize=7.8)
        y_in -= 0.2
    return fig


def save_figure(fig, path_stem, formats=("png", "svg", "pdf"), writer=None) -> list:
    """Save a figure in each format with fixed metadata; ``writer(path, bytes)`` writes atomically."""
    written = []
    for ext in formats:
        data = figure_bytes(fig, ext)
        target = f"{path_stem}.{ext}"
        if writer is None:
            with open(target, "wb") as fh:
                fh.write(data)
        else:
            writer(target, data)
        written.append(target)
    return written


def forest_axes(result, ax=None, labels=None):
    """Compact forest plot of a PoolResult on ``ax`` (created if None); returns the Axes."""
    import numpy as np

    from . import measures

    if ax is None:
        ax = new_figure(6, 0.35 * (len(result.study) + 3)).add_subplot()
    spec = measures.get(result.measure)
    ni = result.ni
    yi = np.asarray(result.yi)
    lo, hi = result.study_conf_int()  # at the fit's level, as the pooled diamond
    bt = lambda v: spec.backtransform(v, ni)  # noqa: E731
    est_d, lo_d, hi_d = bt(yi), bt(lo), bt(hi)
    names = labels or result.study
    k = len(names)
    wmax = np.nanmax(result.weights) if np.isfinite(result.weights).any() else 1
    for i in range(k):
        if not np.isfinite(yi[i]):
            continue
        ax.plot([lo_d[i], hi_d[i]], [i, i], color="0.2", lw=1)
        w = result.weights[i] if np.isfinite(result.weights[i]) else wmax * 0.3
        ax.plot([est_d[i]], [i], "s", color="0.2", ms=3 + 8 * math.sqrt(w / wmax))
    d = result.backtransformed()
    if d["estimate"] is not None:
        y = k + 0.5
        ax.add_patch(Polygon([(d["ci_lb"], y), (d["estimate"], y - 0.35), (d["ci_ub"], y),
                              (d["estimate"], y + 0.35)], closed=True, color="0.1"))
    ax.set_yticks(list(range(k)) + [k + 0.5])
    ax.set_yticklabels(list(names) + [f"{result.method} pooled"])
    ax.set_ylim(k + 1.2, -0.8)
    if spec.ratio:
        ax.set_xscale("log")
    if spec.null is not None:
        ax.axvline(spec.null, color="0.4", lw=0.8)
    ax.set_xlabel(d["scale"])
    return ax


def funnel_figure(yi, sei, estimate, title: str, log_scale: bool):
    """Funnel plot (standard error against effect) with pseudo-95% limits around the estimate."""
    with style():  # the title is plan text: drawn literally (drawing.RC)
        return _funnel_figure(yi, sei, estimate, title, log_scale)


def _funnel_figure(yi, sei, estimate, title: str, log_scale: bool):
    import numpy as np

    fig = new_figure(4.8, 4.0)
    ax = fig.add_subplot()
    se_max = float(np.nanmax(sei)) * 1.05
    s = np.linspace(0, se_max, 50)
    ax.fill_betweenx(s, estimate - 1.96 * s, estimate + 1.96 * s, color="0.93", zorder=0)
    ax.plot(estimate - 1.96 * s, s, color="0.5", lw=0.8, ls="--")
    ax.plot(estimate + 1.96 * s, s, color="0.5", lw=0.8, ls="--")
    ax.axvline(estimate, color="0.3", lw=0.8)
    ax.scatter(yi, sei, s=18, color="0.1", zorder=3)
    ax.set_ylim(se_max, 0)
    ax.set_ylabel("standard error")
    ax.set_xlabel("log effect" if log_scale else "effect")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
