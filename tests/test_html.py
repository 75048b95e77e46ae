"""index.html as a page: what comes first, what each analysis shows, and that it is one folder."""

from __future__ import annotations

import re
from types import SimpleNamespace

from synthesis.report.html import estimate_text, index_html

PLAN = SimpleNamespace(title="A review <of things>")
ROWS = [
    {"id": "gc_pfs", "title": "GC PFS", "section": "GC", "measure": "HR", "k": 2, "not_pooled": 0,
     "estimate": 0.5214, "ci_lb": 0.2194, "ci_ub": 1.2113, "lead_interval": "CrI", "level": 0.95,
     "lead_method": "Bayesian random effects, half-normal(0.5) prior on τ; 95% CrI",
     "lead_rule": "k = 2 (2–4 studies): …",
     "alternatives": [{"label": "Random effects (REML, HKSJ CI)", "estimate": 0.5235,
                       "ci_lb": 0.0094, "ci_ub": 29.007, "interval": "CI", "level": 0.95}]},
    {"id": "rux_pfs", "title": "RUX PFS", "section": "RUX", "measure": "HR", "k": 1,
     "not_pooled": 0, "estimate": 0.83, "ci_lb": 0.38, "ci_ub": 1.83, "lead_interval": "CI",
     "lead_printed": True, "lead_method": "Single study, as reported; 95% CI", "alternatives": []},
    {"id": "ld_os", "title": "Low-dose GC OS", "section": "GC", "measure": "HR", "k": 0,
     "not_pooled": 1, "estimate": None, "no_estimate": "no study reports a poolable estimate",
     "not_pooled_reasons": ["Zhang 2025: reported p = 0.23 (log-rank)"]},
    {"id": "crs", "title": "CRS incidence", "section": "Incidence", "measure": "PLO", "k": 3,
     "not_pooled": 0, "estimate": 0.8821, "ci_lb": 0.6477, "ci_ub": 0.9682, "lead_interval": "CI",
     "lead_method": "Random effects (GLMM); 95% CI", "alternatives": []},
]
FILES = {"gc_pfs": ["gc_pfs/forest.png", "gc_pfs/result.json", "gc_pfs/reproduce.R"],
         "crs": ["crs/forest.png", "crs/leave_one_out.png", "crs/baujat.png",
                 "crs/bubble_year.png"]}
HETS = {"crs": {"k": 3, "reading": "I² is imprecise with three studies.", "i2": 61.37,
                "i2_tau2": 59.7, "i2_ci": [0.0, 98.7], "tau": 0.4326, "tau_ci": [0.0, 3.13],
                "q": 5.1777, "q_df": 2.0, "q_pval": 0.0751}}


def _part(page: str, element_id: str, end: str = "</section>") -> str:
    """The page from the element with ``element_id`` to the next ``end``."""
    start = page.index(f'id="{element_id}"')
    return page[start:page.index(end, start)]


def _page() -> str:
    return index_html(PLAN, ROWS, "<section id=\"appraisal\">SoF</section>", hets=HETS,
                      files=FILES, overview="<section id=\"overview\">OVERVIEW</section>").decode()


def test_overview_first_then_analyses_in_plan_sections():
    page = _page()
    assert page.index('id="overview"') < page.index('id="analyses"') < page.index('id="gc_pfs"')
    # sections in the order they first appear; each analysis once as a section
    assert [m for m in re.findall(r"<h2>([^<]+)</h2>", page)] == ["All analyses", "GC", "RUX",
                                                                  "Incidence"]
    assert page.index('id="ld_os"') < page.index('id="rux_pfs"')  # GC section before RUX
    assert page.rstrip().endswith('<section id="appraisal">SoF</section>\n</body></html>')
    assert "<title>A review &lt;of things&gt;</title>" in page


def test_results_table_has_measure_and_lead():
    page = _page()
    table = _part(page, "analyses", "</table>")
    assert "<th>measure</th>" in table
    assert "<td>HR</td><td>2</td><td>0.52 [0.22, 1.21] (95% CrI)</td>" in table
    # the single study's CI as printed (1.83), not recomputed from its log SE (1.82)
    assert "<td>0.83 [0.38, 1.83] (95% CI, as printed)</td>" in table
    assert "<td>PLO</td><td>3</td><td>88.2% [64.8%, 96.8%] (95% CI)</td>" in table
    assert '<tr class="none">' in table


def test_each_analysis_shows_lead_alternatives_plots_and_not_pooled():
    page = _page()
    gc = _part(page, "gc_pfs")
    assert "Why this one: k = 2" in gc
    assert "<li>Random effects (REML, HKSJ CI): 0.52 [0.01, 29.01] (95% CI)</li>" in gc
    assert '<img src="gc_pfs/forest.png"' in gc and 'href="gc_pfs/reproduce.R"' in gc
    assert "Every matching study was pooled." in gc
    crs = _part(page, "crs")
    assert "I² is imprecise with three studies." in crs
    assert "τ²-based I² = 60% [0%, 99%]" in crs and "τ = 0.433 [0.000, 3.130]" in crs
    assert "Q: 5.18, df = 2, p = 0.08" in crs  # df as a count, not 2.0
    assert "<strong>Proportion 88.2% [64.8%, 96.8%] (95% CI)</strong>" in crs
    for img in ("crs/leave_one_out.png", "crs/baujat.png", "crs/bubble_year.png"):
        assert f'<img src="{img}"' in crs
    assert "Meta-regression: year" in crs
    ld = _part(page, "ld_os")
    assert "<strong>No estimate</strong>: no study reports a poolable estimate." in ld
    assert "<li>Zhang 2025: reported p = 0.23 (log-rank)</li>" in ld


def test_one_folder_relative_links_only():
    page = _page()
    for link in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not re.match(r"^(/|[a-z]+:)", link), f"{link} is not relative to the folder"
        assert ".." not in link


def test_estimate_text_without_estimate():
    assert estimate_text({"measure": "HR", "estimate": None}) == "—"
