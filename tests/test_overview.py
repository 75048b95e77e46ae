"""The overview: plan section, rows from fits, tables and figure."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from synthesis.overview_spec import OverviewSpec
from synthesis.plan import PlanError, load_plan
from synthesis.report.overview import (OverviewRow, lead_fields, overview_html, overview_markdown,
                                       overview_rows, participants)
from synthesis.report.overview_figure import overview_figure

ROOT = Path(__file__).resolve().parents[1]

ROWS = [
    OverviewRow("PFS / EFS / LFS (HR)", "GC", "gc_pfs", "GC PFS", "HR", 2, 213, True,
                0.5212, 0.2241, 1.2113, "CrI", 0.95, 20.5, 0.1978, "Bayesian RE",
                "Bayesian random effects, half-normal(0.5) prior on τ; 95% CrI"),
    OverviewRow("PFS / EFS / LFS (HR)", "RUX", "rux_pfs", "RUX PFS", "HR", 1, None, False,
                0.83, 0.38, 1.83, "CI", 0.95, None, None, "single study",
                "Single study, as reported; 95% CI"),
    OverviewRow("Overall survival (HR)", "low-dose GC", "gc_ld_os", "LD GC OS", "HR", 0,
                reason="no study reports a poolable estimate (Zhang 2025: reported p = 0.13)"),
    OverviewRow("Incidence", "CRS, any grade", "crs", "CRS", "PLO", 3, 258, True, 0.882055,
                0.647668, 0.968178, "CrI", 0.95, 61.4, 0.43, "Bayesian RE", "Bayes; 95% CrI"),
]


def test_row_texts():
    gc, rux, none, crs = ROWS
    assert gc.estimate_text() == "0.52 [0.22, 1.21]"
    assert gc.k_text() == "2 (213)" and gc.heterogeneity_text() == "I² 20%, τ 0.20"
    assert rux.single and rux.k_text() == "1" and rux.heterogeneity_text() == "—"
    assert rux.estimate_text() == "0.83 [0.38, 1.83]"  # the printed CI, not 1.82
    assert not none.has_estimate and none.estimate_text() == "—"
    assert crs.estimate_text() == "88.2% [64.8, 96.8]" and crs.measure_label == "proportion"


def test_markdown_table():
    md = overview_markdown(ROWS, "Overview")
    lines = md.splitlines()
    assert lines[0] == "## Overview"
    assert lines[2] == ("| outcome | exposure | measure | k (participants) | estimate [interval] "
                        "| I², τ | lead estimate |")
    assert lines[4] == ("| PFS / EFS / LFS (HR) | [GC](gc_pfs/forest.png) | HR | 2 (213) | "
                        "0.52 [0.22, 1.21] 95% CrI | I² 20%, τ 0.20 | Bayesian random effects, "
                        "half-normal(0.5) prior on τ; 95% CrI |")
    assert lines[5].startswith("| PFS / EFS / LFS (HR) | [RUX †](rux_pfs/forest.png) | HR | 1 | "
                               "0.83 [0.38, 1.83] 95% CI |")
    assert ("| Overall survival (HR) | [low-dose GC](gc_ld_os/forest.png) | HR | 0 | no estimate: "
            "no study reports a poolable estimate (Zhang 2025: reported p = 0.13) | — | — |") in md
    assert "† single study" in md


def test_html_fragment():
    frag = overview_html(ROWS, "Overview <all>")
    assert frag.startswith('<section id="overview"><h2>Overview &lt;all&gt;</h2>')
    assert '<img class="overview" src="overview.png"' in frag
    assert frag.count("<tr") == 5  # header + 4 rows
    assert '<tr class="none">' in frag and 'href="#gc_ld_os"' in frag
    # the outcome heading is printed once per group
    assert frag.count("<td>PFS / EFS / LFS (HR)</td>") == 1


def test_figure_renders_each_group_on_its_own_scale():
    fig = overview_figure(ROWS, "Overview")
    axes = fig.axes
    assert len(axes) == 3  # PFS, OS, incidence
    assert axes[0].get_xscale() == "log" and axes[2].get_xscale() == "linear"
    lo, hi = axes[0].get_xlim()
    # the axis shows every estimate and the null line
    assert lo < 0.52 and hi > 1.0
    assert axes[2].get_xlim() == (0.0, 1.0)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_participants():
    binary = SimpleNamespace(study_id="a", record=SimpleNamespace(
        kind="binary", exposed=SimpleNamespace(total=42), reference=SimpleNamespace(total=46)))
    prop = SimpleNamespace(study_id="b", record=SimpleNamespace(kind="proportion", total=45))
    ratio = SimpleNamespace(study_id="c", record=SimpleNamespace(kind="ratio"))
    assert participants([binary, prop]) == (42 + 46 + 45, True)
    assert participants([binary, ratio], {"c": 93}) == (42 + 46 + 93, True)
    assert participants([binary, ratio], {}) == (88, False)
    assert participants([ratio], {}) == (None, False)


def test_rows_follow_the_plan_order_and_give_reasons():
    from synthesis.smallk import LabelledEstimate, LeadDecision

    spec = OverviewSpec.model_validate({"title": "T", "groups": [
        {"outcome": "OS", "rows": [{"exposure": "TCZ", "analysis": "b"},
                                   {"exposure": "GC", "analysis": "a"},
                                   {"exposure": "RUX", "analysis": "c"}]}]})
    lead = LabelledEstimate("bayes", "Bayesian random effects, half-normal(0.5) prior on τ", 2,
                            0.5, 0.2, 1.2, "CrI", tau=0.19)
    contribs = [SimpleNamespace(study_id=s, record=SimpleNamespace(kind="ratio"))
                for s in ("s0", "s1")]
    fit_a = SimpleNamespace(lead=lead, alternatives=(), main=SimpleNamespace(excluded={}),
                            lead_rule=LeadDecision("bayes", "k = 2"),
                            data=SimpleNamespace(contributions=contribs, not_pooled=[]))
    fit_b = SimpleNamespace(lead=None, alternatives=(), main=None, lead_rule=None,
                            data=SimpleNamespace(contributions=[], not_pooled=[
                                SimpleNamespace(label="Zhou 2025", reason="reported p = 0.41")]))
    study = lambda n: SimpleNamespace(population=SimpleNamespace(  # noqa: E731
        n_infused=n, n_evaluable=None, n_enrolled=None))
    rows = {"a": {"id": "a", "title": "A", "measure": "HR", "k": 2, "i2": 35.0, "tau2": 0.0361}
            | lead_fields(fit_a, {"s0": study(100), "s1": study(20)}),
            "b": {"id": "b", "title": "B", "measure": "HR", "k": 0} | lead_fields(fit_b, {})}
    assert rows["a"]["lead_method"] == ("Bayesian random effects, half-normal(0.5) prior on τ; "
                                        "95% CrI")
    assert (rows["a"]["estimate"], rows["a"]["ci_lb"], rows["a"]["ci_ub"]) == (0.5, 0.2, 1.2)
    b, a, c = overview_rows(spec, rows)
    assert [r.analysis_id for r in (b, a, c)] == ["b", "a", "c"]
    assert b.reason == "no study reports a poolable estimate (Zhou 2025: reported p = 0.41)"
    assert (a.k, a.participants, a.i2, a.tau, a.method) == (2, 120, 35.0, 0.19, "Bayesian RE")
    assert a.interval == "CrI"
    assert c.reason == "not built"


def test_plan_overview_must_name_analyses(tmp_path):
    plan = (ROOT / "review.yaml").read_text()
    assert "overview:" in plan
    bad = plan.replace("analysis: tcz_os_hr}", "analysis: tcz_os}")
    (tmp_path / "review.yaml").write_text(bad)
    with pytest.raises(PlanError) as exc:
        load_plan(tmp_path / "review.yaml")
    (msg,) = exc.value.messages
    text = str(msg)
    assert "overview" in text and "'tcz_os' is not an analysis of the plan" in text
    assert text.startswith(f"{tmp_path / 'review.yaml'}:")


def test_plan_overview_is_optional(tmp_path):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "ma2024.yaml").write_text((ROOT / "studies" / "ma2024.yaml").read_text())
    (tmp_path / "review.yaml").write_text(textwrap.dedent("""\
        review_version: 1
        title: t
        analyses:
          - id: a
            title: A
            select: {kind: proportion, outcome: [crs_any]}
            measure: PLO
        """))
    assert load_plan(tmp_path / "review.yaml").overview is None


# --- the axis shows the estimates, not the widest interval ----------------------------------


def test_axis_limits_follow_the_estimates():
    from synthesis.drawing import axis_limits, log_ticks

    # GC → PFS: study HRs 0.698 [0.334, 1.458] and 0.37 [0.16, 0.84]; Bayesian 0.52 [0.22, 1.21];
    # REML/HKSJ 0.52 [0.0094, 29.0]; common effect 0.53 [0.30, 0.91]. Estimates and null span
    # [0.37, 1]; intervals are shown up to 4× beyond: low end max(0.0094, 0.37/4 = 0.0925)/1.15
    # = 0.080 -> tick 0.05; high end min(29.0, 4)·1.15 = 4.6 -> tick 5. The REML interval gets
    # arrows instead of stretching the axis to 0.01–100.
    est = [0.698, 0.37, 0.5212, 0.5235, 0.5275]
    ci = [(0.334, 1.458), (0.16, 0.84), (0.224, 1.211), (0.0094, 29.0), (0.304, 0.915)]
    assert axis_limits(est, ci, log=True, null=1.0) == (0.05, 5.0)
    assert log_ticks(0.05, 5.0) == [0.05, 0.1, 0.2, 0.5, 1, 2, 5]
    # one study, 0.83 [0.38, 1.83]: 0.38/1.15 = 0.33 -> 0.2; 1.83·1.15 = 2.10 -> 5
    assert axis_limits([0.83], [(0.38, 1.83)], log=True, null=1.0) == (0.2, 5.0)
    # an estimate far out is always inside: 0.02 [0.001, 0.4]
    lo, hi = axis_limits([0.02], [(0.001, 0.4)], log=True, null=1.0)
    assert lo <= 0.02 and hi >= 1.0
    # linear (risk difference): estimates 0.1 and 0.3, null 0; range [0, 0.3], width 0.3,
    # interval [-0.2, 0.5] inside the reach; padding 6% of 0.7 = 0.042
    lo, hi = axis_limits([0.1, 0.3], [(-0.2, 0.5)], log=False, null=0.0)
    assert (round(lo, 6), round(hi, 6)) == (-0.242, 0.542)


def test_diamond_and_ci_get_arrows_beyond_the_axis():
    from matplotlib.text import Annotation

    from synthesis.drawing import ci_line, diamond, new_figure

    fig = new_figure(4, 2)
    ax = fig.add_axes([0.1, 0.1, 0.8, 0.8])
    ax.set_xscale("log")
    ax.set_xlim(0.05, 5)
    diamond(ax, 0.52, 0.0094, 29.0, 0, 0.05, 5)  # off both ends
    ci_line(ax, 0.16, 0.84, 1, 0.05, 5)  # inside: no arrow
    ci_line(ax, 0.3, 12.0, 2, 0.05, 5)  # off the right end
    arrows = [a for a in ax.get_children() if isinstance(a, Annotation)]
    assert sorted((round(a.xy[0], 3), a.xy[1]) for a in arrows) == [(0.05, 0), (5, 0), (5, 2)]
    (poly,) = ax.patches
    xs = [x for x, _ in poly.get_xy()]
    assert min(xs) == 0.05 and max(xs) == 5  # the diamond ends at the edges


def test_single_study_numbers_as_printed():
    from synthesis.report.overview import as_printed, printed_effect

    assert as_printed(0.785) == "0.785" and as_printed(1.83) == "1.83" and as_printed(3.0) == "3.00"
    assert as_printed(0.9) == "0.90" and as_printed(2.466) == "2.466"
    assert printed_effect(0.785, 0.25, 2.465) == "0.785 [0.25, 2.465]"
    row = OverviewRow("OS", "severe toxicity", "s", "S", "HR", 1, 93, True, 0.785, 0.25, 2.465,
                      printed=True)
    assert row.estimate_text() == "0.785 [0.25, 2.465]"  # not 0.79 [0.25, 2.47]


def test_alternatives_listed_beside_the_lead_in_results_md():
    from synthesis.report.overview import alternatives_markdown

    rows = [{"title": "GC *PFS*", "measure": "HR", "estimate": 0.5214, "ci_lb": 0.2194,
             "ci_ub": 1.2113, "level": 0.95, "lead_method": "Bayesian RE; 95% CrI",
             "alternatives": [{"label": "Random effects (REML)", "estimate": 0.5235,
                               "ci_lb": 0.0094, "ci_ub": 29.007, "interval": "CI",
                               "level": 0.95}]},
            {"title": "RUX", "measure": "HR", "estimate": 0.83, "alternatives": []}]
    text = alternatives_markdown(rows)
    assert "- **GC \\*PFS\\*** — lead: Bayesian RE; 95% CrI: 0.52 [0.22, 1.21]" in text
    assert "  - Random effects (REML): 0.52 [0.01, 29.01] (95% CI)" in text
    assert "RUX" not in text
    assert alternatives_markdown(rows[1:]) == ""
