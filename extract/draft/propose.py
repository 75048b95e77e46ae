"""Proposed outcome records and groups, from the numbers :mod:`extract.detect` finds.

A record is proposed only where the wording names an outcome in the format's
vocabulary; every other number is left to the draft's candidate comments. Each
proposal keeps the verbatim passage that prints its numbers (the quote) and where
it is. Proposals that repeat the same values (an abstract and a table) become one
record with several quotes.
"""

from __future__ import annotations

import re

from .. import numbers as num
from ..detect import Count, PValue, Rate, Ratio, detect, fold, infer_total
from . import vocabulary as voc
from .model import GroupProposal, Proposal
from .passages import (CAPTION, cell_layout, clause, cohort_sizes, is_number_line, line_no, prev_lines,
                       text_of)
from .tables import HEADER_GROUP, table_rows

_GROUP = re.compile(
    r"(?<![\w≤≥<>+-])(?P<label>(?:(?:non|no|low|high)[- ])?[\w≤≥<>+-]{1,40}(?: [\w≤≥<>+-]{1,40}){0,2}?)\s+"
    r"(?:group|subgroup|arm)s?\s*\(\s*[nN]\s*=\s*(?P<n>\d{1,9})", re.IGNORECASE)  # words start at a boundary
_STOP = {"the", "in", "for", "a", "of", "and", "than", "to", "compared", "with", "that", "this", "both"}
_GROUP_WORD = re.compile(r"(?:[^.;]*?\b)?((?:(?:non|no|low|high)[- ](?:dose[- ])?)?[\w≤≥-]{1,40})[- ](?:group|subgroup)\b",
                         re.I)
KIND_RANK = {"ratio": 0, "binary": 1, "proportion": 2, "survival_rate": 3, "pvalue": 4}


class Proposer:
    """Reads one page and collects proposals; call :meth:`page` for each page, then :meth:`result`."""

    def __init__(self, kind: str):
        self.kind = kind
        self.proposals: dict[tuple, Proposal] = {}
        self.groups: dict[str, GroupProposal] = {}
        self.sizes: set[int] = set()
        self.used_counts: set[int] = set()
        self.candidates = 0

    # --- helpers -------------------------------------------------------------------------
    def where(self, t: str, pos: int, pno: int) -> str:
        line = f"line {line_no(t, pos)}" if self.kind == "text" else f"page {pno}, line {line_no(t, pos)}"
        ls, le = t.rfind("\n", 0, pos) + 1, t.find("\n", pos)
        row = t[ls: le if le >= 0 else len(t)]
        if len(row.strip()) > 60 and "\t" not in row and "|" not in row:
            return line  # running text, not a table row
        cap = None
        for m in CAPTION.finditer(t, max(0, pos - 4000), pos):
            cap = m
        return f"{cap.group(0)[:60].split('|')[0].strip()}, {line}" if cap else line

    def add(self, p: Proposal) -> None:
        have = self.proposals.get(p.key)
        if have is None:
            self.proposals[p.key] = p
            return
        if str(have.fields.get("exposed", "")).startswith("TODO") and not str(
                p.fields.get("exposed", "TODO")).startswith("TODO"):
            have.fields = {**p.fields, **({"p": have.fields["p"]} if "p" in have.fields and "p" not in p.fields
                                          else {})}  # a table row names the levels a sentence does not
        for q in p.quotes:
            if all(q[0] not in h[0] and h[0] not in q[0] for h in have.quotes):
                have.quotes.append(q)

    def group(self, label: str, n: int, quote: tuple[str, int, str]) -> str:
        label = " ".join(w for w in label.split() if w.lower() not in _STOP) or label
        gid = voc.slug(label)
        if voc.negated(label):
            gid = "no_" + voc.slug(voc.without_negation(label))
        have = self.groups.get(gid)
        if have is not None and have.n != n:
            gid = f"{gid}_{n}"
        if gid not in self.groups:
            exposure = voc.exposure_of(label) or "other"
            self.groups[gid] = GroupProposal(gid, label, n, exposure, not voc.negated(label), quote)
        return gid

    # --- reading a page ----------------------------------------------------------------------
    def page(self, original: str, pno: int) -> None:
        t = fold(original)
        hits = detect(original)
        self.candidates += len(hits)
        for m in _GROUP.finditer(t):
            words = [w for w in m.group("label").split() if w.lower() not in _STOP]
            if words:
                s, e = m.start("label"), m.end()
                self.group(" ".join(words), int(m.group("n")),
                            (text_of(original, s, t.find(")", e) + 1 if ")" in t[e:e + 20] else e), pno,
                             self.where(t, s, pno)))
        for line in t.split("\n"):
            if line.count("\t") >= 2 and len(HEADER_GROUP.findall(line)) >= 2:
                for m in HEADER_GROUP.finditer(line):
                    if not re.match(r"(?i)total|all\b", m.group("label").strip()):
                        off = t.find(line)
                        self.group(m.group("label").strip(), int(m.group("n")),
                                    (text_of(original, off + m.start(), off + m.end()), pno,
                                     self.where(t, off, pno)))
        counts = [h for h in hits if isinstance(h, Count)]
        used_p: set[int] = set()
        self.last_ratio_end = 0
        for h in hits:
            if isinstance(h, Ratio):
                self._ratio(original, t, h, pno)
                self.last_ratio_end = max(h.end, h.p_span[1] if h.p_span else 0)
        for a, b in zip(counts, counts[1:]):
            self._binary(original, t, a, b, hits, pno, used_p)
        table_rows(self, original, t, pno)
        for h in counts:
            self._proportion(original, t, h, pno)
        for h in hits:
            if isinstance(h, PValue) and h.start not in used_p and not h.threshold:
                self._pvalue(original, t, h, hits, pno)
            elif isinstance(h, Rate):
                self._rate(original, t, h, hits, pno)

    def _ratio(self, original: str, t: str, r: Ratio, pno: int) -> None:
        if not float(r.lower) <= float(r.estimate) <= float(r.upper):
            return  # a misprint: the audit reports it; no record is proposed
        if "·" in original[r.start:r.end]:
            return  # the quote would print the numbers differently
        p_op, p, p_end = r.p_op, r.p, (r.p_span[1] if r.p_span else r.end)
        p_start = r.p_span[0] if r.p_span else r.start
        cells = cell_layout(t, r.start)
        if r.table:
            label_lines = prev_lines(t, r.start, 6)
            if cells:
                labels = [(o, ln) for o, ln in label_lines if not is_number_line(ln) and "(" not in ln]
                if label_lines and is_number_line(label_lines[0][1]) and p is None:
                    v = label_lines[0][1]
                    if float(v.strip("<>=≤≥ ")) <= 1:
                        p_op, p = ("<" if v.strip().startswith("<") else "="), v.strip("<>=≤≥ ")
                s = labels[0][0] if labels else r.start
                label = labels[0][1] if labels else ""
                second = re.search(r"\(\s*\d*\.?\d+\s*-\s*\d*\.?\d+\s*\)", t[s:r.start]) is not None
                reference, heading = _reference_level(prev_lines(t, r.start, 16))
            else:
                s = t.rfind("\n", 0, r.start) + 1
                label = t[s:r.start].split("\t")[0].split("|")[0].strip()
                second = False
                reference, heading = "", ""
                after = t[r.end: t.find("\n", r.end) if "\n" in t[r.end:] else len(t)]
                pm = re.match(r"[\s|$]*\t?\s*([<>]?\s*\d*\.\d+)\s*(?:\t|\||$)", after)
                if pm and p is None and float(pm.group(1).strip("<> ")) <= 1:
                    p = pm.group(1).strip("<> ")
                    p_op = "<" if pm.group(1).strip().startswith("<") else "="
                    p_end = r.end + pm.end(1)
            qs, qe = s, max(r.end, p_end)
            context = t[max(0, s - 4000): qe]
            cap = None
            for m in CAPTION.finditer(t, max(0, s - 4000), s):
                cap = m.group(0)
            section = self._section_outcome(t, s, cap)
            outcome = section or (voc.outcome_near(cap, 0) if cap else None)
            multivariable = bool(re.search(r"multivari|adjusted", cap or "", re.I)) and (
                second or not re.search(r"univari", cap or "", re.I))
            exposure_text = f"{heading} {label}"
        else:
            qs, qe = clause(t, r.start, max(r.end, p_end), back=160, ahead=0)
            qs = min(max(qs, self.last_ratio_end), p_start)  # not the previous ratio's words
            while qs < p_start and t[qs] in " ,;:)]":
                qs += 1
            qe = max(r.end, p_end) + (1 if t[max(r.end, p_end):max(r.end, p_end) + 1] == ")" else 0)
            cs, ce = clause(t, r.start, r.end)
            context = t[cs:ce]
            outcome = voc.outcome_near(context, r.start - cs)
            multivariable = bool(re.search(r"multivari|adjusted|independent", t[max(0, cs - 300):ce], re.I))
            exposure_text = t[qs:r.start]
            label = reference = heading = ""
        if outcome is None or outcome.endswith("_any") and outcome.startswith(("crs", "icans")) and \
                r.measure == "HR":
            if outcome is None:
                return
        outcome = {"crs_any": "crs_any", "icans_any": "icans_any"}.get(outcome, outcome)
        exposure = voc.exposure_of(exposure_text) or "other"
        fields = {
            "outcome": outcome, "measure": r.measure, "exposure": exposure,
            "exposed": label or "TODO: the exposed level", "reference": reference or "TODO: the reference level",
            "estimate": r.estimate, "ci_lower": r.lower, "ci_upper": r.upper,
        }
        if r.level != 0.95:
            fields["ci_level"] = f"{r.level:g}"
        if p is not None:
            fields["p"] = p if p_op == "=" else f"{p_op}{p}"
        fields["adjusted"] = "true" if multivariable else "false"
        fields["analysis"] = "multivariable" if multivariable else "univariable"
        if r.measure == "HR":
            fields["model"] = "Cox proportional hazards"
        if exposure == "other" or heading:
            fields["exposure_label"] = (f"{heading}: {label} vs {reference}" if heading and reference else
                                        label or text_of(original, max(qs, r.start - 60), r.start))[:80] or "TODO"
        quote = (text_of(original, qs, qe), pno, self.where(t, qs, pno))
        self.add(Proposal("ratio", fields, [quote], ("ratio", r.measure, r.estimate, r.lower, r.upper),
                           3.0 + (p is not None)))

    def _section_outcome(self, t: str, pos: int, caption: str | None) -> str | None:
        """A table's section row ('OS', 'LFS') above a row, nearer than its caption."""
        for _, line in prev_lines(t, pos + 1, 40):
            if caption and line.startswith(caption[:20]):
                return None
            cell = line.split("\t")[0].strip()
            if re.fullmatch(r"(?:OS|PFS|EFS|LFS|Overall survival|Progression-free survival)", cell):
                return voc.outcome_near(cell, 0)
        return None

    def _binary(self, original, t, a: Count, b: Count, hits, pno, used_p: set[int]) -> None:
        if b.start - a.end > 260:
            return
        between = t[a.end:b.start]
        if not re.search(r"\bgroups?\b|\bvs\.?|versus|compared", t[max(0, a.start - 80):b.end + 40], re.I):
            return
        labels = []
        for c, limit in ((a, b.start), (b, b.end + 45)):
            after = _GROUP_WORD.match(t, c.end, min(limit, c.end + 45))
            before = list(_GROUP_WORD.finditer(t, max(0, c.start - 90), c.start))
            m = after or (before[-1] if before else None)
            labels.append(m.group(1) if m else None)
        if None in labels or labels[0] == labels[1]:
            return
        totals = []
        for c, label in zip((a, b), labels):
            total = c.total
            if total is None and c.percent is not None:
                total = infer_total(c.events, c.percent, sorted(g.n for g in self.groups.values()))
            totals.append(total)
        if None in totals or any(n < 2 for n in totals) or "." in between and re.search(r"\.\s+[A-Z]", between) and not re.search(
                r"group", between):
            return
        s, e = clause(t, a.start, b.end, back=120, ahead=0)
        outcome = voc.outcome_near(t[s:min(len(t), b.end + 120)], a.start - s)
        if outcome is None:
            return
        p = None
        p_end = b.end
        _, b_end = clause(t, b.start, b.end, back=0, ahead=200)
        for h in hits:
            if isinstance(h, PValue) and b.end <= h.start <= b.end + 200 and not h.threshold:
                if h.start > b_end:  # in the next sentence: only if it speaks of the same outcome
                    ns, ne = clause(t, h.start, h.end, back=200, ahead=0)
                    if voc.outcome_near(t[ns:h.start], h.start - ns) != outcome:
                        break
                p, p_end = h, h.end
                used_p.add(h.start)
                break
        exposed_i = 1 if voc.negated(labels[0]) else 0
        arms = []
        for i, (c, label, total) in enumerate(zip((a, b), labels, totals)):
            gid = self.group(label, total, (text_of(original, c.start, c.end), pno, self.where(t, c.start, pno)))
            arm = {"group": gid, "events": str(c.events), "total": str(total)}
            if c.percent is not None:
                arm["percent"] = c.percent
            arms.append(arm)
        exposure = voc.exposure_of(labels[exposed_i]) or "other"
        fields = {"outcome": outcome, "exposure": exposure, "exposed": arms[exposed_i],
                  "reference": arms[1 - exposed_i]}
        if exposure == "other":
            fields["exposure_label"] = labels[exposed_i]
        if p is not None:
            fields["p"] = p.value if p.op == "=" else f"{p.op}{p.value}"
        derived = {f"{side}.total": f"from {c.events} at {c.percent}% (the group size consistent with the "
                   f"rounding)" for side, c in (("exposed", (a, b)[exposed_i]), ("reference", (a, b)[1 - exposed_i]))
                   if c.total is None}
        if derived:
            fields["derived"] = derived
        quote = (text_of(original, s, p_end + (1 if t[p_end:p_end + 1] == ")" else 0)), pno, self.where(t, s, pno))
        key = ("binary", a.events, totals[0], b.events, totals[1])
        self.used_counts.update((a.start, b.start))
        self.add(Proposal("binary", fields, [quote], key, 2.5 + (p is not None)))

    def _proportion(self, original: str, t: str, c: Count, pno: int) -> None:
        if c.form == "n (x)" or c.start in self.used_counts:
            return  # table cells are read row by row; a binary record's arms are not proportions
        total = c.total
        derived = None
        if total is None and c.percent is not None:
            cands = sorted(self.sizes | {g.n for g in self.groups.values()})
            total = next((d for d in reversed(cands) if d >= c.events and num.percent_consistent(
                c.events, d, c.percent)), None)
            if total is not None:
                derived = f"the cohort or group size whose {c.events}/{total} rounds to {c.percent}%"
        if total is None or total < 2:
            return
        s, e = clause(t, c.start, c.end)
        if cell_layout(t, c.start):
            s = max(0, c.start - 400)
        window = t[s:e]
        local = t[max(s, c.start - 90): min(e, c.end + 90)]
        if voc.treatment_use(local):
            outcome = "treatment_use"
        else:
            outcome = voc.outcome_near(window, c.start - s)
            label = " ".join(ln for _, ln in prev_lines(t, c.start + 1, 1))
            if outcome and cell_layout(t, c.start) and voc.low_grade_only(label):
                return
            if outcome and cell_layout(t, c.start) and voc.grade3(label) and outcome in ("crs_any", "icans_any"):
                outcome = outcome.replace("_any", "_grade3plus")
        if outcome is None or outcome in ("os", "pfs", "efs", "lfs"):
            return  # a count near a survival outcome is not a proportion of it
        qs = c.start if not cell_layout(t, c.start) else (prev_lines(t, c.start + 1, 2) or [(c.start, "")])[-1][0]
        qs = min(qs, max(s, c.start - 120))
        quote = (text_of(original, max(s, qs), min(e, c.end + 80)), pno, self.where(t, c.start, pno))
        fields = {"outcome": outcome, "events": str(c.events), "total": str(total)}
        if c.percent is not None:
            fields["percent"] = c.percent
        if derived:
            fields["derived"] = {"total": derived}
        self.add(Proposal("proportion", fields, [quote], ("proportion", c.events, total), 2.0 + (c.total is not None)))

    def _pvalue(self, original, t, p: PValue, hits, pno) -> None:
        if float(p.value) > 1 or float(p.value) <= 0:
            return
        s, e = clause(t, p.start, p.end, back=260, ahead=60)
        window = t[s:e]
        if not re.search(r"differ|between|vs\.?|versus|compared|with and without|with or without|similar|"
                         r"associated|significant", window, re.I):
            return
        terms = [o for _, o in voc.outcome_terms(t[s:p.start])]
        # "p = a and b, respectively": the i-th value for the i-th outcome named before it
        listed = [h for h in hits if isinstance(h, PValue) and s <= h.start <= e and not h.threshold]
        idx = listed.index(p) if p in listed else 0
        outcomes = [o for o in dict.fromkeys(terms) if o not in ("crs_any", "icans_any", "crs_and_icans")] or terms
        own = voc.outcome_terms(t[p.end: p.end + 15]) if re.match(r"[\s$]*for\s", t[p.end:]) else []  # "for OS"
        if own:
            outcome = own[0][1]
        elif p.listed or any(h.listed for h in listed):
            outcome = outcomes[idx] if idx < len(outcomes) else None
        else:
            before = voc.outcome_terms(t[max(s, p.start - 40): p.start])
            outcome = before[-1][1] if before else (outcomes[0] if outcomes else None)
        if outcome is None or outcome.endswith("_any") and "CRS" in window and "ICANS" in window:
            if outcome is None:
                return
        exposure = (voc.exposure_of(_exposure_window(window, outcome))
                    or voc.exposure_of(_exposure_window(t[max(0, s - 250):s], outcome)) or "other")
        fields = {"outcome": outcome, "exposure": exposure,
                  "comparison": text_of(original, s, e)[:90].rsplit(" ", 1)[0] or "TODO",
                  "p": p.value if p.op == "=" else f"{p.op}{p.value}"}
        if exposure == "other":
            fields["exposure_label"] = "TODO: what was compared"
        quote = (text_of(original, s, min(e, p.end + 40)), pno, self.where(t, s, pno))
        self.add(Proposal("pvalue", fields, [quote], ("pvalue", p.value, outcome, exposure, s), 1.0))

    def _rate(self, original, t, r: Rate, hits, pno) -> None:
        s, e = clause(t, r.start, r.end)
        outcome = voc.outcome_near(t[s:r.start], r.start - s)
        if outcome not in ("os", "pfs", "efs", "lfs"):
            return
        rates = [h for h in hits if isinstance(h, Rate) and s <= h.start < e]
        times = re.search(r"at ((?:\d+,\s*)*\d+,?\s*and\s*\d+)\s*(years?|months?)", t[s:e])
        fields = {"outcome": outcome, "rate": r.rate, "se": r.se}
        if times:
            points = re.findall(r"\d+", times.group(1))
            i = rates.index(r)
            if len(points) == len(rates):
                unit = times.group(2).rstrip("s")
                fields["timepoint"] = f"{points[i]} {unit}{'s' if points[i] != '1' else ''}"
        quote = (text_of(original, s, e), pno, self.where(t, s, pno))
        self.add(Proposal("survival_rate", fields, [quote], ("rate", outcome, r.rate, r.se), 1.5))

    def result(self) -> tuple[list[Proposal], list[GroupProposal]]:
        ranked = sorted(self.proposals.values(), key=lambda p: (KIND_RANK[p.kind], -p.score))
        return ranked, list(self.groups.values())


def _reference_level(lines_back: list[tuple[int, str]]) -> tuple[str, str]:
    """In a one-cell-per-line Cox table: the reference level (the label before '1.00 (Reference)')
    and the variable's heading above it; empty when the table does not say."""
    for i, (_, line) in enumerate(lines_back):
        if "Reference" in line:
            names = [ln for _, ln in lines_back[i + 1:] if not is_number_line(ln) and "(" not in ln]
            if len(names) >= 2:
                return names[0], names[1]
            return (names[0], "") if names else ("", "")
    return "", ""


def _exposure_window(window: str, outcome: str) -> str:
    """The comparison's words without the outcome's own name (a CRS outcome is not a CRS exposure)."""
    if outcome.startswith("crs") and "ICANS" not in window:
        return re.sub(r"\bCRS\b", "", window)
    return window


def propose(pages: list[str], kind: str) -> tuple[list[Proposal], list[GroupProposal], int]:
    """Proposals and groups from a document's pages, best first; and how many numbers were read."""
    pr = Proposer(kind)
    for page in pages:
        pr.sizes.update(cohort_sizes(page))
    for pno, page in enumerate(pages, 1):
        pr.page(page, pno)
    proposals, groups = pr.result()
    return proposals, groups, pr.candidates
