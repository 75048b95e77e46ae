"""Drawing primitives shared by the forest plot and the overview, and the one figure style.

Nothing here changes matplotlib's global state: figures are
``matplotlib.figure.Figure`` objects with an Agg canvas (no pyplot, no
backend switch), and the style (fonts, deterministic SVG/PDF output) is
applied with :func:`style`, a ``matplotlib.rc_context``, around drawing and
saving.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

#: deterministic files (the same inputs give byte-identical SVG/PDF/PNG) and one font
RC = {
    "svg.hashsalt": "carsynth",
    "svg.fonttype": "path",
    "pdf.fonttype": 3,  # Type 42 subsetting costs ~0.6 s a file
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "path.simplify": False,
    # study and plan text (titles, author names, favours labels) is drawn literally: never
    # parsed as mathtext, where "$\undefinedmacro$" or deep braces crash the drawing
    "text.parse_math": False,
}
FILE_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
}
NICE_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def style():
    """The carsynth figure style as a context manager (``with style(): ...``)."""
    return matplotlib.rc_context(RC)


def new_figure(width: float, height: float) -> Figure:
    """A Figure with an Agg canvas (so text can be measured), outside pyplot."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


#: a PNG has at most this many pixels: a tall figure (a forest of 300 studies, 11 x 75 in)
#: gets a lower resolution (85 dpi) instead of a 2-5 MB file that takes seconds to write;
#: its SVG and PDF keep every detail
MAX_PNG_PIXELS = 6_000_000


def png_dpi(fig: Figure, dpi: int = 150) -> float:
    """``dpi``, lowered so the PNG has at most MAX_PNG_PIXELS pixels."""
    w, h = fig.get_size_inches()
    return min(float(dpi), math.sqrt(MAX_PNG_PIXELS / (w * h)))


#: zlib level of PNG files: on these mostly white RGBA images level 2 writes files about 10 %
#: smaller than Pillow's default (6) in 60 % of the time (a 300-study forest: 0.14 s, 1.4 MB
#: instead of 0.24 s, 1.6 MB); the same pixels give the same bytes at any level
PNG_COMPRESS_LEVEL = 2


#: resolution of the diagnostic PNGs (leave-one-out, Baujat, bubble, Bayesian and risk-of-bias
#: plots): sharp on screen and in print at their size, and drawn in about 80 % of the time of
#: 150 dpi; the forest plot and the overview keep 150 dpi beside their SVG and PDF
DIAGNOSTIC_DPI = 110


def png_options(fig: Figure, dpi: int = 150) -> dict:
    """``savefig`` keywords of a carsynth PNG: fixed metadata, capped size, fast zlib level."""
    return {"dpi": png_dpi(fig, dpi), "metadata": FILE_METADATA["png"],
            "pil_kwargs": {"compress_level": PNG_COMPRESS_LEVEL}}


def figure_bytes(fig: Figure, fmt: str, dpi: int = 150) -> bytes:
    """The figure as PNG, SVG or PDF bytes, with fixed metadata and the carsynth style."""
    buf = io.BytesIO()
    with style():
        if fmt == "png":
            fig.savefig(buf, format="png", **png_options(fig, dpi))
        else:
            fig.savefig(buf, format=fmt, metadata=FILE_METADATA[fmt])
    return buf.getvalue()


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def axis_limits(estimates: Iterable[float], intervals: Iterable[tuple[float, float]], log: bool,
                null: float | None = None, reach: float = 4.0) -> tuple[float, float]:
    """An x range that shows the estimates, not the widest interval.

    Every point estimate and the null line are inside. Intervals are shown in
    full as far as ``reach`` times beyond the estimates' range (a factor on a
    log axis, multiples of the range's width on a linear one); whatever
    reaches further is drawn to the edge with an arrow (:func:`ci_line`,
    :func:`diamond`). Log ranges snap outward to 1-2-5 ticks within
    0.01–100.
    """
    core = [e for e in estimates if _finite(e) and (not log or e > 0)]
    if null is not None:
        core.append(null)
    if not core:
        return (0.1, 10.0) if log else (-1.0, 1.0)
    ends = [(lo, hi) for lo, hi in intervals if _finite(lo) and _finite(hi)]
    c_lo, c_hi = min(core), max(core)
    if log:
        los = [lo for lo, _ in ends if lo > 0]
        lo = max(min(los + [c_lo]), c_lo / reach) / 1.15
        hi = min(max([hi for _, hi in ends] + [c_hi]), c_hi * reach) * 1.15
        lo = max([t for t in NICE_TICKS if t <= lo] or [NICE_TICKS[0]])
        hi = min([t for t in NICE_TICKS if t >= hi] or [NICE_TICKS[-1]])
        return float(lo), float(hi)
    width = (c_hi - c_lo) or max(abs(c_hi), 1.0)
    lo = max(min([lo for lo, _ in ends] + [c_lo]), c_lo - reach * width)
    hi = min(max([hi for _, hi in ends] + [c_hi]), c_hi + reach * width)
    pad = 0.06 * (hi - lo)
    return lo - pad, hi + pad


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks inside [lo, hi], thinned to at most eight."""
    ticks = [t for t in NICE_TICKS if lo <= t <= hi]
    for keep in ((0.01, 0.1, 1, 10, 100, 0.2, 5, 0.5, 2), (0.01, 0.1, 1, 10, 100)):
        if len(ticks) > 8:
            ticks = [t for t in ticks if t in keep]
    return ticks


def _arrow_tail(edge: float, lo_lim: float, hi_lim: float, log: bool, left: bool) -> float:
    if log:
        return edge * 1.5 if left else edge / 1.5
    step = 0.04 * (hi_lim - lo_lim)
    return edge + step if left else edge - step


def _arrows(ax, lo, hi, y, lo_lim, hi_lim, color, lw):
    log = ax.get_xscale() == "log"
    arrow = dict(arrowstyle="-|>", color=color, lw=lw, mutation_scale=7, shrinkA=0, shrinkB=0)
    if lo < lo_lim:  # the arrow's tail sits a short way inside the axis
        ax.annotate("", xy=(lo_lim, y), xytext=(_arrow_tail(lo_lim, lo_lim, hi_lim, log, True), y),
                    arrowprops=arrow, annotation_clip=False)
    if hi > hi_lim:
        ax.annotate("", xy=(hi_lim, y), xytext=(_arrow_tail(hi_lim, lo_lim, hi_lim, log, False), y),
                    arrowprops=arrow, annotation_clip=False)


def ci_arrows(ax, lo, hi, y, lo_lim, hi_lim, color="0.15", lw=1.0) -> None:
    """Only the arrow heads of a CI line that runs off the axis (the line itself drawn by
    the caller, e.g. in one LineCollection for all rows)."""
    _arrows(ax, lo, hi, y, lo_lim, hi_lim, color, lw)


def ci_lines(ax, los, his, ys, lo_lim, hi_lim, color="0.15", lw=1.0) -> None:
    """Many CI lines clipped to the axis as one LineCollection (no per-row artists: a
    300-row plot drew 300 Line2Ds), with arrow heads only where a line runs off."""
    from matplotlib.collections import LineCollection

    segments = []
    for lo, hi, y in zip(los, his, ys):
        if not (_finite(lo) and _finite(hi)):
            continue
        a, b = max(lo, lo_lim), min(hi, hi_lim)
        if a < b:
            segments.append([(a, y), (b, y)])
        if lo < lo_lim or hi > hi_lim:
            _arrows(ax, lo, hi, y, lo_lim, hi_lim, color, lw)
    if segments:
        ax.add_collection(LineCollection(segments, colors=color, linewidths=lw, zorder=2,
                                         capstyle="butt"), autolim=False)


def ci_line(ax, lo, hi, y, lo_lim, hi_lim, color="0.15", lw=1.0, caps=False) -> None:
    """A CI line clipped to the axis, with an arrow head where it runs off."""
    a, b = max(lo, lo_lim), min(hi, hi_lim)
    if a < b:
        ax.plot([a, b], [y, y], color=color, lw=lw, zorder=2, solid_capstyle="butt")
    if caps:
        for x, inside in ((a, lo >= lo_lim), (b, hi <= hi_lim)):
            if inside:
                ax.plot([x, x], [y - 0.18, y + 0.18], color=color, lw=1.0, zorder=2)
    _arrows(ax, lo, hi, y, lo_lim, hi_lim, color, lw)


def diamond(ax, est, lo, hi, y, lo_lim, hi_lim, half_height=0.32, face="0.1", edge=None) -> None:
    """A summary diamond clipped to the axis; where its interval runs off, the diamond ends at
    the edge and an arrow continues it."""
    a, b = max(lo, lo_lim), min(hi, hi_lim)
    e = min(max(est, lo_lim), hi_lim)
    ax.add_patch(Polygon([(a, y), (e, y - half_height), (b, y), (e, y + half_height)],
                         closed=True, facecolor=face, edgecolor=edge or face, lw=0.9, zorder=3))
    _arrows(ax, lo, hi, y, lo_lim, hi_lim, edge or face, 1.0)
