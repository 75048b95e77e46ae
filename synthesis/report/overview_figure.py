"""The overview figure (``overview.png/.svg/.pdf``): a pure function of typed overview rows.

One panel per outcome group, each on its own scale (ratio groups share one log
axis chosen from the estimates; proportions 0–100%); the lead estimate of each
row as a diamond (pooled) or a square (a single study, marked †); arrows where
an interval runs off the axis; an analysis with no estimate shows the reason.
"""

from __future__ import annotations

import textwrap

from .overview import SINGLE_MARK, OverviewRow, footnote


def overview_figure(rows: list[OverviewRow], title: str):
    """The overview figure: one panel per outcome group (ratio groups share one log axis,
    proportions a 0–100% axis), the lead estimate of each row as a diamond (pooled) or a
    square (single study), arrows where an interval runs off the axis. Returns a Figure."""
    from matplotlib.transforms import blended_transform_factory

    from ..drawing import axis_limits, ci_line, diamond, log_ticks, new_figure, style

    groups: list[tuple[str, list[OverviewRow]]] = []
    for r in rows:
        if not groups or groups[-1][0] != r.outcome:
            groups.append((r.outcome, []))
        groups[-1][1].append(r)
    ratio_rows = [r for r in rows if r.log_scale and r.has_estimate]
    ratio_lim = axis_limits([r.estimate for r in ratio_rows],
                            [(r.ci_lb, r.ci_ub) for r in ratio_rows], log=True, null=1.0)

    row_in, head_in, axis_in, margin = 0.26, 0.30, 0.42, 0.15
    widths = {"exposure": 1.45, "k": 0.95, "plot": 2.6, "est": 1.75, "het": 1.15, "method": 1.35}
    fig_w = margin * 2 + sum(widths.values()) + 0.2
    body = sum(head_in + row_in * len(rs) + axis_in for _, rs in groups)
    title_in, foot_in = 0.75, 0.45
    fig_h = title_in + body + foot_in
    with style():
        fig = new_figure(fig_w, fig_h)
        fig.text(margin / fig_w, 1 - 0.12 / fig_h, title, ha="left", va="top", fontsize=10,
                 fontweight="bold")
        x = margin
        col_x = {}
        for name, w in widths.items():
            col_x[name] = x
            x += w + (0.1 if name == "plot" else 0)
        heads = {"exposure": "Exposure", "k": "k (n)", "est": "Estimate [interval]",
                 "het": "I², τ", "method": "Lead estimate"}
        y_top = fig_h - title_in
        for name, text in heads.items():
            fig.text(col_x[name] / fig_w, (y_top + 0.08) / fig_h, text, ha="left", va="bottom",
                     fontweight="bold")
        for outcome, rs in groups:
            h = head_in + row_in * len(rs)
            bottom = y_top - h
            ax = fig.add_axes([col_x["plot"] / fig_w, bottom / fig_h, widths["plot"] / fig_w,
                               h / fig_h])
            n = len(rs)
            ax.set_ylim(n - 0.5, -0.5 - head_in / row_in)
            log = rs[0].log_scale
            if log:
                ax.set_xscale("log")
                lo, hi = ratio_lim
                ax.plot([1.0, 1.0], [-0.5, n - 0.5], color="0.35", lw=0.8, zorder=1)
                ticks = log_ticks(lo, hi)
                ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
                ax.minorticks_off()
            else:
                lo, hi = 0.0, 1.0
                ax.set_xticks([0, 0.25, 0.5, 0.75, 1], ["0%", "25%", "50%", "75%", "100%"])
            ax.set_xlim(lo, hi)
            ax.yaxis.set_visible(False)
            for side in ("left", "right", "top"):
                ax.spines[side].set_visible(False)
            ax.tick_params(axis="x", labelsize=7.5)
            trans = blended_transform_factory(fig.transFigure, ax.transData)
            ax.text(col_x["exposure"] / fig_w, -0.5 - head_in / row_in / 2, outcome,
                    transform=trans, ha="left", va="center", fontweight="bold")
            for y, r in enumerate(rs):
                label = r.exposure + (f" {SINGLE_MARK}" if r.single else "")
                ax.text(col_x["exposure"] / fig_w, y, label, transform=trans, va="center")
                ax.text(col_x["k"] / fig_w, y, r.k_text() if r.k else "0", transform=trans,
                        va="center")
                if not r.has_estimate:
                    lines = textwrap.wrap("no estimate: " + r.reason, 68)
                    text = "\n".join(lines[:1] + [_clip(" ".join(lines[1:]), 68)] if len(lines) > 1
                                      else lines)
                    ax.text(col_x["est"] / fig_w, y, text, transform=trans, va="center",
                            ha="left", fontstyle="italic", color="0.3", fontsize=7,
                            linespacing=1.1)
                    continue
                ci_line(ax, r.ci_lb, r.ci_ub, y, lo, hi)
                if r.single:
                    if lo <= r.estimate <= hi:
                        ax.plot([r.estimate], [y], marker="s", ms=6, color="0.15",
                                linestyle="none", zorder=3)
                else:
                    diamond(ax, r.estimate, r.ci_lb, r.ci_ub, y, lo, hi, half_height=0.3)
                suffix = " CrI" if r.interval == "CrI" else ""
                ax.text(col_x["est"] / fig_w, y, r.estimate_text() + suffix, transform=trans,
                        va="center")
                ax.text(col_x["het"] / fig_w, y, r.heterogeneity_text(), transform=trans,
                        va="center")
                ax.text(col_x["method"] / fig_w, y, r.method, transform=trans, va="center")
            y_top = bottom - axis_in
        fig.text(margin / fig_w, 0.3 / fig_h, footnote(rows), ha="left", va="top", fontsize=7.5)
    return fig


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"
