"""A statcheck-style audit of the statistics reported in a paper.

Every number is read once by :mod:`extract.detect`; the checks here are
rounding-aware and each finding carries its page, line and quote:

* counts: a printed percentage against n/N (``n/N (x%)``, ``x% (n/N)``), and a
  bare ``n (x%)`` against the cohort and group sizes the paper mentions;
* ratios (every form in tests/corpus/phrasings.yaml): the estimate inside its
  CI and at the CI's geometric (log-scale) centre, and a printed p against the
  p the CI implies (Altman & Bland 2011);
* impossible values: p > 1 in the text or in a table's p-value column,
  percentages over 100, more events than patients;
* 2×2 comparisons ("a/n1 vs c/n2 … p = x"): the p is recomputed by Pearson's
  χ² with and without Yates' correction, Fisher's exact test, the likelihood-
  ratio (G) test and the Wald tests on log RR, log OR and the risk difference,
  and the finding names the tests that reproduce it.

Findings are ranked by severity: error > warning > note.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from fractions import Fraction

from . import numbers as num
from .detect import Count, PValue, Ratio, Size, detect, fold
from .text import Document

SEVERITY_ORDER = {"error": 0, "warning": 1, "note": 2}

_COHORT_WORDS = re.compile(r"(?<![\d.,])(\d{1,9})\s+(?:patients|children|participants|subjects|cases|adults)\b"
                           r"(?!\s*\(\s*\d+(?:\.\d+)?\s*%)", re.IGNORECASE)  # not "25 patients (83.3%)"
_PCT_ANY = re.compile(r"(?<![\d.])(\d{1,12}(?:\.\d{1,12})?)\s*%")
# two n/N counts in an explicit comparison, then a p: a 2x2 table whose p can be recomputed
_N_OVER_N = r"(?<![\d./])(\d{1,9})\s*/\s*(\d{1,9})(?![\d/])"
_TWO_BY_TWO = re.compile(
    _N_OVER_N + r"(?P<between>[^/]{1,160}?)" + _N_OVER_N + r"(?P<after>[^/]{0,220}?)"
    r"(?<![A-Za-z])[pP]\s*(=|<)\s*(\d{0,3}\.?\d{1,12})(?!\d)")
_COMPARISON = re.compile(r"\b(vs\.?|versus|compared|than|with|without)\b", re.IGNORECASE)
_P_HEADER = re.compile(r"^\s*p(?:\s*-?\s*values?)?\b", re.IGNORECASE)


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
        return (f"page {self.page}, line {self.line}: {self.severity}: {self.kind}: {self.message}\n"
                f"    \"{self.quote}\"")


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _quote(text: str, start: int, end: int, pad: int = 30) -> str:
    s = max(0, start - pad)
    e = min(len(text), end + pad)
    return " ".join(text[s:e].split())


@dataclass(frozen=True)
class Sizes:
    """Cohort and group sizes a paper states ('N = 45', '(n = 54)', '120 patients'), and the
    subset sizes its counts give ('115 (95.83%) relapsed' is the denominator of a subset)."""

    cohort: tuple[int, ...]
    subsets: tuple[int, ...]


def sizes_in(texts: list[str]) -> Sizes:
    cohort: set[int] = set()
    subsets: set[int] = set()
    for text in texts:
        for h in detect(text):
            if isinstance(h, Size):
                cohort.add(h.n)
            elif isinstance(h, Count) and h.percent is not None:
                subsets.add(h.events)
                if h.total is not None:
                    cohort.add(h.total)
        cohort.update(int(m.group(1)) for m in _COHORT_WORDS.finditer(text))
    keep = lambda s: tuple(sorted(n for n in s if 2 <= n <= 100_000))  # noqa: E731
    return Sizes(keep(cohort), keep(subsets - cohort))


def cohort_sizes(doc: Document) -> Sizes:
    return sizes_in(list(doc.pages))


def audit(doc: Document, tables: list[dict] | None = None) -> list[Finding]:
    """All findings for a document; ``tables`` are extracted PDF tables ({page, rows})."""
    sizes = cohort_sizes(doc)
    findings: list[Finding] = []
    for pno, text in enumerate(doc.pages, 1):
        findings += audit_text(text, pno, sizes)
    for t in tables or []:
        findings += table_findings(t["rows"], t["page"])
    findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.page, f.line))
    return findings


def audit_text(text: str, page: int = 1, sizes: Sizes | None = None) -> list[Finding]:
    """Findings for one page of text; sizes default to those the text itself mentions."""
    if sizes is None:
        sizes = sizes_in([text])
    findings: list[Finding] = []

    def add(sev: str, kind: str, start: int, end: int, msg: str) -> None:
        findings.append(Finding(sev, kind, page, _line_of(text, start), _quote(text, start, end), msg))

    for hit in detect(text):
        try:
            if isinstance(hit, Count):
                _check_count(add, hit, sizes)
            elif isinstance(hit, Ratio):
                _check_ratio(add, hit, text)
        except ValueError:  # a number beyond what printed() accepts: nothing to check
            continue
        if isinstance(hit, PValue):
            try:
                if float(hit.value) > 1:
                    add("error", "impossible", hit.start, hit.end,
                        f"a p-value over 1: p {hit.op} {hit.value}")
            except ValueError:
                pass
    for m in _PCT_ANY.finditer(text):
        if float(m.group(1)) > 100 and not re.match(r"\s*(?:-|to)\s*\d", text[m.end():]):
            add("error", "impossible", m.start(), m.end(), f"a percentage over 100: {m.group(1)}%")
    _check_two_by_two(add, fold(text))
    for rows in text_tables(text):
        for f in table_findings(rows["rows"], page):
            findings.append(Finding(f.severity, f.kind, page, rows["line"] + f.line - 1, f.quote, f.message))
    return findings


def _check_count(add, c: Count, sizes: Sizes) -> None:
    if c.percent is None:
        if c.total is not None and c.events > c.total:
            add("error", "percentage", c.start, c.end, f"{c.events} of {c.total}: more events than the total")
        return
    if float(c.percent) > 100:
        return  # reported as an impossible percentage
    if c.total is not None:
        if c.total == 0 or c.events > c.total:
            add("error", "percentage", c.start, c.end, f"{c.events}/{c.total}: more events than the total")
        elif not num.percent_consistent(c.events, c.total, c.percent):
            truncated = num.percent_truncated(c.events, c.total, c.percent)
            add("note" if truncated else "warning", "percentage", c.start, c.end,
                f"{c.percent}% does not match {c.events}/{c.total} = "
                f"{float(Fraction(100 * c.events, c.total)):.3f}% at the printed precision"
                + ("; it is the value cut off, not rounded" if truncated else ""))
        return
    stated = [d for d in sizes.cohort if d >= c.events]
    cands = sorted(set(stated) | {d for d in sizes.subsets if d > c.events})
    if c.form == "x% (n=k)" or not stated:
        return  # no stated size to judge by ('x% (n = k)' gives its group size only through the percentage)
    if not any(num.percent_consistent(c.events, d, c.percent) for d in cands):
        nearest = min(stated, key=lambda d: abs(100 * c.events / d - float(c.percent)))
        truncated = any(num.percent_truncated(c.events, d, c.percent) for d in cands)
        add("note" if truncated else "warning", "percentage", c.start, c.end,
            f"{c.events} ({c.percent}%) matches none of the cohort/group sizes in the paper "
            f"({', '.join(map(str, stated[:8]))}{'…' if len(stated) > 8 else ''}); "
            f"e.g. {c.events}/{nearest} = {100 * c.events / nearest:.2f}%"
            + ("; one of them matches if the percentage was cut off, not rounded" if truncated else ""))


def _check_ratio(add, r: Ratio, text: str) -> None:
    est, lo, hi = r.estimate, r.lower, r.upper
    span_end = max(r.end, r.p_span[1] if r.p_span else 0)
    if not float(lo) <= float(est) <= float(hi):
        add("error", "ratio", r.start, r.end, f"{r.measure} {est} lies outside its CI {lo}–{hi}")
        return
    ok, c_lo, c_hi = num.ratio_centre_consistent(est, lo, hi)
    if not ok:
        # A Wald CI is centred on the estimate on the log scale; a profile-likelihood, exact or
        # bootstrap CI need not be, by a few per cent. Far off centre is a likely misprint.
        off = abs(math.log(float(est) / math.sqrt(float(lo) * float(hi))))
        add("warning" if off > 0.1 else "note", "ratio", r.start, r.end,
            f"{r.measure} {est} is not the geometric centre of {lo}–{hi} "
            f"({c_lo:.3g}–{c_hi:.3g} allowing for rounding)"
            + ("" if off > 0.1 else "; not a Wald CI, or rounded from other digits"))
    if r.p is None:
        return
    p_lo, p_hi = num.p_interval(r.p_op or "=", r.p)
    w_lo, w_hi = num.p_from_ci_range(est, lo, hi, r.level)
    if w_hi < p_lo * 0.9 or w_lo > p_hi * 1.1:
        add("warning", "p vs CI", r.start, span_end,
            f"p {r.p_op} {r.p} does not match {r.measure} {est} ({lo}–{hi}): a Wald test gives p "
            f"between {w_lo:.2g} and {w_hi:.2g}")


def _check_two_by_two(add, text: str) -> None:
    for m in _TWO_BY_TWO.finditer(text):
        a, n1, c, n2 = (int(m.group(i)) for i in (1, 2, 4, 5))
        if not (0 <= a <= n1 and 0 <= c <= n2 and n1 > 0 and n2 > 0):
            continue
        if not _COMPARISON.search(m.group("between")) and "group" not in m.group("between"):
            continue  # two counts near a p, but not said to be compared
        op, p_txt = m.group(7), m.group(8)
        if float(p_txt) > 1:
            continue
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


def two_by_two_pvalues(a: int, n1: int, c: int, n2: int) -> dict[str, float]:
    """Two-sided p of the usual tests of a/n1 against c/n2.

    Pearson's χ² with and without Yates' correction, Fisher's exact test and the
    likelihood-ratio G test (scipy.stats.chi2_contingency / fisher_exact); and the
    Wald z tests of Agresti, Categorical Data Analysis (3rd ed., 2013), §3.1:
    log RR with SE = √(1/a − 1/n1 + 1/c − 1/n2) (eq. 3.5), log OR with
    SE = √(1/a + 1/b + 1/c + 1/d) (eq. 3.3), and the risk difference with
    SE = √(p1(1−p1)/n1 + p2(1−p2)/n2) (eq. 3.2), the estimates and variances taken
    from synthesis.effects.binary. A test undefined for the table (a zero cell) is
    left out.
    """
    from scipy.stats import chi2_contingency, fisher_exact

    from synthesis import effects

    b, d = n1 - a, n2 - c
    table = [[a, b], [c, d]]
    out: dict[str, float] = {}
    try:
        out["chi-square"] = float(chi2_contingency(table, correction=False)[1])
        out["chi-square with Yates' correction"] = float(chi2_contingency(table, correction=True)[1])
        if min(a, b, c, d) > 0:
            out["likelihood-ratio test"] = float(
                chi2_contingency(table, correction=False, lambda_="log-likelihood")[1])
    except ValueError:
        pass  # a zero row or column: χ² undefined
    out["Fisher's exact test"] = float(fisher_exact(table)[1])
    # the Wald z of each measure from the one implementation of its estimate and variance
    # (synthesis.effects.binary: escalc's formulas), with no continuity correction
    wald = {"RR": ("Wald test on log RR", min(a, c) > 0),
            "OR": ("Wald test on log OR", min(a, b, c, d) > 0),
            "RD": ("Wald test on RD", True)}
    for measure, (name, defined) in wald.items():
        if not defined:
            continue
        es = effects.binary([a], [n1], [c], [n2], measure,
                            effects.ZeroCellRule(to="none", drop_double_zero=False))
        yi, vi = float(es.yi[0]), float(es.vi[0])
        if vi > 0 and math.isfinite(yi):
            out[name] = _two_sided(yi / math.sqrt(vi))
    return out


def _two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


# --- tables -------------------------------------------------------------------------------


def text_tables(text: str) -> list[dict]:
    """Tab- or '|'-separated blocks of a text page as tables: {line (1-based), rows}."""
    out: list[dict] = []
    block: list[list[str]] = []
    start = 0
    for i, line in enumerate(text.split("\n") + [""], 1):
        sep = "\t" if line.count("\t") >= 2 else "|" if line.count("|") >= 3 else None
        if sep:
            if not block:
                start = i
            block.append([c.strip() for c in line.strip().strip("|").split(sep)])
        else:
            if len(block) >= 2:
                out.append({"line": start, "rows": block})
            block = []
    return out


def table_findings(rows: list[list[str]], page: int) -> list[Finding]:
    """Impossible values in a table: a p-value column holding a number above 1."""
    findings: list[Finding] = []
    if not rows:
        return findings
    header = rows[0]
    p_cols = [j for j, h in enumerate(header) if h and _P_HEADER.match(h)]
    for j in p_cols:
        from_right = len(header) - 1 - j
        for i, row in enumerate(rows[1:], 2):
            cells = [c for c in row]
            k = j if len(cells) == len(header) else len(cells) - 1 - from_right
            if not 0 <= k < len(cells):
                continue
            m = re.fullmatch(r"[<>=≤≥]?\s*(\d{0,12}\.?\d{1,12})\s*[*∗†‡#a-z]*", cells[k])
            if m and float(m.group(1)) > 1:
                findings.append(Finding(
                    "error", "impossible", page, i, " | ".join(c for c in row if c),
                    f"the p-value column '{header[j]}' holds {m.group(1)} (p cannot exceed 1)"))
    return findings
