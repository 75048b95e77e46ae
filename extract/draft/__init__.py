"""A draft study file from a paper: citation, design, groups and proposed records.

``carsynth new ID --from PAPER`` writes what :func:`draft_text` returns. Every
proposed record carries ``review: pending``: validate lists it and no analysis
pools it until a person has checked it against its quote and set
``review: accepted``. Values the paper does not give are left empty with a TODO,
never guessed. The draft is capped (best proposals first) so that any paper, even
a 1,000-page PDF, gives a file ``carsynth validate`` can read; a comment says how
many proposals were left out.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections import Counter
from pathlib import Path

from synthesis.errors import EXIT_USAGE, CarsynthError

from .citation import Citation, body_before_references, find_citation
from .propose import GroupProposal, Proposal, propose

MAX_RECORDS = 150
MAX_COMMENT = 160
_RECORD_ORDER = ("outcome", "measure", "exposure", "exposure_label", "comparison", "timepoint", "group",
                 "exposed", "reference", "events", "total", "percent", "estimate", "ci_lower", "ci_upper",
                 "ci_level", "rate", "se", "p", "adjusted", "analysis", "model", "derived")
_RAW = {"estimate", "ci_lower", "ci_upper", "ci_level", "events", "total", "percent", "rate", "se",
        "adjusted"}
_LINE_BREAKS = re.compile("[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029\n\r]")


class NotAPaper(CarsynthError, ValueError):
    """The document has text but nothing of a research paper (no abstract/methods/results, no numbers)."""

    exit_code = EXIT_USAGE


def comment(text: str) -> str:
    """Text made safe for a YAML comment: one line, no control characters, clipped."""
    s = _LINE_BREAKS.sub(" ", str(text))
    return s if len(s) <= MAX_COMMENT else s[: MAX_COMMENT - 1] + "…"


def q(value: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax, line separators escaped)."""
    s = json.dumps(str(value), ensure_ascii=False)
    return s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")


def _scalar(key: str, value) -> str:
    if key in _RAW:
        return str(value)
    if key == "p":
        return str(value) if re.fullmatch(r"\d*\.?\d+", str(value)) else q(value)
    return q(value)


def _first(rx: str, text: str, flags: int = re.I) -> re.Match | None:
    return re.search(rx, text, flags)


def _design(body: str) -> list[str]:
    lines = ["design:"]
    m = _first(r"\b(retrospective|prospective)\b", body)
    if m:
        lines.append(f"  type: {m.group(1).lower()}   # read from: {q(comment(_around(body, m)))}")
    else:
        lines.append("  type: TODO   # retrospective, prospective or mixed")
    single = _first(r"single[- ]?(?:center|centre|institution)|one (?:center|centre)|at our (?:center|centre)", body)
    multi = _first(r"multi-?(?:center|centre)|\b(?:two|three|four|five|six|seven|eight|nine|ten|\d+) "
                   r"(?:medical |participating |clinical )?(?:centers|centres|institutions|hospitals)\b", body)
    first = min((x for x in (single, multi) if x), key=lambda x: x.start(), default=None)
    if first is None:
        lines.append("  centres: TODO   # single or multi")
    else:
        lines.append(f"  centres: {'single' if first is single else 'multi'}   # read from: "
                     f"{q(comment(_around(body, first)))}")
    return lines


def _around(text: str, m: re.Match, pad: int = 50) -> str:
    return " ".join(text[max(0, m.start() - pad): m.end() + pad].split())


def _population(body: str) -> list[str]:
    lines = ["population:"]
    age = _first(r"median age(?:[^.]|\.\d){0,40}?\(range,?\s*(\d+(?:\.\d+)?)\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)", body)
    if age:
        lo, hi = float(age.group(1)), float(age.group(2))
        group = "adult" if lo >= 18 else "paediatric" if hi <= 18 else "mixed"
        lines.append(f"  age_group: {group}   # from the age range: {q(comment(_around(body, age, 20)))}")
    elif _first(r"\b(?:children|pediatric|paediatric)\b", body[:4000]):
        lines.append("  age_group: paediatric   # the abstract speaks of children; check the age range")
    else:
        lines.append("  age_group: TODO   # paediatric, adult or mixed")
    if _first(r"relapsed/refractory|\bR/R\b|relapsed or refractory", body, re.I):
        lines.append('  disease_status: "relapsed/refractory"')
    else:
        lines.append('  disease_status: ""   # TODO')
    targets = Counter(re.findall(r"\bCD(19|20|22|123|7|5)\b", body))
    if targets:
        lines.append(f"  car_targets: [{', '.join('CD' + t for t, _ in targets.most_common())}]"
                     "   # every CAR target the text names: keep the study's")
    else:
        lines.append("  car_targets: []   # TODO")
    auto = _first(r"autologous", body)
    allo = _first(r"(?:allogeneic|donor-derived)\s+(?:(?:anti-)?CD\d+\s+)?CAR|CAR[- ]T cells were (?:allogeneic|donor)", body)
    origin = "mixed" if auto and allo else "autologous" if auto else "donor-derived" if allo else "not reported"
    seen = [m for m in (auto, allo) if m]
    lines.append(f"  car_origin: {q(origin)}" + (f"   # read from: {q(comment(' … '.join(_around(body, m, 40) for m in seen)))}"
                                                  if seen else ""))
    return lines


def _citation_lines(c: Citation, metadata: dict) -> list[str]:
    lines = ["citation:"]
    if c.authors:
        lines.append(f"  authors: [{', '.join(q(a) for a in c.authors)}]"
                     + ("   # the paper lists only the first authors (et al.)" if not c.authors_complete else ""))
    else:
        lines.append("  authors: []   # TODO: not found in the text or the PDF metadata")
    for key, value in (("title", c.title), ("journal", c.journal)):
        lines.append(f"  {key}: {q(value)}" + ("" if value else "   # TODO: not found"))
    lines.append(f"  year: {c.year}" if c.year else "  year: null   # TODO: not found (accrual years are not it)")
    for key, value in (("volume", c.volume), ("pages", c.pages)):
        if value:
            lines.append(f"  {key}: {q(value)}")
    for key, value in (("doi", c.doi), ("pmid", c.pmid), ("pmcid", c.pmcid)):
        lines.append(f"  {key}: {q(value)}" if value else f"  # {key}: not found in the text")
    if c.found_in:
        lines.append(f"  # read from: {comment(', '.join(f'{k} from {v}' for k, v in c.found_in.items()))}")
    return lines


def _quote_lines(quotes, indent: str, kind: str, source: str) -> list[str]:
    lines = [f"{indent}quotes:"]
    for text, page, where in quotes[:4]:
        lines.append(f"{indent}  - text: {q(text)}")
        lines.append(f"{indent}    source: {q(source)}")
        if kind == "pdf":
            lines.append(f"{indent}    page: {page}")
        lines.append(f"{indent}    location: {q(where)}")
    return lines


def _record_lines(rid: str, p: Proposal, kind: str, source: str) -> list[str]:
    lines = [f"  - id: {rid}", f"    kind: {p.kind}", "    review: pending"]
    for key in _RECORD_ORDER:
        if key not in p.fields:
            continue
        value = p.fields[key]
        if isinstance(value, dict):
            lines.append(f"    {key}:")
            for k, v in value.items():
                lines.append(f"      {k}: {_scalar(k, v) if key != 'derived' else q(v)}")
        else:
            lines.append(f"    {key}: {_scalar(key, value)}")
    return lines + _quote_lines(p.quotes, "    ", kind, source)


def _group_lines(g: GroupProposal, kind: str, source: str) -> list[str]:
    text, page, where = g.quote
    lines = [f"  - id: {g.id}", f"    label: {q(g.label)}", f"    exposure: {g.exposure}"]
    if not g.exposed:
        lines.append("    exposed: false")
    lines += [f"    n: {g.n}", f"    quote: {{text: {q(text)}, source: {q(source)}"
              + (f", page: {page}" if kind == "pdf" else "") + f", location: {q(where)}}}"]
    return lines


def _ids(proposals: list[Proposal]) -> list[str]:
    seen: Counter = Counter()
    out = []
    for p in proposals:
        f = p.fields
        parts = [f["outcome"], p.kind if p.kind != "ratio" else f["measure"].lower()]
        if "exposure" in f and f["exposure"] not in ("other", "none"):
            parts.append(f["exposure"])
        base = "_".join(parts)
        seen[base] += 1
        out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return out


def looks_like_a_paper(full: str, candidates: int) -> bool:
    return candidates > 0 and re.search(r"\b(abstract|methods?|results|patients|participants|background|"
                                        r"introduction|conclusions?)\b", full, re.I) is not None


def draft_text(study_id: str, paper: Path, doc, text: dict) -> tuple[str, list[str]]:
    """The draft's text and notes for the user (how many proposals were left out, …)."""
    pages = list(doc.pages)
    full = "\n".join(pages)
    body = body_before_references(full)
    proposals, groups, candidates = propose(pages, doc.kind)
    if not looks_like_a_paper(body, candidates):
        raise NotAPaper(f"{comment(paper.name)}: does not look like a research paper (no abstract, methods "
                        f"or results, and no reported numbers); nothing drafted")
    citation = find_citation(full, text.get("metadata", {}))
    kept, left_out = proposals[:MAX_RECORDS], len(proposals) - MAX_RECORDS
    used_groups = {a["group"] for p in kept for a in (p.fields.get("exposed"), p.fields.get("reference"))
                   if isinstance(a, dict)}
    groups = [g for g in groups if g.id in used_groups] + [g for g in groups if g.id not in used_groups][:20]
    source = paper.name
    lines = [
        f"# Draft made by `carsynth new {comment(study_id)} --from {comment(paper.name)}`",
        f"# on {_dt.date.today().isoformat()}. Every record below is a PROPOSAL (review: pending): check it",
        "# against its quote, fix or delete it, then set review: accepted. Pending records are listed",
        "# by `carsynth validate` and never pooled. TODO marks what the paper did not give.",
        "schema_version: 1",
        f"id: {study_id}",
    ]
    lines += _citation_lines(citation, text.get("metadata", {}))
    regs = citation.registrations
    lines.append(f"registrations: [{', '.join(q(r) for r in regs)}]" if regs
                 else "registrations: []   # none found in the text")
    lines += _design(body) + _population(body)
    lines += ["sources:", f"  - file: {q(source)}", f"    sha256: {q(doc.sha256)}", f"    kind: {doc.kind}",
              "extraction:", f"  extractor: {{name: \"carsynth new\", date: {_dt.date.today().isoformat()}}}"
              "   # replace with your name when you have checked the draft"]
    lines.append("groups:" if groups else "groups: []")
    for g in groups:
        lines += _group_lines(g, doc.kind, source)
    lines.append("records:" if kept else "records: []")
    for rid, p in zip(_ids(kept), kept):
        lines += _record_lines(rid, p, doc.kind, source)
    notes = []
    if left_out > 0:
        lines.append(f"# {left_out} more proposed records were left out (at most {MAX_RECORDS} are written, "
                     "the best first); `carsynth audit` and `carsynth text` show every number")
        notes.append(f"{left_out} more proposed records were left out (at most {MAX_RECORDS}, the best first)")
    lines.append(f"# {candidates} numbers were read from the paper; {len(proposals)} made proposed records.")
    return "\n".join(lines) + "\n", notes
