"""From paper to extraction: PDF text with pages, the audit, drafts, and quotes checked on PDF pages.

PDFs are generated here with pymupdf from the seed texts (several pages, a drawn table, a word
hyphenated across a line break, a ligature); nothing binary is committed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pymupdf
import pytest

from extract.audit import audit, two_by_two_pvalues
from extract.paper import dehyphenate, page_text
from extract.text import SourceError, load_document, sha256_of
from extract.validate import validate_paths
from synthesis import cli

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(),
                                 reason="seed papers not found at ../shared/seeds")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CARSYNTH_CACHE", str(tmp_path / "cache"))


def make_pdf(path: Path, paragraphs: list[str], per_page: int = 2, table: bool = True) -> Path:
    doc = pymupdf.open()
    for start in range(0, len(paragraphs), per_page):
        page = doc.new_page()
        page.insert_font(fontname="dv", fontfile=str(FONT))
        y = 72
        for para in paragraphs[start:start + per_page]:
            for line in para.split("\n"):
                page.insert_text((72, y), line, fontname="dv", fontsize=10)
                y += 14
            y += 10
        if table and start == 0:
            # a 3x3 ruled table: pymupdf's table finder detects the lines
            x0, y0, w, h = 72, y + 20, 120, 20
            cells = [["Group", "CR", "NR"], ["GC", "53", "2"], ["Non-GC", "40", "6"]]
            for r, row in enumerate(cells):
                for c, val in enumerate(row):
                    rect = pymupdf.Rect(x0 + c * w, y0 + r * h, x0 + (c + 1) * w, y0 + (r + 1) * h)
                    page.draw_rect(rect, color=(0, 0, 0), width=0.8)
                    page.insert_text((rect.x0 + 4, rect.y1 - 6), val, fontname="dv", fontsize=9)
    doc.save(path)
    doc.close()
    return path


PARAS = [
    "Among the 120 patients, 91.67% (110/120) developed CRS and the\n"
    "complete response was 86.96% (40/46) without GC and 96.36% (53/55) with GC (p = 0.17).",
    "Low-dose GC remained a protective factor for PFS (p = 0.017, HR = 0.37; 95% CI 0.16–0.84).",
    "The treat-\nment was well tolerated; the ﬁrst infusion was given on day 0.",
    "Among the enrolled patients, 16 (5.3%) experienced ICANS among 93 patients.",
]


def test_pdf_text_has_pages_tables_dehyphenation_and_ligatures(tmp_path):
    pdf = make_pdf(tmp_path / "paper.pdf", PARAS)
    doc = load_document(pdf)
    assert doc.kind == "pdf" and len(doc.pages) == 2
    assert doc.find("was 86.96% (40/46) without GC") == [1]
    assert doc.find("The treatment was well tolerated") == [2]  # hyphenation joined
    assert doc.find("the first infusion") == [2]  # ligature folded
    text = page_text(pdf)
    assert "treatment" in text["pages"][1] and len(text["pages"]) == 2
    assert any(t["page"] == 1 and ["GC", "53", "2"] in t["rows"] for t in text["tables"])
    # cached by sha256
    cached = Path(__import__("os").environ["CARSYNTH_CACHE"]) / "text" / f"{doc.sha256}.json"
    assert cached.is_file()


def test_dehyphenate_keeps_real_hyphens():
    assert dehyphenate("treat-\nment") == "treatment"
    assert dehyphenate("CAR-\nT cells") == "CAR-\nT cells"


@pytest.mark.parametrize("kind", ["corrupt", "encrypted", "image_only", "empty"])
def test_broken_pdfs_give_clear_errors(tmp_path, kind, capsys):
    path = tmp_path / f"{kind}.pdf"
    if kind == "corrupt":
        path.write_bytes(b"%PDF-1.7\n this is not really a pdf \x00\x01\x02")
        expected = "not a readable PDF"
    elif kind == "empty":
        path.write_bytes(b"")
        expected = "not a readable PDF"
    elif kind == "encrypted":
        make_pdf(tmp_path / "plain.pdf", PARAS[:1])
        doc = pymupdf.open(tmp_path / "plain.pdf")
        doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="o", user_pw="u")
        expected = "encrypted"
    else:
        doc = pymupdf.open()
        page = doc.new_page()
        pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 50, 50), False)
        pix.clear_with(200)
        page.insert_image(pymupdf.Rect(72, 72, 300, 300), pixmap=pix)
        doc.save(path)
        expected = "no text layer"
    with pytest.raises(SourceError, match=expected):
        load_document(path)
    for command in ("text", "audit"):
        assert cli.main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err


def test_audit_on_generated_pdf_reports_page_and_reproduces_the_2x2_test(tmp_path):
    pdf = make_pdf(tmp_path / "paper.pdf", PARAS)
    findings = audit(load_document(pdf))
    pct = [f for f in findings if f.kind == "percentage"]
    assert pct and pct[0].page == 2 and "16 (5.3%)" in pct[0].quote
    two = [f for f in findings if f.kind == "2x2 test"]
    assert two and "Yates" in two[0].message and two[0].page == 1
    assert findings == sorted(findings, key=lambda f: ({"error": 0, "warning": 1, "note": 2}[f.severity],
                                                       f.page, f.line))


def test_two_by_two_pvalues_match_r():
    # R 4.2: chisq.test(matrix(c(53,40,2,6),2)) and correct=FALSE; fisher.test(...)
    p = two_by_two_pvalues(53, 55, 40, 46)
    assert p["chi-square with Yates' correction"] == pytest.approx(0.1696101596, rel=1e-8)
    assert p["chi-square"] == pytest.approx(0.08126806104, rel=1e-8)
    assert p["Fisher's exact test"] == pytest.approx(0.1368994573, rel=1e-8)


@needs_seeds
@pytest.mark.parametrize("seed,expected", [
    ("002_5054636f0ebafb8c.txt", ["16 (5.3%)", "8 (2.65%)"]),
    ("004_2a7ad2f43d66f458.txt", ["84.8% does not match 38/45"]),
    ("000_71deb3a1bf788464.txt", ["reported p = 0.17 is reproduced by chi-square with Yates"]),
])
def test_audit_finds_the_seed_papers_real_inconsistencies(seed, expected):
    findings = audit(load_document(SEEDS / seed))
    text = "\n".join(f.message for f in findings)
    for e in expected:
        assert e in text


@needs_seeds
def test_new_drafts_a_file_refuses_to_overwrite_and_validates_without_crashing(tmp_path, capsys):
    studies = tmp_path / "studies"
    args = ["new", "ma2024", "--from", str(SEEDS / "002_5054636f0ebafb8c.txt"), "--studies", str(studies)]
    assert cli.main(args) == 0
    draft = (studies / "ma2024.yaml").read_text()
    assert 'doi: "10.3389/fimmu.2024.1448709"' in draft and "year: 2024" in draft
    assert sha256_of(SEEDS / "002_5054636f0ebafb8c.txt") in draft
    assert "16 (5.3%) experienced ICANS" not in draft  # a misprinted percentage is not proposed
    assert draft.count("review: pending") >= 20
    capsys.readouterr()
    assert cli.main(args) == 2
    assert "already exists; not overwriting" in capsys.readouterr().err
    code = cli.main(["validate", str(studies / "ma2024.yaml"), "--sources", str(SEEDS)])
    out = capsys.readouterr().out
    assert code == 0 and "0 errors" in out and "review: pending" in out and "internal error" not in out


def test_quotes_are_checked_against_the_pdf_page(tmp_path):
    pdf = make_pdf(tmp_path / "paper.pdf", PARAS)
    study = (Path(__file__).parent / "data" / "lee2026.yaml").read_text()
    study = study.replace("lee2026-synthetic.pdf", "paper.pdf").replace(
        "1111111111111111111111111111111111111111111111111111111111111aaa", sha256_of(pdf))
    # a quote that is on page 2, recorded as page 1
    study = study.replace('quotes: [{text: "CRS occurred in 60 of 80 patients"}]',
                          'quotes: [{text: "The treatment was well tolerated", page: 1}]')
    folder = tmp_path / "studies"
    folder.mkdir()
    (folder / "lee2026.yaml").write_text(study)
    rep = validate_paths([folder], tmp_path)
    msgs = [str(m) for m in rep.messages]
    assert any("quote is on page 2 of paper.pdf, not page 1" in m for m in msgs), msgs
    assert any("quote not found in paper.pdf" in m for m in msgs), msgs  # the other quotes
