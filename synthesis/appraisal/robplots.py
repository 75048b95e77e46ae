"""Risk-of-bias plots in the style of robvis (McGuinness & Higgins 2021, Res Synth Methods 12:55).

* traffic-light plot: one row per study, one column per domain plus overall,
  a coloured disc with the judgement's symbol in each cell;
* summary plot: one horizontal stacked bar per domain, the share of studies
  (weighted by their weight in the fit, or unweighted) at each judgement.

Colours and symbols are robvis's. Figures are built with
``matplotlib.figure.Figure`` and an Agg canvas: no pyplot, no global state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.path import Path
from matplotlib.textpath import TextPath

from extract.appraisal import TOOLS

#: study and plan text drawn literally (also around savefig: tick labels are made at draw)
LITERAL_TEXT = partial(rc_context, {"text.parse_math": False})

# robvis colours ("cochrane" palette) and symbols per judgement
COLOURS = {
    "low": "#02C100", "moderate": "#E2DF07", "some_concerns": "#E2DF07",
    "serious": "#BF0000", "high": "#BF0000", "critical": "#820000", "very_high": "#820000",
    "no_information": "#4EA1F7", "not_assessed": "#D9D9D9",
}
SYMBOLS = {
    "low": "+", "moderate": "-", "some_concerns": "-", "serious": "X", "high": "X",
    "critical": "!", "very_high": "!", "no_information": "?", "not_assessed": "",
}


@dataclass(frozen=True)
class RobRow:
    """One study in a risk-of-bias plot."""

    study: str
    judgements: dict[str, str]    # domain key -> level, plus "overall"
    weight: float = 1.0


def _ink(level: str) -> str:
    """Text colour readable on the judgement's colour."""
    return "white" if level in ("serious", "high", "critical", "very_high") else "black"


@lru_cache(maxsize=None)
def _glyph_marker(symbol: str) -> Path:
    """A judgement's symbol (bold DejaVu Sans, 10 units to the em) as a marker path centred
    on the origin. Two undrawn MOVETO corners at ±5 fix the marker's scale to the em, so
    every symbol keeps its size as text: a marker of size S draws it as S-point text."""
    path = TextPath((0, 0), symbol, size=10, prop=FontProperties(family="DejaVu Sans",
                                                                 weight="bold"))
    verts = path.vertices.copy()
    drawn = path.codes != Path.CLOSEPOLY  # a CLOSEPOLY's vertex is ignored
    centre = (verts[drawn].min(axis=0) + verts[drawn].max(axis=0)) / 2
    verts[~drawn] = centre
    return Path(np.vstack([verts - centre, [(5, 5), (-5, -5)]]),
                np.concatenate([path.codes, [Path.MOVETO, Path.MOVETO]]))


def _levels(tool: str) -> tuple[str, ...]:
    return TOOLS[tool].levels


def _label(tool: str, level: str) -> str:
    return TOOLS[tool].short.get(level, "Not assessed")


def traffic_light(rows: Sequence[RobRow], tool: str, title: str | None = None) -> Figure:
    """robvis-style traffic-light plot of one tool's assessments."""
    with LITERAL_TEXT():  # study labels and titles are never parsed as mathtext
        return _traffic_light(rows, tool, title)


def _traffic_light(rows: Sequence[RobRow], tool: str, title: str | None = None) -> Figure:
    spec = TOOLS[tool]
    domains = list(spec.domains)
    cols = [f"D{i + 1}" for i in range(len(domains))] + ["Overall"]
    n, m = len(rows), len(cols)
    cell = 0.5                                   # inches: square cells, round discs
    label_w = 0.3 + 0.075 * max(len(r.study) for r in rows) if rows else 1.0
    width = max(7.0, label_w + cell * m + 2.3)
    height = 0.75 + cell * n + 0.2 * (len(domains) + 1) + 0.45
    fig = Figure(figsize=(width, height), dpi=150)
    FigureCanvasAgg(fig)
    top = 1 - 0.75 / height
    grid_h = cell * n / height
    ax = fig.add_axes((label_w / width, top - grid_h, cell * m / width, grid_h))
    ax.set_xlim(-0.5, m - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_aspect("auto")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks(range(m), cols, fontsize=9)
    ax.xaxis.tick_top()
    ax.set_yticks([])  # the study labels as plain texts: a tick is two lines and a text
    for i, row in enumerate(rows):
        ax.text(-0.5 - 0.05 / cell, i, row.study, ha="right", va="center_baseline", fontsize=9)
    ax.tick_params(length=0)
    for i in range(n + 1):
        ax.axhline(i - 0.5, color="#BFBFBF", lw=0.6)
    for j in range(m + 1):
        ax.axvline(j - 0.5, color="#BFBFBF", lw=0.6)
    # every disc in one scatter and each symbol in one scatter of glyph-shaped markers (no
    # per-cell artists: a 100-study plot drew 800 patches and 800 texts); a disc is 0.72 of
    # a cell wide, a symbol 9-point bold text (scatter sizes are points²)
    cells = [(j, i, row.judgements.get(key, "not_assessed"))
             for i, row in enumerate(rows) for j, key in enumerate(domains + ["overall"])]
    if cells:
        ax.scatter([c[0] for c in cells], [c[1] for c in cells], s=(0.72 * cell * 72) ** 2,
                   c=[COLOURS[c[2]] for c in cells], marker="o", linewidths=0, zorder=2)
    for level in dict.fromkeys(c[2] for c in cells):
        if SYMBOLS[level]:
            at = [c for c in cells if c[2] == level]
            ax.scatter([c[0] for c in at], [c[1] for c in at], s=9.0 ** 2, c=_ink(level),
                       marker=_glyph_marker(SYMBOLS[level]), linewidths=0, zorder=3)
    if title:
        fig.text(0.02, 1 - 0.12 / height, title, fontsize=10, fontweight="bold", va="top")
    # the domain key below the grid, the judgement key beside it, as robvis does
    y = top - grid_h - 0.3 / height
    fig.text(0.02, y, "Domains:", fontsize=8, fontweight="bold", va="top")
    for i, d in enumerate(domains):
        fig.text(0.02, y - (i + 1) * 0.2 / height, f"D{i + 1}: {spec.domains[d]}.",
                 fontsize=8, va="top")
    used = [lv for lv in _levels(tool) + ("not_assessed",)
            if lv != "not_assessed" or any(lv in row.judgements.values() for row in rows)]
    handles = [Patch(facecolor=COLOURS[lv], label=f"{SYMBOLS[lv]}  {_label(tool, lv)}".strip())
               for lv in used]
    fig.legend(handles=handles, loc="upper left",
               bbox_to_anchor=((label_w + cell * m + 0.2) / width, top), fontsize=8,
               frameon=False, title="Judgement", title_fontsize=8, alignment="left")
    return fig


def summary_bars(rows: Sequence[RobRow], tool: str, weighted: bool = True,
                 title: str | None = None) -> Figure:
    """robvis-style summary plot: per domain, the (weighted) share at each judgement."""
    with LITERAL_TEXT():  # titles are never parsed as mathtext
        return _summary_bars(rows, tool, weighted, title)


def _summary_bars(rows: Sequence[RobRow], tool: str, weighted: bool = True,
                  title: str | None = None) -> Figure:
    spec = TOOLS[tool]
    keys = list(spec.domains) + ["overall"]
    labels = [spec.domains[d] for d in spec.domains] + ["Overall risk of bias"]
    levels = list(spec.levels) + ["not_assessed"]
    total = sum(r.weight if weighted else 1.0 for r in rows) or 1.0
    height = 0.9 + 0.34 * len(keys) + 0.5
    fig = Figure(figsize=(9.0, height), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((4.2 / 9.0, 0.75 / height, 4.5 / 9.0, 0.34 * len(keys) / height))
    for i, key in enumerate(keys):
        left = 0.0
        for lv in levels:
            share = sum((r.weight if weighted else 1.0) for r in rows
                        if r.judgements.get(key, "not_assessed") == lv) / total
            if share > 0:
                ax.barh(i, share * 100, left=left, color=COLOURS[lv], edgecolor="white",
                        height=0.7)
                if share >= 0.08:
                    ax.text(left + share * 50, i, f"{share * 100:.0f}%", ha="center",
                            va="center", fontsize=7, color=_ink(lv))
                left += share * 100
    ax.set_ylim(len(keys) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_yticks(range(len(keys)), labels, fontsize=8)
    ax.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"], fontsize=8)
    ax.tick_params(axis="y", length=0)
    for s in ("top", "right", "left"):
        ax.spines[s].set_visible(False)
    used = [lv for lv in levels if any(r.judgements.get(k, "not_assessed") == lv
                                       for r in rows for k in keys)]
    handles = [Patch(facecolor=COLOURS[lv], label=_label(tool, lv)) for lv in used]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, 0.0))
    head = title or f"{spec.label}: risk of bias"
    head += " (weighted by the studies' weights in the fit)" if weighted else " (unweighted)"
    fig.text(0.02, 1 - 0.15 / height, head, fontsize=10, fontweight="bold", va="top")
    return fig
