"""robvis-style plots: one disc per study and domain, shares per judgement, no global state."""

from __future__ import annotations

import matplotlib
from matplotlib.patches import Rectangle

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
    discs = ax.collections[0]  # one scatter: a disc per cell, row by row
    assert len(discs.get_offsets()) == 2 * 8         # 7 domains + overall per study
    assert tuple(discs.get_offsets()[8]) == (0, 1)   # study 2, D1
    assert matplotlib.colors.to_hex(discs.get_facecolor()[0]) == COLOURS["serious"].lower()
    assert matplotlib.colors.to_hex(discs.get_facecolor()[8]) == COLOURS["critical"].lower()
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


def test_forest_rob_column_adds_the_overall_judgement():
    from dataclasses import dataclass

    from extract.appraisal import TOOLS
    from synthesis.appraisal.assess import Appraisal, StudyAppraisal
    from synthesis.appraisal.grade import Thresholds
    from synthesis.appraisal.outputs import with_rob_column
    from synthesis.plots import ForestRow, ForestSpec

    @dataclass(frozen=True)
    class J:
        judgement: str

    @dataclass(frozen=True)
    class A:  # the two attributes StudyAppraisal reads from an assessment
        overall: J
        tool: str = "robins_i"

    ap = Appraisal("x", "robins_i", (
        StudyAppraisal("a", "A 2020", "a.yaml", 60.0, "robins_i", A(J("critical"))),
        StudyAppraisal("b", "B 2021", "b.yaml", 40.0, "robins_i", None, "no assessment")),
        None, None, None, Thresholds())
    spec = ForestSpec("t", [ForestRow("study", "A 2020", cells=["adj."]),
                            ForestRow("study", "B 2021", cells=["unadj."]),
                            ForestRow("pooled", "Total", cells=[""]), ForestRow("blank", "")],
                      ["Model"], "HR", True, 1.0)
    out = with_rob_column(spec, ap)
    assert out.columns == ["Model", "Risk of\nbias"]
    assert [r.cells for r in out.rows] == [["adj.", "Critical"], ["unadj.", "Not assessed"],
                                           ["", ""], []]
    assert out.footnotes[-1] == "Risk of bias: overall ROBINS-I judgement"
    assert spec.columns == ["Model"]  # the input is not changed
    assert TOOLS["robins_i"].short["critical"] == "Critical"
