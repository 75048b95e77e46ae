"""Forest plots are legible: no overlapping text and nothing outside the figure, for 1 to 60 studies."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import synthesis
from synthesis.fmt import effect_ci as fmt_effect
from synthesis.plots import ForestRow, ForestSpec, forest_figure, funnel_figure


def _spec(n: int, long_labels: bool) -> ForestSpec:
    rng = np.random.default_rng(n)
    rows = []
    for i in range(n):
        est = math.exp(rng.normal(-0.2, 0.6))
        se = rng.uniform(0.1, 1.5)
        lo, hi = est * math.exp(-1.96 * se), est * math.exp(1.96 * se)
        label = (f"A very long study label from a consortium with many authors {i} et al. 2019"
                 if long_labels and i % 2 == 0 else f"Author{i} 20{10 + i % 15}")
        rows.append(ForestRow("study", label, est, lo, hi, 100 / n,
                              [f"{i + 3}/{50 + i}", f"{i + 5}/{48 + i}"], fmt_effect(est, lo, hi),
                              [1] if i == 0 else []))
    rows.append(ForestRow("pooled", "Total (95% CI)", 0.85, 0.6, 1.2, 100.0, ["", ""],
                          fmt_effect(0.85, 0.6, 1.2)))
    if n >= 3:
        rows.append(ForestRow("pi", "Prediction interval", math.nan, 0.3, 2.4, None, ["", ""],
                              "[0.30, 2.40]"))
    return ForestSpec(
        "A title", rows, ["Exposed\nn/N", "Reference\nn/N"], "Odds Ratio\nIV, Random, 95% CI",
        True, 1.0, "Odds Ratio", ("Favours treatment", "Favours control"),
        ["Heterogeneity: τ² = 0.123 [0.000, 1.234]; χ² = 12.34, df = 9 (P = 0.19); I² = 27%",
         "Test for overall effect: t(9) = 1.23 (P = 0.25)"],
        ["1 adjusted (Cox proportional hazards; sex, age, bone marrow blasts before infusion, "
         "disease status, prior transplantation, CAR construct, centre)"],
        ["Somebody 2021: not poolable: reported p = 0.32 (log-rank) for GC vs no GC; no effect estimate"])


def _texts(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = []
    for t in fig.findobj(lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent")):
        if not t.get_visible() or not str(t.get_text()).strip():
            continue
        out.append((t.get_text(), t.get_window_extent(renderer)))
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 10, 60])
@pytest.mark.parametrize("long_labels", [False, True])
def test_forest_text_never_overlaps_or_leaves_the_figure(n, long_labels):
    import matplotlib.pyplot as plt

    fig = forest_figure(_spec(n, long_labels))
    try:
        texts = _texts(fig)
        fb = fig.bbox
        for text, bb in texts:
            assert bb.x0 >= fb.x0 - 1 and bb.x1 <= fb.x1 + 1, f"{text!r} runs off the figure"
            assert bb.y0 >= fb.y0 - 1 and bb.y1 <= fb.y1 + 1, f"{text!r} runs off the figure"
        for (t1, b1), (t2, b2) in itertools.combinations(texts, 2):
            overlap_w = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
            overlap_h = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
            assert not (overlap_w > 1 and overlap_h > 1), f"{t1!r} overlaps {t2!r}"
    finally:
        plt.close(fig)


def test_long_labels_are_shortened_not_cut_silently():
    spec = _spec(2, long_labels=True)
    long = "x" * 200
    spec.rows[0].label = long
    import matplotlib.pyplot as plt

    plt.close(forest_figure(spec))
    assert spec.rows[0].label.endswith("…") and len(spec.rows[0].label) < 70


def test_result_plot_returns_axes_with_each_study():
    df = pd.DataFrame({"study": ["A", "B", "C"], "yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.015]})
    ax = synthesis.pool(df, measure="GEN").plot()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:3] == ["A", "B", "C"] and "pooled" in labels[3]
    import matplotlib.pyplot as plt

    plt.close(ax.figure)


def test_funnel_figure_limits_follow_the_estimate():
    import matplotlib.pyplot as plt

    yi = np.linspace(-0.5, 0.5, 12)
    fig = funnel_figure(yi, np.linspace(0.1, 0.4, 12), 0.05, "t", True)
    ax = fig.axes[0]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # standard error increases downwards
    plt.close(fig)
