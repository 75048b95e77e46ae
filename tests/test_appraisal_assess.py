"""assess.py on hand-made fits: which studies the sensitivity analysis drops, what it says,
the comparator risk and participants of binary records, the tool an analysis uses."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace as NS

import numpy as np

from synthesis.appraisal.assess import StudyAppraisal, comparator_arms, sensitivity, tool_for


@dataclass(frozen=True)
class J:
    judgement: str


@dataclass(frozen=True)
class A:
    overall: J
    tool: str = "robins_i"


def row(label, judgement):
    a = A(J(judgement)) if judgement else None
    return StudyAppraisal(label.lower(), label, f"{label}.yaml", 50.0, "robins_i", a)


def contrib(label, ee=0, ne=0, ec=0, nc=0):
    rec = NS(exposed=NS(events=ee, total=ne), reference=NS(events=ec, total=nc))
    return NS(label=label, record=rec)


def fit_of(contribs, kind="binary"):
    return NS(main=NS(estimate=0.1), data=NS(contributions=contribs),
              analysis=NS(select=NS(kind=kind)))


def test_sensitivity_drops_serious_and_critical_only_and_refits_the_rest():
    cs = [contrib("A"), contrib("B"), contrib("C"), contrib("D")]
    rows = [row("A", "serious"), row("B", "low"), row("C", "critical"), row("D", None)]
    seen = []

    def refit(kept):
        seen.append([c.label for c in kept])
        # HR 0.5 (0.25 to 1.0) on the log scale
        return NS(estimate=np.log(0.5), ci_lb=np.log(0.25), ci_ub=np.log(1.0), measure="RATIO")

    s = sensitivity(fit_of(cs), rows, refit)
    assert seen == [["B", "D"]]                       # not assessed is kept
    assert s.dropped == ("A", "C") and s.kept == ("B", "D")
    assert s.text == ("Sensitivity analysis without A, C (serious or critical risk of bias): "
                      "0.50 (0.25 to 1.00) from B, D.")


def test_sensitivity_when_nothing_or_everything_is_dropped():
    cs = [contrib("A"), contrib("B")]
    never = lambda kept: (_ for _ in ()).throw(AssertionError("no refit"))  # noqa: E731
    s = sensitivity(fit_of(cs), [row("A", "low"), row("B", "moderate")], never)
    assert s.dropped == () and "nothing to remove" in s.text
    s = sensitivity(fit_of(cs), [row("A", "serious"), row("B", "critical")], never)
    assert s.kept == () and s.text.endswith("no estimate remains without them.")


def test_arms_pool_the_comparator_arms():
    # 40/46 and 10/28 in the reference arms: (40 + 10) / (46 + 28) = 50/74
    fit = fit_of([contrib("A", 53, 55, 40, 46), contrib("B", 9, 17, 10, 28)])
    n, acr = comparator_arms(fit)
    assert n == 55 + 46 + 17 + 28 and acr == 50 / 74
    assert comparator_arms(fit_of([contrib("A")], kind="ratio")) == (None, None)


def test_tool_follows_the_plan_else_the_exposure():
    def analysis(tool, exposure):
        return NS(appraisal=NS(rob_tool=tool), select=NS(exposure=exposure))
    assert tool_for(analysis(None, ["gc", "gc_low_dose"])) == "robins_i"
    assert tool_for(analysis(None, ["crs_or_icans_grade3plus"])) == "robins_e"
    assert tool_for(analysis(None, [])) == "robins_e"
    assert tool_for(analysis("rob2", ["gc"])) == "rob2"
