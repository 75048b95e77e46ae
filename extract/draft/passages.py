"""Passages of a page: sentences, table rows and labels, and the cohort sizes a text states."""

from __future__ import annotations

import re

from ..detect import WORD_NUMBER, Size, detect, word_number

SENTENCE_END = re.compile(r"(?<![A-Z][a-z]\.)(?<!\bvs\.)(?<!\bal\.)(?<!\bet al\.)[.;](?=\s+[A-Z(])|\n\s*\n")
CAPTION = re.compile(r"^(?:Table|TABLE)\s+\d+\b.*$", re.MULTILINE)


def clause(t: str, start: int, end: int, back: int = 220, ahead: int = 160) -> tuple[int, int]:
    """The sentence around [start, end): its start and end (bounded)."""
    s = max(0, start - back)
    for m in SENTENCE_END.finditer(t, s, start):
        s = m.end()
    e = min(len(t), end + ahead)
    m = SENTENCE_END.search(t, end, e)
    if m:
        e = m.start() + 1
    return s, e


def text_of(original: str, s: int, e: int) -> str:
    return " ".join(original[s:e].split())


def line_no(t: str, pos: int) -> int:
    return t.count("\n", 0, pos) + 1


def prev_lines(t: str, pos: int, k: int) -> list[tuple[int, str]]:
    """Up to k non-blank lines before the line holding pos, nearest first, with their start offsets."""
    out: list[tuple[int, str]] = []
    end = t.rfind("\n", 0, pos)
    while end > 0 and len(out) < k:
        start = t.rfind("\n", 0, end) + 1
        line = t[start:end]
        if line.strip():
            out.append((start, line.strip()))
        end = start - 1
    return out


def is_number_line(line: str) -> bool:
    return re.fullmatch(r"[<>=≤≥]?\s*\d*\.?\d+\s*", line) is not None


def cell_layout(t: str, pos: int) -> bool:
    """One table cell per line (text converted from HTML tables)."""
    ls = t.rfind("\n", 0, pos) + 1
    le = t.find("\n", pos)
    return len(t[ls: le if le >= 0 else len(t)].strip()) <= 40 and "\t" not in t[ls:pos].strip()


_COHORT = re.compile(r"(?<![\d.,])(\d+|" + WORD_NUMBER + r")\s+(?:eligible\s+|evaluable\s+|enrolled\s+)?"
                     r"(?:patients|children|participants|subjects|cases|adults)\b(?!\s*\(\s*\d)", re.I)


def cohort_sizes(text: str) -> set[int]:
    """'N = 45', '(n = 54)', '93 patients', 'Ninety-three patients' (not '25 patients (83.3%)')."""
    out = {h.n for h in detect(text) if isinstance(h, Size)}
    for m in _COHORT.finditer(text):
        n = word_number(m.group(1))
        if n is not None and n >= 2:
            out.add(n)
    return out
