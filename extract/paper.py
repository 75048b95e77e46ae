"""From a paper to an extraction: page-anchored text, the audit, and a draft study file.

Commands: ``carsynth text PAPER``, ``carsynth audit PAPER``, ``carsynth new ID --from PAPER``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from .audit import audit
from .draft import NotAPaper, comment, draft_text
from .text import Document, SourceError, load_document


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
    return re.fullmatch(r"[a-z0-9][a-z0-9_]{0,79}", study_id) is not None


# --- commands --------------------------------------------------------------------


def _open(path_arg: str, command: str = "carsynth") -> tuple[Path, Document] | int:
    path = Path(path_arg)
    if not path.is_file():
        print(f"{command}: {comment(path)}: no such file", file=sys.stderr)
        return 2
    try:
        doc = load_document(path)
    except SourceError as exc:
        print(f"{command}: {comment(exc)}", file=sys.stderr)
        return 2
    for w in doc.warnings:
        print(f"{command}: warning: {comment(w)}", file=sys.stderr)
    return path, doc


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
    path, doc = opened
    findings = audit(doc, page_text(path)["tables"] if doc.kind == "pdf" else None)
    if args.json:
        print(json.dumps([f.to_dict() for f in findings], ensure_ascii=False, indent=1))
    else:
        for f in findings:
            print(f)
        counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "note")}
        print(f"{len(findings)} findings: {counts['error']} errors, {counts['warning']} warnings, "
              f"{counts['note']} notes")
    return 0


def _write_new(target: Path, content: str) -> None:
    """Write a new file whole or not at all, never replacing an existing one (even in a race):
    a temporary file beside it, then a hard link to the target name, which fails if it exists."""
    import secrets

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the usual mode, under the umask
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, target)
    finally:
        os.unlink(tmp)


def cmd_new(args) -> int:
    if not _slug_ok(args.id):
        print(f"carsynth new: {comment(repr(args.id))} is not a valid study id (lower-case letters, digits "
              f"and _, at most 80; e.g. zhang2025)", file=sys.stderr)
        return 2
    target = Path(args.studies) / f"{args.id}.yaml"
    if target.exists():
        print(f"carsynth new: {comment(target)} already exists; not overwriting it", file=sys.stderr)
        return 2
    opened = _open(args.paper, "carsynth new")
    if isinstance(opened, int):
        return opened
    path, doc = opened
    try:
        content, notes = draft_text(args.id, path, doc, page_text(path))
    except NotAPaper as exc:
        print(f"carsynth new: {exc}", file=sys.stderr)
        return 2
    try:
        _write_new(target, content)
    except FileExistsError:
        print(f"carsynth new: {comment(target)} already exists; not overwriting it", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"carsynth new: cannot write {comment(target)}: {exc.strerror}; free some space or choose "
              f"another --studies folder", file=sys.stderr)
        return 2
    for note in notes:
        print(f"carsynth new: note: {note}", file=sys.stderr)
    pending = content.count("\n    review: pending\n")
    print(f"wrote {comment(target)}: a draft with {pending} proposed records (review: pending); check each "
          f"against its quote, set review: accepted, then run `carsynth validate {comment(target)}`")
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
