"""Find the numbers a paper reports: ratios with CIs, counts, p-values, sizes, survival rates.

One pass over a page's text gives typed hits (frozen dataclasses) with their
character spans, so the audit and the draft share one reading of the paper.
The forms come from real reporting styles (tests/corpus/phrasings.yaml):

* ratios: ``HR 0.45 (95% CI 0.21–0.96)``, ``RR 0.53 (95% CI, 0.21-1.34)``,
  ``HR = 2.07, 95% CI 1.09–3.93``, ``hazard ratio for death …, 0.71; 95%
  confidence interval [CI], 0.55 to 0.93``, ``OR 4.2 [95% CI: 1.6–10.1]``, and
  table cells ``0.92 (0.49-1.74)`` under a ratio header (accepted only when the
  estimate is the CI's geometric centre, which a median with its range is not);
* counts: ``n/N (x%)``, ``x% (n/N)``, ``n (x%)``, ``x% (n = k)``, table cells
  ``n (x)`` in an ``n (%)`` row, ``n of N patients``;
* p-values: ``P = .03``, ``p<0.001``, ``p-value 0.03``, ``$p = 0.342$ and 0.122,
  respectively``; significance thresholds ("p < 0.05 was considered …") are marked;
* sizes: ``N = 45``, ``(n = 54)``; survival rates ``80.7% ± 7.7%``.

Not taken as ratios or counts: ranges and IQRs, dates, reference numbers,
grades such as ``grade 3/4`` and doses such as ``8 mg/kg``.
"""

from __future__ import annotations

import math
import re
from . import numbers as num
from .hits import Count, Hit, PValue, Rate, Ratio, Size

__all__ = ["Count", "Hit", "PValue", "Rate", "Ratio", "Size", "detect", "fold",
           "infer_total", "word_number", "WORD_NUMBER"]

# Same-length folding, so spans in the folded text are spans in the original:
# dashes and minus signs become "-", the Lancet's mid-dot decimal "·" becomes ".".
_FOLD = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"}
                      | {"\u00b7": ".", "\u2009": " ", "\u00a0": " ", "\u202f": " "})

NUM = r"(?:\d{1,12}(?:\.\d{1,12})?(?![\d.])|\.\d{1,12}(?!\d))"  # no paper prints longer numbers
_N = rf"({NUM})"
_SEP = r"\s*(?:-|to|,|;)\s*"
_OP = r"(<=|>=|=<|=>|≤|≥|<|>|=)"

_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
WORD_NUMBER = (r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[- ](?:one|two|three|four|"
                r"five|six|seven|eight|nine))?|zero|one|two|three|four|five|six|seven|eight|nine|ten|"
                r"eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)")

MEASURE = (r"(?:(?i:adjusted|unadjusted|crude|pooled|subdistribution|cause-specific)\s+)?"
           r"(?:(?i:hazard ratios?|odds ratios?|risk ratios?|rate ratios?|relative risks?)|"
           r"a?HRs?|a?ORs?|RRs?|IRRs?|sHRs?|SHRs?)")
_MEASURE_WORD = re.compile(rf"\b{MEASURE}\b")
_CI_LABEL = (r"(?:(?P<level>\d{2}(?:\.\d+)?)\s*%\s*)?(?:CI|C\.I\.|confidence interval|"
             r"confidence limits?)(?:\s*[\[(]\s*CI\s*[\])])?")
_RATIO = re.compile(
    rf"\b(?P<measure>{MEASURE})\b(?P<gap>[^\d;]{{0,80}}?)(?P<est>{NUM})"
    rf"(?P<mid>\s*(?:[,;:(\[]\s*)*(?:{_CI_LABEL}\s*(?:[,:=]|of|was)?\s*[(\[]?\s*|[(\[]\s*))"
    rf"\$?(?P<lo>-?{NUM})\$?(?P<sep>{_SEP})\$?(?P<hi>{NUM})(?!\d)")
# a bare "est (lo-hi)" or "est  lo - hi" cell, e.g. in a table with an "HR (95% CI)" header
_BARE = re.compile(
    rf"(?<![\d.\-/])(?P<est>{NUM})\s*(?:[(\[]\s*(?P<lo>{NUM})\s*(?:-|to|,)\s*(?P<hi>{NUM})\s*[)\]]"
    rf"|\t\s*\$?(?P<lo2>{NUM})\s*(?:-|to)\s*(?P<hi2>{NUM})\$?)")
_RANGE_WORDS = re.compile(r"median|mean|range|IQR|interquartile|±|\bSD\b", re.IGNORECASE)

_P = re.compile(rf"(?<![A-Za-z])[pP](?:\s*-?\s*values?)?(?:\s*\$)?(?:\s*(?:of|was|is|,))?\s*(?:{_OP}|(?=[.\d]))"
                rf"\s*\$?\s*(?P<value>\d{{0,3}}\.\d{{1,12}}(?!\d)|[01](?![\d.]))\$?")
_P_MORE = re.compile(r"\$?\s*(?:for\s+[\w-]+(?:\s+[\w-]+)?\s*)?(?:,\s*and\s+|,\s*|\s+and\s+)\$?\s*"
                     r"(?:[pP]\s*=\s*)?\$?\s*(?P<value>\d{0,3}\.\d{1,12})(?!\d)\$?")
_THRESHOLD_BEFORE = re.compile(r"(criterion|criteria|threshold|cut-?off|alpha|level|significance|"
                               r"defined as|set at|values?)\s*(?:of|at|was|:)?\s*\(?$", re.IGNORECASE)
_THRESHOLD_AFTER = re.compile(r"^[\s\w(),-]{0,30}?(was|were|is|are)\s+(considered|regarded|deemed|"
                              r"defined|set)|^\s*\(two-sided\)|^\s*(was|were)\s+used", re.IGNORECASE)

_N_OVER_N_PCT = re.compile(rf"(?<![\d.,/])(\d{{1,9}})\s*/\s*(\d{{1,9}})\s*[(\[]\s*{_N}\s*%?\s*[)\]]")
_PCT_N_OVER_N = re.compile(rf"(?<![\d.])({NUM})\s*%\s*[(\[]\s*(?:[nN]\s*=\s*)?(\d{{1,9}})\s*/\s*(\d{{1,9}})\s*[)\]]")
_PCT_N_EQ = re.compile(rf"(?<![\d.])({NUM})\s*%\s*\(\s*[nN]\s*=\s*(\d{{1,9}})\s*\)")
_N_PCT = re.compile(rf"(?<![\d.,/\-])(\d{{1,9}}|{WORD_NUMBER})\s*(?:patients?\s*|cases?\s*)?\(\s*{_N}\s*%\s*\)"
                    rf"(?:\s+of\s+(?:the\s+)?(\d{{1,9}})\b)?", re.IGNORECASE)
_N_CELL = re.compile(rf"(?<![\d.,/\-])(\d{{1,9}})\s*\(\s*{_N}\s*\)(?!\s*%)")
_N_OF_N = re.compile(r"(?<![\d.,/])(\d{1,9}|" + WORD_NUMBER + r")\s+(?:\(\d+(?:\.\d+)?%\)\s+)?(?:out\s+)?of\s+"
                     r"(?:the\s+|all\s+|these\s+)?(\d{1,9})\s+(?:[\w-]+\s+){0,2}?(?:patients|children|"
                     r"participants|subjects|cases|adults|recipients|evaluable)", re.IGNORECASE)
_SIZE = re.compile(r"(?<![A-Za-z])[nN]\s*=\s*(\d{1,9})(?![\d.])")
_RATE = re.compile(rf"(?<![\d.])({NUM})\s*%\s*±\s*({NUM})\s*%?")
_COUNT_HEADER = re.compile(r"\b(?:n|No\.)\s*\(%\)|\bn\s*\(\s*%\s*\)|number \(%\)", re.IGNORECASE)
_NEAR_UNIT = re.compile(r"[ \t]*(?:(?:mg|g|kg|ml|µg|μg|mm|cm|m2|days?|d|weeks?|months?|years?|h|hours?|cells|"
                        r"copies)\b|[x×]\s*10)", re.IGNORECASE)  # a unit on the same line: a dose or a range




def fold(text: str) -> str:
    """The text with dash variants as '-' and '·' as '.', same length (spans carry over)."""
    return text.translate(_FOLD)


def word_number(word: str) -> int | None:
    """'Forty-five' -> 45; digits pass through; None when it is neither."""
    w = word.lower().replace(" ", "-")
    if w.isdigit():
        return int(w)
    if w in _WORDS:
        return _WORDS[w]
    tens, _, unit = w.partition("-")
    if tens in _TENS and (not unit or unit in _WORDS):
        return _TENS[tens] + (_WORDS[unit] if unit else 0)
    return None


def _measure(word: str) -> str:
    w = word.lower()
    if "hazard" in w or re.search(r"\b(a|s)?hrs?\b", w):
        return "HR"
    if "odds" in w or re.search(r"\ba?ors?\b", w):
        return "OR"
    return "RR"


def _ordered(est: str, lo: str, hi: str) -> bool:
    try:
        e, a, b = float(est), float(lo), float(hi)
    except ValueError:
        return False
    return 0 < a <= e <= b and a < b


def _p_op(op: str | None) -> str:
    return {"≤": "<=", "≥": ">=", "=<": "<=", "=>": ">=", None: "="}.get(op, op)  # type: ignore[arg-type]


def p_values(text: str) -> list[PValue]:
    """Every reported p in the text, including the later values of 'p = a and b, respectively'."""
    t = fold(text)
    out: list[PValue] = []
    for m in _P.finditer(t):
        value = m.group("value")
        before = t[max(0, m.start() - 40): m.start()]
        after = t[m.end(): m.end() + 60]
        threshold = _p_op(m.group(1)) in ("<", "<=") and (
            bool(_THRESHOLD_BEFORE.search(before)) or bool(_THRESHOLD_AFTER.search(after)))
        out.append(PValue(_p_op(m.group(1)), value, m.start(), m.end(), threshold))
        pos = m.end()
        while True:  # "p = 0.342 and 0.122, respectively"; "P = 0.773 for OS and 0.985 for LFS"
            more = _P_MORE.match(t, pos)
            if not more:
                break
            tail = t[more.end():more.end() + 70]
            if not (re.match(r"[^.;]{0,60}(respectively|for\b)", tail + " " + t[pos:more.end()])
                                or re.match(r"\s*[,;)]", tail)):
                break
            out.append(PValue("=", more.group("value"), more.start("value"), more.end("value"),
                              threshold, listed=True))
            pos = more.end()
    return out


def _cells(line: str) -> list[str]:
    sep = "\t" if "\t" in line else "|"
    cells = [c.strip() for c in line.split(sep)]
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _ratio_header(t: str, pos: int) -> str | None:
    """The ratio measure of the table column holding the cell at pos, or None.

    In a table whose rows separate cells by tabs or '|', the cell's own column
    header must name a ratio (matched from the left and from the right, since a
    spanning sub-header shifts the left count); elsewhere (one cell per line)
    the nearest ratio header within ~2500 characters is taken.
    """
    line_start = t.rfind("\n", 0, pos) + 1
    line_end = t.find("\n", pos)
    line = t[line_start: line_end if line_end >= 0 else len(t)]
    window = t[max(0, line_start - 2500): line_start]
    if ("\t" in line or "|" in line) and "\n" in window + "\n":
        row = _cells(line)
        i_left = len(_cells(t[line_start:pos] + "x")) - 1
        i_right = len(row) - 1 - i_left
        for header_line in reversed(window.split("\n")):
            if ("\t" in header_line or "|" in header_line) and _MEASURE_WORD.search(header_line):
                head = _cells(header_line)
                for j in (i_left, len(head) - 1 - i_right):
                    if 0 <= j < len(head) and (m := _MEASURE_WORD.search(head[j])):
                        return _measure(m.group(0))
                return None
    found = None
    for m in _MEASURE_WORD.finditer(window + line[: pos - line_start]):
        found = m
    return _measure(found.group(0)) if found else None


_CONTINUED = re.compile(
    rf"[\s,;)\]$]*(?:,\s*|\s+)and\s+(?:(?:[a-z-]+\s+){{0,6}}?)(?P<est>{NUM})"
    rf"(?P<mid>\s*(?:[,;:(\[]\s*)*(?:{_CI_LABEL}\s*(?:[,:=]|of|was)?\s*[(\[]?\s*|[(\[]\s*))"
    rf"\$?(?P<lo>{NUM})\$?(?P<sep>{_SEP})\$?(?P<hi>{NUM})(?!\d)")


def _attached_p(t: str, start: int, end: int) -> tuple[str, str, tuple[int, int]] | None:
    """The p printed right after a ratio's CI, or just before its measure ('p = 0.026, HR = …')."""
    for pv in p_values(t[end: end + 45]):
        if not pv.listed and t[end: end + pv.start].strip(" ,;:)]$(") == "":
            return pv.op, pv.value, (end + pv.start, end + pv.end)
    left_start = max(0, start - 30)
    pm = list(_P.finditer(t, left_start, start))
    if pm and t[pm[-1].end(): start].strip(" ,;($") == "":
        return _p_op(pm[-1].group(1)), pm[-1].group("value"), pm[-1].span()
    return None


def ratios(text: str) -> list[Ratio]:
    t = fold(text)
    out: list[Ratio] = []
    taken: list[tuple[int, int]] = []

    def keep(m: re.Match, measure: str) -> bool:
        est, lo, hi = m.group("est"), m.group("lo"), m.group("hi")
        if not (float(est) > 0 and 0 < float(lo) < float(hi)):
            return False  # an estimate outside its CI is kept: the audit reports the misprint
        if m.group("sep").strip() in (",", ";") and not re.search(r"CI|confidence|[(\[]", m.group("mid")):
            return False  # "HR 0.5, 0.6, 0.7": a list, not a CI
        level = float(m.group("level")) / 100 if m.group("level") else 0.95
        start = m.start("est") if m.re is _CONTINUED else m.start()
        p = _attached_p(t, start, m.end())
        out.append(Ratio(measure, est, lo, hi, level, start, m.end(), *(p[:2] if p else (None, None)),
                         p_span=p[2] if p else None))
        taken.append((m.start(), m.end()))
        return True

    for m in _RATIO.finditer(t):
        if re.search(r"[<>≤≥]|\bvs\.?$", m.group("gap")):
            continue
        measure = _measure(m.group("measure"))
        if not keep(m, measure):
            continue
        while True:  # "HRs of 2.021 (95% CI: …, p = 0.222) and 0.785 (95% CI: …)"
            last = out[-1]
            pos = max(last.end, last.p_span[1] if last.p_span else 0)
            more = _CONTINUED.match(t, pos)
            if not more or not keep(more, measure):
                break
    for m in _BARE.finditer(t):
        if any(a <= m.start() < b or a < m.end() <= b for a, b in taken):
            continue
        est = m.group("est")
        lo, hi = (m.group("lo"), m.group("hi")) if m.group("lo") else (m.group("lo2"), m.group("hi2"))
        if not _ordered(est, lo, hi):
            continue
        line_start = t.rfind("\n", 0, m.start()) + 1
        label = t[line_start: m.start()]
        if _RANGE_WORDS.search(label) or _NEAR_UNIT.match(t[m.end():]) or "%" in t[m.start():m.end()]:
            continue
        measure = _ratio_header(t, m.start())
        if measure is None:
            continue
        centre = math.sqrt(float(lo) * float(hi))
        if abs(math.log(float(est) / centre)) > 0.03:
            continue  # not the CI's geometric centre: a median and its range, or a difference
        out.append(Ratio(measure, est, lo, hi, 0.95, m.start(), m.end(), table=True))
    return sorted(out, key=lambda r: r.start)


def counts(text: str) -> list[Count]:
    t = fold(text)
    out: list[Count] = []
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return not any(a < e and s < b for a, b in taken)

    def add(c: Count) -> None:
        out.append(c)
        taken.append((c.start, c.end))

    for m in _N_OVER_N_PCT.finditer(t):
        n, d = int(m.group(1)), int(m.group(2))
        if d >= 1 and not re.search(r"grades?\s*$", t[max(0, m.start() - 8): m.start()], re.I):
            add(Count(n, d, m.group(3), "n/N (x%)", m.start(), m.end()))
    for m in _PCT_N_OVER_N.finditer(t):
        if free(m.start(), m.end()):
            add(Count(int(m.group(2)), int(m.group(3)), m.group(1), "x% (n/N)", m.start(), m.end()))
    for m in _PCT_N_EQ.finditer(t):
        if free(m.start(), m.end()):
            add(Count(int(m.group(2)), None, m.group(1), "x% (n=k)", m.start(), m.end()))
    for m in _N_PCT.finditer(t):
        n = word_number(m.group(1))
        if n is None or not free(m.start(), m.end()):
            continue
        if re.search(r"(grade|grades|stage|day|days|n\s*=)\s*$", t[max(0, m.start() - 8): m.start()], re.I):
            continue
        total = int(m.group(3)) if m.group(3) else None
        add(Count(n, total, m.group(2), "n (x%)", m.start(), m.end()))
    for m in _N_OF_N.finditer(t):
        n, d = word_number(m.group(1)), int(m.group(2))
        if n is not None and n <= d and free(m.start(), m.end()):
            add(Count(n, d, None, "n of N", m.start(), m.end()))
    for m in _N_CELL.finditer(t):  # "24 (53.3)" in a row of an "n (%)" table
        if not free(m.start(), m.end()) or float(m.group(2)) > 100:
            continue
        line_start = t.rfind("\n", 0, m.start()) + 1
        context = t[max(0, line_start - 400): m.start()]
        row = t[line_start: t.find("\n", m.end()) if "\n" in t[m.end():] else len(t)]
        if not _COUNT_HEADER.search(context) or "\t" not in row and "|" not in row:
            continue
        add(Count(int(m.group(1)), None, m.group(2), "n (x)", m.start(), m.end()))
    return sorted(out, key=lambda c: c.start)


def sizes(text: str) -> list[Size]:
    t = fold(text)
    return [Size(int(m.group(1)), m.start(), m.end()) for m in _SIZE.finditer(t)
            if 1 <= int(m.group(1)) <= 1_000_000]


def rates(text: str) -> list[Rate]:
    t = fold(text)
    return [Rate(m.group(1), m.group(2), m.start(), m.end()) for m in _RATE.finditer(t)]


def detect(text: str) -> list[Hit]:
    """All hits in the text, ordered by position.

    A p printed with a ratio belongs to the ratio and is not listed again; an
    "n = k" inside a count ("52.9% (n = 9)") is the count's, not a group size.
    """
    rs, cs = ratios(text), counts(text)
    p_spans = {r.p_span for r in rs if r.p_span}
    ps = [p for p in p_values(text) if (p.start, p.end) not in p_spans]
    ss = [s for s in sizes(text) if not any(c.start <= s.start < c.end for c in cs)]
    hits: list[Hit] = [*rs, *cs, *ps, *ss, *rates(text)]
    return sorted(hits, key=lambda h: (h.start, h.kind))


def infer_total(events: int, percent: str, candidates: list[int] | None = None) -> int | None:
    """The group size behind 'x% (n = k)': a candidate size consistent with the rounding,
    else the smallest total that is, when the percentage has at least one decimal."""
    try:
        pct = float(percent)
    except ValueError:
        return None
    if pct <= 0 or pct > 100:
        return None
    for d in sorted(set(candidates or [])):
        if d >= events and num.percent_consistent(events, d, percent):
            return d
    if "." not in percent:
        return None
    for d in range(max(events, 1), min(100_000, int(100 * events / pct) + 3)):
        if num.percent_consistent(events, d, percent):
            return d
    return None
