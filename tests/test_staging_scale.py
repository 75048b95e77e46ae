"""Scale of the build's drawing (issue 13 item 7): a forest plot of many studies has no
per-row line or marker artists, and its PNG is bounded in pixels and bytes."""

from __future__ import annotations

import math
import struct

import numpy as np

from synthesis.drawing import MAX_PNG_PIXELS, figure_bytes
from synthesis.plots import ForestRow, ForestSpec, forest_figure


def _spec(k: int) -> ForestSpec:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(k):
        est, se = math.exp(rng.normal(0, 0.4)), rng.uniform(0.1, 0.8)
        lo, hi = est * math.exp(-1.96 * se), est * math.exp(1.96 * se)
        rows.append(ForestRow("study", f"Author{i:03d} 2020", est, lo, hi, 100 / k,
                              [f"{i}/60", f"{i}/55"], f"{est:.2f} [{lo:.2f}, {hi:.2f}]"))
    rows.append(ForestRow("pooled", "Total (95% CI)", 1.02, 0.95, 1.1, 100.0, ["", ""],
                          "1.02 [0.95, 1.10]"))
    return ForestSpec(title="many studies", rows=rows, columns=["Exposed", "Reference"],
                      effect_header="Odds Ratio", log_scale=True, null_value=1.0)


def _line_artists(k: int) -> int:
    fig = forest_figure(_spec(k))
    return sum(len(ax.lines) for ax in fig.axes)  # Line2Ds drawn into the axes


def test_forest_line_artists_do_not_grow_with_the_number_of_studies():
    """Before: two Line2D per study (its CI line and its square), 600 for 300 studies."""
    assert _line_artists(300) == _line_artists(10)


def test_png_of_a_300_study_forest_is_bounded():
    """Before: a 300-study forest PNG was 11 x 75 in at 150 dpi, 18.6 million pixels."""
    fig = forest_figure(_spec(300))
    png = figure_bytes(fig, "png")
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert width * height <= MAX_PNG_PIXELS * 1.01
    assert height > 3000  # still tall enough to read every row (about 10 px a text line)
    assert len(png) < 2_000_000
    small = figure_bytes(forest_figure(_spec(10)), "png")
    w10, h10 = struct.unpack(">II", small[16:24])
    w_in, h_in = forest_figure(_spec(10)).get_size_inches()
    assert abs(w10 - w_in * 150) <= 1 and abs(h10 - h_in * 150) <= 1  # small ones keep 150 dpi
