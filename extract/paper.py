"""From a paper to an extraction: page-anchored text, the audit, and a draft study file.

Commands: ``carsynth text PAPER``, ``carsynth audit PAPER``, ``carsynth new ID --from PAPER``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
from pathlib import Path

from .audit import _N_OVER_N_PCT, _PCT_AFTER_N, _P_VALUE, _RATIO_CI, audit, cohort_sizes
from .text import Document, SourceError, load_document

_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>,;)\]]+)")
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")


def cache_dir() -> Path:
    base = os.environ.get("CARSYNTH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "carsynth")
    return Path(base)


def page_text(path: Path) -> dict:
    """Page-anchored text (and tables for PDFs), cached by the file's sha256."""
    doc = load_document(path)
    cached = cache_dir() / "text" / f"{doc.sha256}.json"
    if cached.is_file():
        try:
            return json.loads(cached.read_text())
        except ValueError:
            pass
    pages = [dehyphenate(p) for p in doc.pages]
    tables: list[dict] = []
    if doc.kind == "pdf":
        tables = _pdf_tables(path)
    out = {"file": path.name, "sha256": doc.sha256, "kind": doc.kind, "pages": pages,
           "tables": tables, "metadata": _pdf_metadata(path) if doc.kind == "pdf" else {}}
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, ensure_ascii=False))
        os.replace(tmp, cached)
    except OSError:
        pass  # a read-only cache is no reason to fail
    return out


def dehyphenate(text: str) -> str:
    """Join words split by a hyphen at a line end ('treat-\\nment' -> 'treatment');
    hyphens before a capital or digit ('CAR-\\nT') are kept."""
    return re.sub(r"([a-z])-[ \t]*\n[ \t]*([a-z])", r"\1\2", text)


def _pdf_tables(path: Path) -> list[dict]:
    import pymupdf

    out = []
    with pymupdf.open(path) as doc:
        for pno, page in enumerate(doc, 1):
            # pymupdf's table finder is slow (~0.25 s a page); a page without any
            # vector drawing has no ruled table to find
            if not page.get_drawings():
                continue
            try:
                # the plain ruled-line finder: pymupdf's optional layout model (ONNX)
                # costs ~0.25 s a page and is not needed for ruled tables
                found = _find_tables(page)
            except Exception:  # the table finder is heuristic; a failure is no table
                continue
            for t in found.tables:
                rows = [[("" if c is None else " ".join(str(c).split())) for c in row]
                        for row in t.extract()]
                if rows:
                    out.append({"page": pno, "rows": rows})
    return out


def _find_tables(page):
    try:
        return page.find_tables(use_layout=False)
    except TypeError:  # pymupdf < 2 has no layout gate
        return page.find_tables()


def _pdf_metadata(path: Path) -> dict:
    import pymupdf

    with pymupdf.open(path) as doc:
        return {k: v for k, v in (doc.metadata or {}).items() if v}


# --- draft study file -------------------------------------------------------------


def _slug_ok(study_id: str) -> bool:
    return re.fullmatch(r"[a-z0-9][a-z0-9_]*", study_id) is not None


_NOT_TITLE = re.compile(r"EDITED BY|REVIEWED BY|CORRESPONDENCE|OPEN ACCESS|CITATION|RECEIVED|"
                        r"ACCEPTED|PUBLISHED|COPYRIGHT|doi|https?:|©|\bet al\b", re.IGNORECASE)


def _guess_title(full: str) -> str:
    """A markdown heading if there is one, else the first long line that is not front matter."""
    lines = [ln.strip() for ln in full.splitlines()[:80] if ln.strip()]
    for ln in lines:
        if ln.startswith("# "):
            return ln[2:].strip()
    for ln in lines:
        if 30 <= len(ln) <= 250 and not _NOT_TITLE.search(ln) and not ln.endswith("."):
            return ln.lstrip("#").strip()
    return ""


def draft(study_id: str, paper: Path, doc: Document, text: dict) -> str:
    """A draft study file: what the paper's text gives, the rest left for a person."""
    full = "\n".join(text["pages"])
    meta = text.get("metadata", {})
    doi = _DOI.search(full)
    title = meta.get("title") or _guess_title(full)
    years = [int(y) for y in _YEAR.findall(full[:5000])]
    year = max(set(years), key=years.count) if years else None
    journal = meta.get("subject") or ("Frontiers in Immunology"
                                      if "Front Immunol" in full or "Frontiers in Immunology" in full
                                      else None)
    today = _dt.date.today().isoformat()
    q = lambda s: json.dumps(s, ensure_ascii=False)  # noqa: E731 - YAML accepts JSON strings
    lines = [
        f"# Draft made by `carsynth new {study_id} --from {paper.name}`.",
        "# Fill in what is missing; `carsynth validate` lists it. Candidate numbers found in the",
        "# paper are listed at the end as comments: keep what you need as records, delete the rest.",
        "schema_version: 1",
        f"id: {study_id}",
        "citation:",
        "  authors: []          # e.g. [Zhang H, Wang Y]",
        f"  title: {q(title)}",
    ]
    if journal:
        lines.append(f"  journal: {q(journal)}")
    if year:
        lines.append(f"  year: {year}")
    if doi:
        lines.append(f"  doi: {doi.group(1).rstrip('.')}")
    lines += [
        "sources:",
        f"  - file: {q(paper.name)}",
        f"    sha256: {q(doc.sha256)}",
        f"    kind: {doc.kind}",
        "extraction:",
        f"  extractor: {{name: \"\", date: {today}}}",
        "groups: []",
        "records: []",
        "",
        "# --- candidate numbers ---------------------------------------------------------",
    ]
    sizes = cohort_sizes(doc)
    if sizes:
        lines.append(f"# cohort and group sizes mentioned: {', '.join(map(str, sizes))}")
    for pno, page in enumerate(doc.pages, 1):
        for label, rx in (("n/N (x%)", _N_OVER_N_PCT), ("n (x%)", _PCT_AFTER_N),
                          ("ratio with CI", _RATIO_CI), ("p-value", _P_VALUE)):
            for m in rx.finditer(page):
                line = page.count("\n", 0, m.start()) + 1
                s = max(0, m.start() - 40)
                quote = " ".join(page[s: m.end() + 20].split())
                where = f"page {pno}, line {line}" if doc.kind == "pdf" else f"line {line}"
                lines.append(f"# {where}: {label}: \"{quote}\"")
    findings = audit(doc)
    if findings:
        lines.append("# --- audit findings (see `carsynth audit`) ---")
        for f in findings:
            lines.append(f"# {f.severity}: {f.message}")
    return "\n".join(lines) + "\n"


# --- commands --------------------------------------------------------------------


def _open(path_arg: str) -> tuple[Path, Document] | int:
    path = Path(path_arg)
    if not path.is_file():
        print(f"carsynth: {path}: no such file", file=sys.stderr)
        return 2
    try:
        return path, load_document(path)
    except SourceError as exc:
        print(f"carsynth: {exc}", file=sys.stderr)
        return 2


def cmd_text(args) -> int:
    opened = _open(args.paper)
    if isinstance(opened, int):
        return opened
    path, _ = opened
    text = page_text(path)
    if args.json:
        print(json.dumps(text, ensure_ascii=False, indent=1))
        return 0
    for pno, page in enumerate(text["pages"], 1):
        print(f"==== page {pno} ====")
        print(page.rstrip())
        for t in text["tables"]:
            if t["page"] == pno:
                print(f"---- table on page {pno} ----")
                for row in t["rows"]:
                    print("\t".join(row))
    return 0


def cmd_audit(args) -> int:
    opened = _open(args.paper)
    if isinstance(opened, int):
        return opened
    _, doc = opened
    findings = audit(doc)
    if args.json:
        print(json.dumps([f.to_dict() for f in findings], ensure_ascii=False, indent=1))
    else:
        for f in findings:
            print(f)
        counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "note")}
        print(f"{len(findings)} findings: {counts['error']} errors, {counts['warning']} warnings, "
              f"{counts['note']} notes")
    return 0


def cmd_new(args) -> int:
    if not _slug_ok(args.id):
        print(f"carsynth new: '{args.id}' is not a valid study id (lower-case letters, digits and "
              f"_; e.g. zhang2025)", file=sys.stderr)
        return 2
    target = Path(args.studies) / f"{args.id}.yaml"
    if target.exists():
        print(f"carsynth new: {target} already exists; not overwriting it", file=sys.stderr)
        return 2
    opened = _open(args.paper)
    if isinstance(opened, int):
        return opened
    path, doc = opened
    text = page_text(path)
    content = draft(args.id, path, doc, text)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "x", encoding="utf-8") as fh:  # "x": never overwrite, even in a race
            fh.write(content)
    except FileExistsError:
        print(f"carsynth new: {target} already exists; not overwriting it", file=sys.stderr)
        return 2
    print(f"wrote {target}: a draft; run `carsynth validate {target}` to see what is missing")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("text", help="page-anchored text (and tables) of a paper, PDF or text")
    p.add_argument("paper")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_text)
    p = sub.add_parser("audit", help="check the statistics reported in a paper")
    p.add_argument("paper")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)
    p = sub.add_parser("new", help="draft studies/ID.yaml from a paper")
    p.add_argument("id")
    p.add_argument("--from", dest="paper", required=True, metavar="PAPER")
    p.add_argument("--studies", default="studies", help="folder for the draft (default studies/)")
    p.set_defaults(func=cmd_new)
