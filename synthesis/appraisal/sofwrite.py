"""Summary of Findings tables as Markdown, CSV, an HTML fragment and a Word document.

The layout is the Cochrane/GRADEpro one: outcome; anticipated absolute effects
per 1,000 (risk with the comparison, risk with the intervention and the
difference with its CI); relative effect; participants (studies); certainty
(⊕ symbols, footnote letters); plain-language statement. Every writer renders
the same :class:`~synthesis.appraisal.sof.SofTableResult`; none computes.
"""

from __future__ import annotations

import csv
import html
import io
import zipfile
from typing import Iterable

from .sof import SofRowResult, SofTableResult
from ..report.escape import md

HEADERS = ("Outcome", "Risk with {comparison}", "Risk with {intervention} (95% CI)",
           "Difference (95% CI)", "Relative effect (95% CI)", "Participants (studies)",
           "Certainty (GRADE)", "What happens")
CERT = HEADERS.index("Certainty (GRADE)")


def _cells(r: SofRowResult, letters: str) -> tuple[str, ...]:
    a = r.absolute
    comp = f"{a.per1000_comparator} per 1,000" if a else r.absolute_note
    inter = a.intervention_text() if a else "—"
    diff = a.text() if a else "—"
    cert = r.certainty_text + (f" ({letters})" if letters else "")
    return (r.outcome, comp, inter, diff, r.relative, r.participants_text, cert, r.statement)


def _headers(t: SofTableResult) -> tuple[str, ...]:
    return tuple(h.format(comparison=t.comparison, intervention=t.intervention) for h in HEADERS)


def _preamble(t: SofTableResult) -> list[str]:
    out = [f"Patients or population: {t.population}"]
    if t.setting:
        out.append(f"Setting: {t.setting}")
    out += [f"Intervention: {t.intervention}", f"Comparison: {t.comparison}"]
    return out


def _md(text: str) -> str:
    return md(text)  # plan and study text: no raw HTML or Markdown (synthesis.report.escape)


def markdown(tables: Iterable[SofTableResult]) -> str:
    parts = []
    for t in tables:
        rows, notes = t.lettered()
        parts.append(f"## Summary of findings: {_md(t.title)}\n")
        parts.append("\n".join(f"- {_md(p)}" for p in _preamble(t)) + "\n")
        parts.append("| " + " | ".join(_md(h) for h in _headers(t)) + " |")
        parts.append("|" + "---|" * len(HEADERS))
        for r, letters in rows:
            parts.append("| " + " | ".join(_md(c) for c in _cells(r, letters)) + " |")
        parts.append("")
        parts.extend(f"{letter}. {_md(n)}  " for letter, n in notes)
        parts.append("\nGRADE certainty: ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low.\n")
    return "\n".join(parts)


CSV_COLUMNS = ("table", "outcome", "analysis", "per1000_comparator", "per1000_intervention",
               "difference_per1000", "difference_ci_lower", "difference_ci_upper",
               "assumed_risk_source", "measure", "estimate", "ci_lower", "ci_upper",
               "participants", "studies", "certainty", "symbols", "statement", "footnotes")


def csv_text(tables: Iterable[SofTableResult]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for t in tables:
        for r in t.rows:
            a = r.absolute
            w.writerow([
                t.id, r.outcome, r.analysis,
                *((a.per1000_comparator, a.per1000_intervention, a.difference, a.diff_lower,
                   a.diff_upper, a.source) if a else ("", "", "", "", "", r.absolute_note)),
                r.measure, *(_num(v) for v in (r.estimate, r.ci_lower, r.ci_upper)),
                "" if r.participants is None else r.participants, r.studies,
                r.certainty.label if r.certainty else "not rated",
                r.certainty.symbols if r.certainty else "", r.statement,
                " | ".join(r.footnotes)])
    return buf.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None else repr(float(v))


def html_fragment(tables: Iterable[SofTableResult]) -> str:
    e = html.escape
    out = []
    for t in tables:
        rows, notes = t.lettered()
        out.append(f'<section class="sof" id="sof-{e(t.id)}">')
        out.append(f"<h3>Summary of findings: {e(t.title)}</h3>")
        out.append("<p>" + "<br>".join(e(p) for p in _preamble(t)) + "</p>")
        out.append('<table class="sof"><thead><tr>'
                   + "".join(f"<th>{e(h)}</th>" for h in _headers(t)) + "</tr></thead><tbody>")
        for r, letters in rows:
            cells = [e(c) for c in _cells(r, "")]
            if letters:
                cells[CERT] += f"<sup>{e(letters)}</sup>"
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        out.append("</tbody></table>")
        if notes:
            out.append('<ol class="sof-notes" type="a">'
                       + "".join(f"<li>{e(n)}</li>" for _, n in notes) + "</ol>")
        out.append("</section>")
    return "\n".join(out)


def docx_bytes(tables: Iterable[SofTableResult], title: str) -> bytes:
    """A Word document with one real table per comparison (python-docx), byte-reproducible."""
    import datetime as dt

    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm, Pt

    doc = Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Cm(1.5))
    doc.styles["Normal"].font.size = Pt(9)
    fixed = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    doc.core_properties.created = doc.core_properties.modified = fixed
    doc.core_properties.title = title
    doc.core_properties.author = "carsynth"
    doc.core_properties.last_modified_by = "carsynth"
    doc.core_properties.revision = 1
    widths = (Cm(3.6), Cm(2.2), Cm(2.8), Cm(3.2), Cm(2.8), Cm(2.6), Cm(2.6), Cm(6.9))
    for n, t in enumerate(tables):
        if n:
            doc.add_page_break()
        doc.add_heading(f"Summary of findings: {t.title}", level=2)
        pre = doc.add_paragraph()
        for i, p in enumerate(_preamble(t)):
            if i:
                pre.add_run().add_break()
            pre.add_run(p)
        rows, notes = t.lettered()
        table = doc.add_table(rows=1, cols=len(HEADERS))
        table.style = "Table Grid"
        table.autofit = False
        for col, w in zip(table.columns, widths):
            col.width = w
        for cell, h, w in zip(table.rows[0].cells, _headers(t), widths):
            cell.width = w
            run = cell.paragraphs[0].add_run(h)
            run.bold = True
        for r, letters in rows:
            cells = table.add_row().cells
            values = _cells(r, "")
            for i, (cell, v, w) in enumerate(zip(cells, values, widths)):
                cell.width = w
                para = cell.paragraphs[0]
                para.add_run(v)
                if i == CERT and letters:
                    para.add_run(letters).font.superscript = True
        for letter, note in notes:
            doc.add_paragraph(f"{letter}. {note}").paragraph_format.space_after = Pt(2)
        doc.add_paragraph("GRADE certainty: ⊕⊕⊕⊕ high, ⊕⊕⊕◯ moderate, ⊕⊕◯◯ low, ⊕◯◯◯ very low.")
    raw = io.BytesIO()
    doc.save(raw)
    return _fixed_zip(raw.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """The same zip with every member's timestamp fixed, so equal inputs give equal bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()
