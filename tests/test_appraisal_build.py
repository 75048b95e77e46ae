"""The review-wide appraisal on the shipped review: SoF for GC and TCZ, plots, reasons that
trace back to quotes and numbers. Needs the seed papers (../shared/seeds) for the quotes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
pytestmark = pytest.mark.skipif(not SEEDS.is_dir(),
                                reason="seed papers not found in ../shared/seeds")


@pytest.fixture(scope="module")
def review():
    from synthesis.appraisal.review import review_appraisal
    from synthesis.pipeline import load_studies
    from synthesis.plan import load_plan

    plan = load_plan(ROOT / "review.yaml")
    studies, _ = load_studies(plan, ROOT, SEEDS)
    return review_appraisal(plan, studies)


def test_files_and_index_section(review):
    files, section = review
    for name in ("sof.md", "sof.csv", "sof.docx", "appraisal.md",
                 "rob_robins_i_traffic_light.png", "rob_robins_i_summary.png",
                 "rob_robins_e_traffic_light.png", "rob_robins_e_summary.png"):
        assert files[name], name
    assert '<section id="appraisal">' in section and 'id="sof-gc"' in section
    assert 'id="sof-tcz"' in section


def test_sof_rows_for_gc_and_tcz_trace_to_numbers(review):
    files, _ = review
    rows = list(csv.DictReader(io.StringIO(files["sof.csv"].decode())))
    by = {(r["table"], r["analysis"]): r for r in rows}
    assert {t for t, _ in by} == {"gc", "tcz"}
    cr = by[("gc", "gc_cr")]
    # Zhang 2025 Table 3: GC 53/55 CR, no GC 40/46 -> comparator risk 40/46 = 0.8696 -> 870
    assert cr["per1000_comparator"] == "870" and cr["measure"] == "OR"
    assert cr["participants"] == "101" and cr["certainty"] == "very low"
    # the reasons: Zhang 2025's overall ROBINS-I judgement and the optimal information size
    # (p0 = 40/46, p1 = 0.75 p0: n/arm = 7.8489 (0.1134 + 0.2268) / 0.2174^2 = 56.5 -> 57,
    # total 114)
    assert "Zhang 2025 serious (100%)" in cr["footnotes"]
    assert "101 participants < optimal information size 114" in cr["footnotes"]
    inf = by[("tcz", "tcz_serious_infection")]
    # Zhou 2025: 9/17 vs 10/28 serious infections; critical risk of bias -> down two levels
    assert inf["per1000_comparator"] == "357"
    assert "downgraded two levels" in inf["footnotes"] and "Zhou 2025 critical" in inf["footnotes"]


def test_judgements_trace_to_quotes(review):
    files, _ = review
    md = files["appraisal.md"].decode()
    assert "Variables with p < 0.2 were incorporated into the Cox regression model" in md
    assert ("However, the toci group had a higher tumor load, CRS grade and dose of "
            "corticosteroid with significant statistical difference.") in md
    assert "`studies/zhou2025.yaml`, risk_of_bias `tcz_all_outcomes`." in md


def test_docx_opens_with_two_tables(review):
    from docx import Document

    doc = Document(io.BytesIO(review[0]["sof.docx"]))
    assert len(doc.tables) == 2
    assert doc.tables[1].rows[0].cells[2].text == "Risk with TCZ (95% CI)"
