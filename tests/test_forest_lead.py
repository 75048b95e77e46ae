"""Forest plots with a lead estimate and labelled alternatives: legible, arrows off the axis."""

from __future__ import annotations

import itertools

from matplotlib.text import Annotation

from synthesis.plots import ForestRow, ForestSpec, forest_figure


def _spec() -> ForestSpec:
    rows = [ForestRow("header", "LFS", cells=[""]),
            ForestRow("study", "Ma 2024", 0.698, 0.334, 1.458, 54.7, ["adj."],
                      "0.698 [0.334, 1.458]"),
            ForestRow("header", "PFS", cells=[""]),
            ForestRow("study", "Zhang 2025", 0.37, 0.16, 0.84, 45.3, ["adj."], "0.37 [0.16, 0.84]"),
            ForestRow("blank", ""),
            ForestRow("pooled", "Lead: Bayesian RE, half-normal(0.5) τ prior (95% CrI)", 0.52,
                      0.22, 1.21, None, [""], "0.52 [0.22, 1.21]", style="lead"),
            ForestRow("pooled", "Random effects, REML, HKSJ ad hoc (95% CI)", 0.52, 0.0094, 29.0,
                      100.0, [""], "0.52 [0.01, 29.01]", style="alt"),
            ForestRow("pooled", "Common effect, IV (95% CI)", 0.53, 0.30, 0.91, None, [""],
                      "0.53 [0.30, 0.91]", style="alt")]
    return ForestSpec("GC vs no GC — PFS/EFS/LFS (HR)", rows, ["Model"],
                      "Hazard Ratio\n95% CI or CrI", True, 1.0, "Hazard Ratio",
                      ("Favours GC", "Favours no GC"),
                      ["Lead estimate: Bayesian random effects; 95% CrI. Why: k = 2."])


def test_axis_shows_the_estimates_and_the_wide_interval_gets_arrows():
    fig = forest_figure(_spec())
    ax = fig.axes[0]
    assert ax.get_xlim() == (0.05, 5.0)  # not 0.01–100 for the REML interval
    arrows = sorted((round(a.xy[0], 3), a.xy[1]) for a in ax.get_children()
                    if isinstance(a, Annotation) and a.arrowprops)
    assert arrows == [(0.05, 6), (5.0, 6)]  # both ends of the REML row, nothing else
    faces = [tuple(p.get_facecolor()[:3]) for p in ax.patches]
    assert faces[0] != faces[1] and faces[1] == faces[2] == (1.0, 1.0, 1.0)  # open diamonds


def test_lead_and_alternative_rows_do_not_overlap():
    fig = forest_figure(_spec())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(
        lambda a: hasattr(a, "get_text") and hasattr(a, "get_window_extent"))
        if t.get_visible() and str(t.get_text()).strip()]
    fb = fig.bbox
    for text, bb in texts:
        assert fb.x0 - 1 <= bb.x0 and bb.x1 <= fb.x1 + 1, f"{text!r} runs off the figure"
    for (t1, b1), (t2, b2) in itertools.combinations(texts, 2):
        w = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
        h = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
        assert not (w > 1 and h > 1), f"{t1!r} overlaps {t2!r}"
    bold = {t.get_text(): t.get_fontweight() for t in fig.findobj(
        lambda a: hasattr(a, "get_fontweight") and hasattr(a, "get_text"))}
    assert bold["Lead: Bayesian RE, half-normal(0.5) τ prior (95% CrI)"] == "bold"
    assert bold["Common effect, IV (95% CI)"] == "normal"
