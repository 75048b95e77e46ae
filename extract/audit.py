"""A statcheck-style audit of the statistics reported in a paper's text.

Checks, each rounding-aware and reported with its page, line and quote:
* "n (x%)", "x% (n/N)" and "n/N (x%)" against n/N, and a bare "n (x%)"
  against the cohort and group sizes found in the paper;
* a ratio estimate against the geometric centre of its CI, and its p-value
  against the CI (Altman & Bland 2011);
* impossible values: p > 1, percentages over 100;
* "a/b vs c/d ... p = x" comparisons: which of χ² with or without Yates'
  correction or Fisher's exact test reproduces the reported p.
Findings are ranked by severity: error > warning > note.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from fractions import Fraction

from . import numbers as num
from .text import Document

SEVERITY_ORDER = {"error": 0, "warning": 1, "note": 2}

_NUM = r"\d+(?:\.\d+)?"
_PCT_AFTER_N = re.compile(rf"(?<![\d.,/])(\d+)\s*\(\s*({_NUM})\s*%\s*\)")
_N_OVER_N_PCT = re.compile(rf"(?<![\d.])(\d+)\s*/\s*(\d+)\s*\(\s*({_NUM})\s*%\s*\)")
_PCT_N_OVER_N = re.compile(rf"(?<![\d.])({_NUM})\s*%\s*\(\s*(\d+)\s*/\s*(\d+)\s*\)")
_PCT_ANY = re.compile(rf"(?<![\d.])({_NUM})\s*%")
_P_VALUE = re.compile(r"\b[pP]\s*(?:-value)?\s*(=|<|>|≤|≥)\s*(\d*\.?\d+)")
_RATIO_CI = re.compile(
    rf"\b(HR|OR|RR|(?i:hazard ratio|odds ratio|risk ratio))[^0-9]{{0,25}}?({_NUM})"
    rf"[^0-9]{{1,30}}?(?:CI|confidence interval)?[^0-9]{{0,15}}?({_NUM})\s*(?:-|–|—|−|to)\s*({_NUM})")
_COHORT = re.compile(
    r"(?:\bn\s*=\s*(\d+))|(?:\b(\d+)\s+(?:patients|children|participants|subjects|cases|adults))",
    re.IGNORECASE)
# two n/N counts close together, then a p-value: a 2x2 comparison whose p can be recomputed
_TWO_BY_TWO = re.compile(
    r"(?<![\d.])(\d+)\s*/\s*(\d+)(?![\d/])[^/]{1,160}?(?<![\d.])(\d+)\s*/\s*(\d+)(?![\d/])"
    r"[^/]{0,220}?\b[pP]\s*(=|<)\s*(\d*\.?\d+)")


@dataclass(frozen=True)
class Finding:
    severity: str
    kind: str
    page: int
    line: int
    quote: str
    message: str

    def to_dict(self):
        return asdict(self)

    def __str__(self) -> str:
        return f"page {self.page}, line {self.line}: {self.severity}: {self.kind}: {self.message}\n    \"{self.quote}\""


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _quote(text: str, start: int, end: int, pad: int = 30) -> str:
    s = max(0, start - pad)
    e = min(len(text), end + pad)
    return " ".join(text[s:e].split())


def cohort_sizes(doc: Document) -> list[int]:
    sizes: set[int] = set()
    for page in doc.pages:
        for m in _COHORT.finditer(page):
            n = int(m.group(1) or m.group(2))
            if 2 <= n <= 100000:
                sizes.add(n)
    return sorted(sizes)


def audit(doc: Document) -> list[Finding]:
    findings: list[Finding] = []
    sizes = cohort_sizes(doc)
    for pno, raw in enumerate(doc.pages, 1):
        text = raw
        covered: list[tuple[int, int]] = []

        def add(sev, kind, m_start, m_end, msg):
            findings.append(Finding(sev, kind, pno, _line_of(text, m_start),
                                    _quote(text, m_start, m_end), msg))

        for m in _N_OVER_N_PCT.finditer(text):
            n, d, pct = int(m.group(1)), int(m.group(2)), m.group(3)
            covered.append(m.span())
            _check_pct(add, m, n, d, pct)
        for m in _PCT_N_OVER_N.finditer(text):
            pct, n, d = m.group(1), int(m.group(2)), int(m.group(3))
            covered.append(m.span())
            _check_pct(add, m, n, d, pct)
        for m in _PCT_AFTER_N.finditer(text):
            if any(a <= m.start() < b for a, b in covered):
                continue
            n, pct = int(m.group(1)), m.group(2)
            if float(pct) > 100:
                continue  # reported below as impossible
            cands = [d for d in sizes if d >= n]
            if not cands:
                continue
            if not any(num.percent_consistent(n, d, pct) for d in cands):
                nearest = min(cands, key=lambda d: abs(100 * n / d - float(pct)))
                add("warning", "percentage", m.start(), m.end(),
                    f"{n} ({pct}%) matches none of the cohort/group sizes in the paper "
                    f"({', '.join(map(str, cands[:8]))}{'…' if len(cands) > 8 else ''}); "
                    f"e.g. {n}/{nearest} = {100 * n / nearest:.2f}%")
        for m in _PCT_ANY.finditer(text):
            if float(m.group(1)) > 100:
                add("error", "impossible", m.start(), m.end(),
                    f"a percentage over 100: {m.group(1)}%")
        for m in _P_VALUE.finditer(text):
            if float(m.group(2)) > 1:
                add("error", "impossible", m.start(), m.end(),
                    f"a p-value over 1: p {m.group(1)} {m.group(2)}")
        for m in _RATIO_CI.finditer(text):
            est, lo, hi = m.group(2), m.group(3), m.group(4)
            try:
                if not float(lo) < float(hi) or float(est) <= 0:
                    continue
            except ValueError:
                continue
            if not float(lo) <= float(est) <= float(hi):
                add("error", "ratio", m.start(), m.end(),
                    f"{m.group(1)} {est} lies outside its CI {lo}–{hi}")
                continue
            ok, c_lo, c_hi = num.ratio_centre_consistent(est, lo, hi)
            if not ok:
                add("warning", "ratio", m.start(), m.end(),
                    f"{m.group(1)} {est} is not the geometric centre of {lo}–{hi} "
                    f"({c_lo:.3g}–{c_hi:.3g} allowing for rounding)")
            tail = text[m.end(): m.end() + 40]
            pm = _P_VALUE.search(tail)
            if pm and float(pm.group(2)) <= 1:
                p_lo, p_hi = num.p_interval({"=": "=", "<": "<", ">": ">", "≤": "<=", "≥": ">="}
                                            [pm.group(1)], pm.group(2))
                r_lo, r_hi = num.p_from_ci_range(est, lo, hi)
                if r_hi < p_lo * 0.9 or r_lo > p_hi * 1.1:
                    add("warning", "p vs CI", m.start(), m.end() + pm.end(),
                        f"p {pm.group(1)} {pm.group(2)} does not match {m.group(1)} {est} "
                        f"({lo}–{hi}): a Wald test gives p between {r_lo:.2g} and {r_hi:.2g}")
        for m in _TWO_BY_TWO.finditer(text):
            a, n1, c, n2 = (int(m.group(i)) for i in (1, 2, 3, 4))
            if not (a <= n1 and c <= n2 and n1 > 0 and n2 > 0):
                continue
            op, p_txt = m.group(5), m.group(6)
            tests = two_by_two_pvalues(a, n1, c, n2)
            lo, hi = num.p_interval(op, p_txt)
            matching = [name for name, p in tests.items() if lo <= p <= hi]
            detail = ", ".join(f"{name} p = {p:.3g}" for name, p in tests.items())
            if matching:
                add("note", "2x2 test", m.start(), m.end(),
                    f"reported p {op} {p_txt} is reproduced by {' and '.join(matching)} ({detail})")
            else:
                add("warning", "2x2 test", m.start(), m.end(),
                    f"reported p {op} {p_txt} is reproduced by none of the usual tests ({detail})")
    findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.page, f.line))
    return findings


def _check_pct(add, m, n: int, d: int, pct: str) -> None:
    if d == 0 or n > d:
        add("error", "percentage", m.start(), m.end(), f"{n}/{d}: more events than the total")
        return
    if float(pct) > 100:
        return
    if not num.percent_consistent(n, d, pct):
        add("warning", "percentage", m.start(), m.end(),
            f"{pct}% does not match {n}/{d} = {float(Fraction(100 * n, d)):.3f}% at the printed "
            f"precision")


def two_by_two_pvalues(a: int, n1: int, c: int, n2: int) -> dict[str, float]:
    """Two-sided p of Pearson's χ² with and without Yates' correction, and Fisher's exact test."""
    from scipy.stats import chi2_contingency, fisher_exact

    table = [[a, n1 - a], [c, n2 - c]]
    out: dict[str, float] = {}
    try:
        out["chi-square"] = float(chi2_contingency(table, correction=False)[1])
        out["chi-square with Yates' correction"] = float(chi2_contingency(table, correction=True)[1])
    except ValueError:
        pass  # a zero row or column: χ² undefined
    out["Fisher's exact test"] = float(fisher_exact(table)[1])
    return out
