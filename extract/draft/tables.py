"""Tab-separated tables of n (x) cells: a proportion for the total column, a binary record for two groups."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import vocabulary as voc
from .model import Proposal
from .passages import text_of

if TYPE_CHECKING:  # the proposer passes itself; no import cycle at run time
    from .propose import Proposer

HEADER_GROUP = re.compile(r"(?P<label>[A-Z][\w -]{1,30}?)\s*\(\s*N\s*=\s*(?P<n>\d+)\s*\)")


def table_rows(self: Proposer, original: str, t: str, pno: int) -> None:
    """Tab-separated rows of n (x) cells under a header naming each column's N (``self``: the proposer)."""
    lines = t.split("\n")
    header = None
    offset = 0
    section = ""
    for line in lines:
        start = offset
        offset += len(line) + 1
        cells = line.split("\t")
        if len(cells) >= 3 and len(HEADER_GROUP.findall(line)) >= 2:
            header = cells
            header_quote = (text_of(original, start, start + len(line)), pno, self.where(t, start, pno))
            continue
        if header is None or len(cells) < 3:
            if not line.strip():
                header = None
            continue
        if not any(c.strip() for c in cells[1:]):
            continue
        if re.search(r"\(%\)", cells[0]) and not re.search(r"\d", "".join(cells[1:-2])):
            section = cells[0]
            continue
        m_cells = []
        for c in cells[1:]:
            mc = re.fullmatch(r"\s*(\d+)\s*\(\s*(\d+(?:\.\d+)?)\s*\)\s*", c)
            if not mc:
                break
            m_cells.append(mc)
        if len(m_cells) < 2:
            if re.search(r"\(%\)|No\.", cells[0]):
                section = cells[0]
            continue
        label = cells[0] if re.search(r"[A-Za-z]", cells[0]) else f"{section} {cells[0]}"
        if voc.low_grade_only(label) or re.fullmatch(r"\s*[0-2]\s*", cells[0]):
            continue
        outcome = voc.outcome_near(label, 0)
        if outcome in ("crs_any", "icans_any") and re.search(r"grade", section, re.I) and re.fullmatch(
                r"\s*(?:≥\s*)?(?:grade\s*)?3\s*(?:-\s*[45]|\+|or (?:more|higher))?\s*", cells[0], re.I):
            outcome = outcome.replace("_any", "_grade3plus")
        elif re.search(r"grade", section, re.I) and not re.search(r"[A-Za-z]", cells[0]):
            continue  # another grade row (0, 1, 2)
        if outcome is None:
            continue
        ns = [int(h.group("n")) for h in (HEADER_GROUP.search(c) for c in header[1:len(m_cells) + 1]) if h]
        if len(ns) != len(m_cells):
            continue
        quote = (text_of(original, start, start + len(line)), pno, self.where(t, start, pno))
        if re.match(r"(?i)total|all\b", header[1].strip()):
            ev, pct = int(m_cells[0].group(1)), m_cells[0].group(2)
            self.add(Proposal("proportion", {"outcome": outcome, "events": str(ev), "total": str(ns[0]),
                                              "percent": pct}, [quote, header_quote], ("proportion", ev, ns[0]),
                               2.0))
            m_cells, ns, heads = m_cells[1:], ns[1:], header[2:]
        else:
            heads = header[1:]
        if len(m_cells) == 2:
            glabels = [HEADER_GROUP.search(h).group("label").strip() for h in heads[:2]]
            exposed_i = 1 if voc.negated(glabels[0]) else 0
            arms = []
            for mc, n, gl in zip(m_cells, ns, glabels):
                gid = self.group(gl, n, quote)
                arms.append({"group": gid, "events": mc.group(1), "total": str(n), "percent": mc.group(2)})
            exposure = voc.exposure_of(glabels[exposed_i]) or "other"
            fields = {"outcome": outcome, "exposure": exposure, "exposed": arms[exposed_i],
                      "reference": arms[1 - exposed_i]}
            if exposure == "other":
                fields["exposure_label"] = glabels[exposed_i]
            tail = [c.strip() for c in cells[len(m_cells) + 2:]]
            if tail and re.fullmatch(r"\d*\.\d+", tail[0]) and float(tail[0]) <= 1:
                fields["p"] = tail[0]
            key = ("binary", int(arms[0]["events"]), ns[0], int(arms[1]["events"]), ns[1])
            self.add(Proposal("binary", fields, [quote, header_quote], key, 2.5))
