"""robvis-style plots: one disc per study and domain, shares per judgement, no global state."""

from __future__ import annotations

import matplotlib
from matplotlib.patches import Circle, Rectangle

from synthesis.appraisal.robplots import COLOURS, RobRow, summary_bars, traffic_light

ROWS = [
    RobRow("A 2020", dict(confounding="serious", selection="low", classification="low",
                          deviations="moderate", missing_data="low", measurement="low",
                          reporting="moderate", overall="serious"), 75.0),
    RobRow("B 2021", dict(confounding="critical", selection="low", classification="low",
                          deviations="low", missing_data="no_information", measurement="low",
                          reporting="low", overall="critical"), 25.0),
]


def test_traffic_light_has_a_disc_per_cell_in_robvis_colours(tmp_path):
    before = dict(matplotlib.rcParams)
    fig = traffic_light(ROWS, "robins_i", "t")
    ax = fig.axes[0]
    discs = [p for p in ax.patches if isinstance(p, Circle)]
    assert len(discs) == 2 * 8                       # 7 domains + overall per study
    assert matplotlib.colors.to_hex(discs[0].get_facecolor()) == COLOURS["serious"].lower()
    assert matplotlib.colors.to_hex(discs[8].get_facecolor()) == COLOURS["critical"].lower()
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"D{i}" for i in range(1, 8)] + \
        ["Overall"]
    fig.savefig(tmp_path / "tl.png")
    assert (tmp_path / "tl.png").stat().st_size > 10_000
    assert dict(matplotlib.rcParams) == before
    import sys
    assert "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()


def test_weighted_summary_shares():
    fig = summary_bars(ROWS, "robins_i", weighted=True)
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    # overall row (index 7): serious 75%, critical 25% of the weight
    overall = sorted((round(b.get_width(), 6), matplotlib.colors.to_hex(b.get_facecolor()))
                     for b in bars if abs(b.get_y() + b.get_height() / 2 - 7) < 1e-9)
    assert overall == [(25.0, COLOURS["critical"].lower()), (75.0, COLOURS["serious"].lower())]
    fig = summary_bars(ROWS, "robins_i", weighted=False)
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    overall = sorted(round(b.get_width(), 6) for b in bars
                     if abs(b.get_y() + b.get_height() / 2 - 7) < 1e-9)
    assert overall == [50.0, 50.0]
