"""Study and plan text is inert in every output: never parsed as mathtext by matplotlib, never
raw HTML or Markdown in results.md / heterogeneity.md / index.html, never a formula in
results.csv (OWASP CSV injection). Each hostile field is checked where it is written."""

from __future__ import annotations

import csv
import html
import io
import shutil
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pytest
import yaml

from synthesis import cli
from synthesis.report.escape import csv_cell, md

markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py renders the Markdown")

REPO = Path(__file__).resolve().parents[1]

# one payload per field, each unique so a hit names its field
REVIEW_TITLE = "@review <b>bold</b> $\\frac{a}{b}$"
TITLE = '=HYPERLINK("http://evil.example","x") <img src=x onerror=alert(1)> | *b* $\\undefinedmacro$'
SECTION = "+SUM(A1) <script>alert(2)</script> [link](http://evil.example)"
FAVOURS = ["$" + "{" * 40 + "x" + "}" * 40 + "$", "-1+1 $\\undefinedmacro$"]
AUTHOR = "<img/src=x/onerror=alert(3)>$\\undefinedmacro$"  # one word: the study's label
TARGET = "<img src=y onerror=alert(4)>"
HOSTILE_TAGS = ("img", "script", "b")


def _md_html(text: str) -> str:
    return markdown_it.MarkdownIt("commonmark").enable("table").render(text)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(html_text: str) -> list[tuple[str, dict]]:
    p = _Tags()
    p.feed(html_text)
    return p.tags


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A two-analysis copy of the review with a payload in every text field, built once."""
    root = tmp_path_factory.mktemp("hostile")
    plan = yaml.safe_load((REPO / "review.yaml").read_text())
    plan = {k: v for k, v in plan.items()
            if k in ("review_version", "title", "studies", "output", "analyses")}
    plan["title"] = REVIEW_TITLE
    plan["analyses"] = [a for a in plan["analyses"] if a["id"] in ("gc_cr", "crs_any_incidence")]
    for a in plan["analyses"]:
        a["title"], a["section"] = TITLE + " " + a["id"], SECTION
    plan["analyses"][0]["favours"] = FAVOURS
    (root / "review.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True, sort_keys=False))
    shutil.copytree(REPO / "studies", root / "studies")
    study = root / "studies" / "zhang2025.yaml"
    data = yaml.safe_load(study.read_text())
    authors = data["citation"]["authors"]
    targets = data["population"]["car_targets"]
    text = study.read_text()
    text = text.replace(f"authors: [{authors[0]},", f"authors: ['{AUTHOR}',", 1)
    text = text.replace("car_targets: [", f"car_targets: ['{TARGET}', ", 1)
    study.write_text(text)
    assert yaml.safe_load(study.read_text())["population"]["car_targets"] == [TARGET] + targets
    code = cli.main(["build", "--plan", str(root / "review.yaml"), "--jobs", "1", "--quiet"])
    return root, code


def test_build_with_mathtext_in_every_drawn_field_succeeds(hostile):
    """The issue: a first author "$\\undefinedmacro$" crashed the build (exit 70); 40 nested
    braces gave a RecursionError; so did a `$` in favours."""
    root, code = hostile
    assert code == 0
    assert (root / "output" / "gc_cr" / "forest.png").stat().st_size > 0
    assert (root / "output" / "crs_any_incidence" / "leave_one_out.png").is_file()


def test_forest_text_is_drawn_literally():
    from synthesis.plots import ForestRow, ForestSpec, forest_figure

    label = "$\\undefinedmacro$ & $x^2$"
    spec = ForestSpec(title=TITLE, rows=[ForestRow("study", label, 1.5, 1.0, 2.0, 100.0, ["3/4"],
                                                   "1.50 [1.00, 2.00]")],
                      columns=["n/N"], effect_header="Odds Ratio", log_scale=True,
                      null_value=1.0, favours=tuple(FAVOURS), summary_lines=[SECTION])
    fig = forest_figure(spec)
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "text.parse_math": False}):
        fig.savefig(buf, format="svg")
    svg = buf.getvalue().decode()
    for text in (label, TITLE, FAVOURS[1]):  # the very characters, as text, in the SVG
        assert html.escape(text, quote=False) in svg, text


def test_results_csv_cells_are_not_formulas(hostile):
    root, _ = hostile
    with open(root / "output" / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["title"] for r in rows} == {"'" + TITLE + " gc_cr", "'" + TITLE + " crs_any_incidence"}
    assert {r["section"] for r in rows} == {"'" + SECTION}
    for r in rows:
        for key, cell in r.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (key, cell)
            if cell.startswith("-"):  # only a number may start with a minus
                float(cell)


def test_results_md_shows_plan_text_literally(hostile):
    root, _ = hostile
    text = (root / "output" / "results.md").read_text()
    rendered = _md_html(text)
    assert not [t for t, _ in _tags(rendered) if t in HOSTILE_TAGS]
    assert html.escape(REVIEW_TITLE, quote=False) in rendered
    assert html.escape(TITLE + " gc_cr", quote=False) in rendered.replace("&quot;", '"')
    # the table keeps its columns: a | in a title does not open a new cell
    table = [line for line in text.splitlines() if "gc_cr/forest.png" in line][0]
    assert len(_md_html(text).split("<tr>")) >= 3
    assert table.count(" | ") == table.replace("\\|", "").count(" | ")


def test_heterogeneity_md_shows_study_text_literally(hostile):
    root, _ = hostile
    text = (root / "output" / "heterogeneity.md").read_text()
    rendered = _md_html(text)
    assert not [t for t, _ in _tags(rendered) if t in HOSTILE_TAGS]
    assert html.escape(TARGET, quote=False) in rendered  # the car_target subgroup level
    assert html.escape(TITLE, quote=False) in rendered.replace("&quot;", '"')


def test_index_html_has_no_injected_markup(hostile):
    root, _ = hostile
    page = (root / "output" / "index.html").read_text()
    tags = _tags(page)
    assert not [t for t, a in tags if "onerror" in a or t == "script"]
    assert html.escape(REVIEW_TITLE) in page


@pytest.mark.parametrize("value, expect", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), ("a=b", "a=b"), (1.5, 1.5), (3, 3),
])
def test_csv_cell_follows_owasp(value, expect):
    assert csv_cell(value) == expect


@pytest.mark.parametrize("text", [
    "<img src=x onerror=alert(1)>", "a | b", "*bold* _it_ `code` ~~s~~", "[l](http://x)",
    "![i](http://x)", "# heading", "- item", "1. item", "a\nb", "&amp; &lt;", "\\*", "$x$",
    "<!-- c -->", "line\r\nbreak",
])
def test_md_renders_as_the_literal_text(text):
    """CommonMark (markdown-it-py, an independent renderer) gives back exactly the text."""
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").enable(
        "strikethrough").renderInline(md(text))
    assert rendered == html.escape(" ".join(text.split()) if "\n" in text else text, quote=True)
