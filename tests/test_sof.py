"""Summary of Findings rows: absolute effects worked by hand, GRADE statements, footnotes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from synthesis.appraisal.grade import GradeInputs, Override, StudyRob, Thresholds, grade
from synthesis.appraisal.sof import (
    absolute_effects,
    risk_with_intervention,
    size_of_effect,
    sof_row,
    statement,
)

T = Thresholds()


def test_risk_with_intervention_by_hand():
    # OR 2 at ACR 0.2: 2 * 0.2 / (1 - 0.2 + 2 * 0.2) = 0.4 / 1.2
    assert risk_with_intervention(0.2, 2.0, "OR") == pytest.approx(1 / 3, rel=1e-12)
    # RR 1.5 at 0.2
    assert risk_with_intervention(0.2, 1.5, "RR") == pytest.approx(0.3, rel=1e-12)
    # HR 0.5 at ACR 0.4: 1 - 0.6 ** 0.5 = 1 - 0.7745967 = 0.2254033
    assert risk_with_intervention(0.4, 0.5, "HR") == pytest.approx(0.2254033, rel=1e-6)
    with pytest.raises(ValueError):
        risk_with_intervention(0.4, 0.5, "PLO")


def test_absolute_effects_per_1000():
    # HR 0.5 (0.25 to 1.0) at ACR 0.4:
    #   with intervention 225.4 -> 225; difference -174.6 -> -175
    #   HR 0.25: 1 - 0.6 ** 0.25 = 0.11989 -> -280.1 -> -280; HR 1.0: 0
    a = absolute_effects(0.4, 0.5, 0.25, 1.0, "HR", "plan")
    assert (a.per1000_comparator, a.per1000_intervention) == (400, 225)
    assert (a.difference, a.diff_lower, a.diff_upper) == (-175, -280, 0)
    assert a.text() == "175 fewer per 1,000 (280 fewer to 0)"
    # risk with the intervention at the CI limits: 1000 * 0.11989 -> 120; HR 1 -> 400
    assert a.intervention_text() == "225 per 1,000 (120 to 400)"


def test_size_of_effect_bands():
    assert size_of_effect(0.81, T) == "trivial"        # default band 0.8-1.25
    assert size_of_effect(0.8, T) == "small"
    assert size_of_effect(0.51, T) == "small"
    assert size_of_effect(0.5, T) == "large"
    assert size_of_effect(1.24, T) == "trivial"
    assert size_of_effect(1.25, T) == "small"
    assert size_of_effect(0.95, replace(T, benefit=0.95, harm=1.05)) == "small"


@pytest.mark.parametrize("score,estimate,expected", [
    (4, 0.4, "GC reduces relapse."),
    (4, 0.7, "GC slightly reduces relapse."),
    (4, 1.0, "GC results in little to no difference in relapse."),
    (3, 2.5, "GC probably increases relapse."),
    (3, 0.7, "GC probably slightly reduces relapse."),
    (3, 1.1, "GC probably results in little to no difference in relapse."),
    (2, 0.4, "GC may reduce relapse."),
    (2, 1.5, "GC may slightly increase relapse."),
    (2, 0.9, "GC may result in little to no difference in relapse."),
    (1, 0.4, "The evidence is very uncertain about the effect of GC on relapse."),
])
def test_statements_follow_santesso_2020(score, estimate, expected):
    assert statement(score, estimate, T, "GC", "relapse") == expected


def test_row_with_footnotes_and_override():
    c = grade(GradeInputs(design="non-randomised", ratio=True, estimate=0.45, ci_lower=0.25,
                          ci_upper=0.81, k=2,
                          studies=(StudyRob("zhang2025", 60, 2, "serious"),
                                   StudyRob("ma2024", 40, 2, "serious"))),
              T, {"imprecision": Override(1, "only 2 studies and 203 patients")})
    row = sof_row(outcome="PFS", analysis="gc_pfs", measure="HR", estimate=0.45,
                  ci_lower=0.25, ci_upper=0.81, participants=203, studies=2, certainty=c,
                  thresholds=T, intervention="GC", event="progression, relapse or death",
                  acr=0.4, acr_source="plan", sensitivity="Sensitivity: no study left.")
    # 2 - 1 (RoB: 100% serious) - 1 (imprecision override) = 0 -> very low (floor)
    assert row.certainty_text == "⊕◯◯◯ Very low"
    assert row.relative == "HR 0.45 (0.25 to 0.81)"
    assert row.participants_text == "203 (2 studies)"
    assert row.statement.startswith("The evidence is very uncertain")
    assert row.footnotes[0].startswith("Risk of bias: downgraded one level. Rule: 100% of the "
                                       "weight is at serious or critical risk")
    assert row.footnotes[1] == ("Imprecision: downgraded one level. Rule: CI 0.25–0.81 excludes "
                                "the null and the plan's thresholds. The rule suggested not "
                                "serious; the review overrides it: only 2 studies and 203 "
                                "patients")
    assert row.footnotes[-1] == "Sensitivity: no study left."
    # HR 0.45 at 0.4: 1 - 0.6 ** 0.45 = 0.205 -> 205; difference -195
    assert row.absolute.per1000_intervention == 205 and row.absolute.difference == -195


def test_row_without_comparator_risk_says_so():
    c = grade(GradeInputs(design="non-randomised", ratio=True, estimate=0.45, ci_lower=0.25,
                          ci_upper=0.81, k=1, studies=(StudyRob("a", 1, 1, "moderate"),)), T)
    row = sof_row(outcome="PFS", analysis="x", measure="HR", estimate=0.45, ci_lower=0.25,
                  ci_upper=0.81, participants=None, studies=1, certainty=c, thresholds=T,
                  intervention="GC", event="events", acr=None, acr_source="")
    assert row.absolute is None and "assumed_risk" in row.absolute_note
    assert row.participants_text == "not reported (1 study)"
    # low start, nothing downgraded, HR 0.45 is large (>= 2-fold) -> up one: moderate
    assert row.certainty_text == "⊕⊕⊕◯ Moderate"
    assert row.statement == "GC probably reduces events."


# --- writers ---------------------------------------------------------------------------------


def _table():
    from synthesis.appraisal.sof import SofTableResult
    c = grade(GradeInputs(design="non-randomised", ratio=True, estimate=0.45, ci_lower=0.25,
                          ci_upper=0.81, k=1, studies=(StudyRob("a", 1, 2, "serious"),)), T)
    row = sof_row(outcome="PFS | EFS", analysis="x", measure="HR", estimate=0.45, ci_lower=0.25,
                  ci_upper=0.81, participants=94, studies=1, certainty=c, thresholds=T,
                  intervention="GC", event="progression", acr=0.4, acr_source="plan")
    return SofTableResult("gc", "GC <vs> no GC", "B-ALL", None, "GC", "no GC", (row,))


def test_markdown_csv_html_escape_and_agree():
    from synthesis.appraisal.sofwrite import csv_text, html_fragment, markdown
    t = _table()
    md = markdown([t])
    # HR 0.25 and 0.81 at 0.4: 1 - 0.6 ** 0.25 = 0.1199, 1 - 0.6 ** 0.81 = 0.3389
    assert "| PFS \\| EFS | 400 per 1,000 | 205 per 1,000 (120 to 339) |" in md
    assert "a. Risk of bias: downgraded one level." in md
    h = html_fragment([t])
    assert "GC &lt;vs&gt; no GC" in h and "<sup>a</sup>" in h
    lines = csv_text([t]).splitlines()
    assert lines[1].startswith('gc,PFS | EFS,x,400,205,-195,-280,-61,plan,HR,0.45,0.25,0.81,94,1,')


def test_docx_is_a_real_table_and_reproducible():
    import io

    from docx import Document

    from synthesis.appraisal.sofwrite import HEADERS, docx_bytes
    data = docx_bytes([_table()], "SoF")
    assert data == docx_bytes([_table()], "SoF")
    doc = Document(io.BytesIO(data))
    (table,) = doc.tables
    assert len(table.columns) == len(HEADERS) == 8
    assert [c.text for c in table.rows[0].cells][:3] == ["Outcome", "Risk with no GC",
                                                         "Risk with GC (95% CI)"]
    assert table.rows[1].cells[6].text == "⊕◯◯◯ Very lowa"   # letter as a superscript run
