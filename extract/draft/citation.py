"""Citation metadata read from a paper's own text or PDF metadata, never guessed.

Each field comes from a structured cue: a journal's CITATION / "To cite" line,
a summary page's title heading and "Authors:" line, "PMID:"/"PMCID:" labels,
DOIs printed before the reference list, trial registration numbers. A field
with no cue stays empty and the draft marks it TODO: a year is never taken
from an accrual date, a title never from an affiliation line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>,;)\]\[]+)")
_PMID = re.compile(r"\bPMID:?\s*(\d{1,9})\b")
_PMCID = re.compile(r"\b(PMC\d{5,9})\b")
_REGISTRATIONS = re.compile(
    r"\b(NCT\d{8}|ChiCTR(?:-[A-Z]{2,4})*-?\d{6,12}|ISRCTN\d{8}|(?:EudraCT(?:\s+(?:number|no\.?))?:?\s*)"
    r"\d{4}-\d{6}-\d{2})\b")
_REFERENCES = re.compile(r"^\s*(?:#+\s*)?(?:references|bibliography|literature cited)\s*$",
                         re.IGNORECASE | re.MULTILINE)
# "Ma Y, Zhou H, … and Wang X (2024) The influence of … leukemia. Front. Immunol. 15:1448709. doi: …":
# the authors are the text from the line start to "(year)", checked name by name (no nested
# quantifiers over the whole list, so the search is linear in the text); then title, journal, volume
_YEAR_PAREN = re.compile(r"\(((?:19|20)\d\d)\)")
_NAME = re.compile(r"[A-Z][\w'’-]+(?: [A-Z][\w'’-]+){0,3} [A-Z]{1,3}")
_AFTER_YEAR = re.compile(
    r"\s*(?P<title>[^\n]{10,400}?)\.\s+\*?(?P<journal>[A-Z][A-Za-z. &]{2,80}?)\*?\.?\s+(?P<volume>\d+)"
    r"(?::(?P<pages>[\w–-]+))?")
_TO_CITE = re.compile(
    r"To cite:\s*(?P<authors>[^.]+?(?:et al)?)\.\s+(?P<title>[^\n]{10,400}?)\.\s+(?P<journal>[A-Z][A-Za-z. &]{2,80}?)"
    r"\s+(?P<year>(?:19|20)\d\d);(?P<volume>\d+)")
_SUMMARY_AUTHORS = re.compile(r"^\*\*Authors?:\*\*\s*(.+)$", re.MULTILINE)
_SUMMARY_LINE = re.compile(r"^(?:PMC|PubMed)[^\n]*·\s*(?P<journal>[A-Z][A-Za-z .&]+?)\s*·\s*(?P<year>(?:19|20)\d\d)-\d\d-\d\d",
                           re.MULTILINE)
_PUBLISHED = re.compile(r"\bPUBLISHED\s+\d{1,2}\s+[A-Z][a-z]+\s+((?:19|20)\d\d)\b")


@dataclass
class Citation:
    title: str = ""
    authors: list[str] = field(default_factory=list)
    authors_complete: bool = True
    journal: str = ""
    year: int | None = None
    volume: str = ""
    pages: str = ""
    doi: str = ""
    pmid: str = ""
    pmcid: str = ""
    registrations: list[str] = field(default_factory=list)
    found_in: dict[str, str] = field(default_factory=dict)  # field -> where it was read


def body_before_references(full: str) -> str:
    """The text up to the last 'References' heading: numbers cited there belong to other papers."""
    heads = list(_REFERENCES.finditer(full))
    return full[: heads[-1].start()] if heads else full


def _surname_first(name: str) -> str:
    """'Hui Zhang' -> 'Zhang H'; 'Ma Y' stays."""
    name = " ".join(name.replace("*", "").split())
    if re.fullmatch(r"[A-Z][\w'’-]+(?: [A-Z][\w'’-]+)* [A-Z]{1,3}", name):
        return name
    parts = name.split(" ")
    if len(parts) < 2:
        return name
    initials = "".join(p[0] for p in parts[:-1] if p[:1].isalpha()).upper()
    return f"{parts[-1]} {initials}"


def _split_authors(text: str) -> tuple[list[str], bool]:
    complete = not re.search(r"\bet al\b", text)
    text = re.sub(r",?\s*et al\.?", "", text)
    names = [n.strip(" .") for n in re.split(r",\s*|\s+and\s+", text) if n.strip(" .")]
    return [_surname_first(n) for n in names if 1 < len(n) < 60], complete


class _Cited(dict):
    """A citation line's parts, read like a regex match (group(name))."""

    def group(self, name: str) -> str:
        return self[name]

    def groupdict(self) -> dict:
        return self


def _citation_line(head: str) -> _Cited | None:
    for y in _YEAR_PAREN.finditer(head):
        line_start = head.rfind("\n", 0, y.start()) + 1
        authors = head[line_start: y.start()].strip()
        if not authors or len(authors) > 2000:
            continue
        names = [n.strip() for n in re.split(r",\s*|\s+and\s+", re.sub(r",?\s*et al\.?$", "", authors))]
        if not names or not all(len(n) <= 60 and _NAME.fullmatch(n) for n in names):
            continue
        rest = _AFTER_YEAR.match(head, y.end(), min(len(head), y.end() + 700))
        if rest:
            return _Cited(authors=authors, year=y.group(1), **rest.groupdict())
    return None


def find_citation(full: str, metadata: dict | None = None) -> Citation:
    meta = metadata or {}
    body = body_before_references(full)
    head = body[:20000]
    c = Citation()
    m = _citation_line(head) or _TO_CITE.search(head)
    if m:
        c.authors, c.authors_complete = _split_authors(m.group("authors"))
        c.title = " ".join(m.group("title").split()).strip("* ")
        c.journal = m.group("journal").strip(" *")
        if "." in c.journal and not c.journal.endswith("."):
            c.journal += "."  # "Front. Immunol." as printed
        c.year = int(m.group("year"))
        c.volume = m.group("volume") or ""
        c.pages = (m.groupdict().get("pages") or "")
        for f in ("authors", "title", "journal", "year"):
            c.found_in[f] = "the paper's citation line"
    heading = re.search(r"^# (.{10,400})$", head, re.MULTILINE)
    if not c.title and heading:
        c.title, c.found_in["title"] = heading.group(1).strip(), "the first heading"
    if not c.title and len(meta.get("title", "")) >= 20 and not re.match(r"(?i)microsoft|untitled", meta["title"]):
        c.title, c.found_in["title"] = meta["title"].strip(), "the PDF metadata"
    if not c.authors:
        a = _SUMMARY_AUTHORS.search(head)
        if a:
            c.authors, c.authors_complete = _split_authors(a.group(1))
            c.found_in["authors"] = "the 'Authors:' line"
        elif meta.get("author"):
            c.authors, c.authors_complete = _split_authors(meta["author"].replace(";", ","))
            c.found_in["authors"] = "the PDF metadata"
    s = _SUMMARY_LINE.search(head)
    if s and not c.journal:
        c.journal, c.found_in["journal"] = s.group("journal").strip(), "the summary line"
    if s and c.year is None:
        c.year, c.found_in["year"] = int(s.group("year")), "the summary line"
    if c.year is None and (p := _PUBLISHED.search(head)):
        c.year, c.found_in["year"] = int(p.group(1)), "the PUBLISHED date"
    d = _DOI.search(head)
    if d:
        c.doi = d.group(1).rstrip(".")
    elif meta.get("doi"):
        c.doi = meta["doi"]
    if pm := _PMID.search(head):
        c.pmid = pm.group(1)
    if pc := _PMCID.search(head):
        c.pmcid = pc.group(1)
    regs: list[str] = []
    for r in _REGISTRATIONS.finditer(body):
        reg = re.sub(r"^EudraCT(?:\s+(?:number|no\.?))?:?\s*", "EudraCT ", r.group(1))
        if reg not in regs:
            regs.append(reg)
    c.registrations = regs
    return c
