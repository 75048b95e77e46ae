"""Duplicates and overlapping cohorts across study files.

A file is compared with every other study in its folder, whether or not those are being
validated, so a second report of a cohort is caught when it is validated alone. Two files
sharing a DOI, a trial registration or a source document must declare the overlap (either
file's ``overlaps:`` will do). The error goes on the later report (by year, then id): the
one that should say which cohort it repeats; a file validated alone always gets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..yamlio import YamlInputError, load_file
from .messages import ERROR, WARNING, Message, clip, dotted

_EXTENSIONS = (".yaml", ".yml")
MAX_SIBLINGS = 5000


@dataclass(frozen=True)
class Cohort:
    """What identifies a study's cohort, read leniently (a broken sibling still counts)."""

    path: Path
    study_id: str
    year: int
    keys: tuple[tuple[str, str, tuple], ...]  # (what, normalised value, field path)
    declared: frozenset[str]

    @property
    def order(self) -> tuple:
        return (self.year, self.study_id, str(self.path))


def cohort_of(path: Path, data: Any) -> Cohort | None:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None
    keys: list[tuple[str, str, tuple]] = []
    citation = data.get("citation") if isinstance(data.get("citation"), dict) else {}
    year = citation.get("year") if isinstance(citation.get("year"), int) else 0
    if isinstance(citation.get("doi"), str):
        keys.append(("DOI", citation["doi"].strip().lower(), ("citation", "doi")))
    regs = data.get("registrations")
    for i, reg in enumerate(regs if isinstance(regs, list) else []):
        if isinstance(reg, str) and reg.strip():
            keys.append(("trial registration", reg.strip().upper(), ("registrations", i)))
    srcs = data.get("sources")
    for i, src in enumerate(srcs if isinstance(srcs, list) else []):
        if isinstance(src, dict) and isinstance(src.get("sha256"), str):
            keys.append(("source document", src["sha256"], ("sources", i, "sha256")))
    ovl = data.get("overlaps")
    declared = frozenset(o["study"] for o in (ovl if isinstance(ovl, list) else [])
                         if isinstance(o, dict) and isinstance(o.get("study"), str))
    return Cohort(path, data["id"], year, tuple(keys), declared)


def sibling_cohorts(folders: Iterable[Path], skip: set[Path]) -> list[Cohort]:
    """Cohorts of the other study files in ``folders`` (files that do not load are skipped)."""
    out: list[Cohort] = []
    for folder in folders:
        try:
            files = sorted(p for p in folder.iterdir() if p.suffix in _EXTENSIONS)
        except OSError:
            continue
        for p in files[:MAX_SIBLINGS]:
            if p.resolve() in skip or not p.is_file():
                continue
            try:
                c = cohort_of(p, load_file(p).data)
            except (YamlInputError, OSError, RecursionError):
                continue
            if c is not None:
                out.append(c)
    return out


def check_overlaps(checked: list[tuple[Cohort, Any, str, list[Message]]],
                   siblings: list[Cohort]) -> None:
    """Append duplicate/overlap errors to the messages of each checked file.

    ``checked`` holds (cohort, located, display name, messages) for each file validated.
    """
    validated = {c.path.resolve() for c, _, _, _ in checked}
    index: dict[tuple[str, str], list[Cohort]] = {}
    everyone = [c for c, _, _, _ in checked] + siblings
    for c in everyone:
        for what, key, _ in c.keys:
            bucket = index.setdefault((what, key), [])
            if c not in bucket:
                bucket.append(c)
    ids = {c.study_id for c in everyone}
    for c, located, display, messages in checked:
        reported: set[tuple[str, str]] = set()
        for what, key, path in c.keys:
            for o in index.get((what, key), []):
                if o.path == c.path or (o.study_id, what) in reported:
                    continue
                if o.study_id in c.declared or c.study_id in o.declared:
                    continue
                if o.path.resolve() in validated and o.order > c.order:
                    continue  # both validated: the later report carries the error
                if o.study_id == c.study_id:
                    msg = f"study id '{clip(c.study_id, 40)}' is also used by {clip(o.path, 120)}"
                else:
                    shown = key if len(key) <= 20 else key[:20] + "…"
                    msg = (f"shares its {what} ({clip(shown, 30)}) with {clip(o.path.name, 60)} "
                           f"(study '{clip(o.study_id, 40)}'); if both report one cohort, "
                           f"declare it under 'overlaps' so it is never counted twice")
                line, col = located.where(path)
                messages.append(Message(display, line, col, ERROR, dotted(path, located.data),
                                        msg))
                reported.add((o.study_id, what))
        ovl = located.data.get("overlaps") if isinstance(located.data, dict) else None
        for i, o in enumerate(ovl if isinstance(ovl, list) else []):
            other = o.get("study") if isinstance(o, dict) else None
            if isinstance(other, str) and other != c.study_id and other not in ids:
                path = ("overlaps", i, "study")
                line, col = located.where(path)
                messages.append(Message(
                    display, line, col, WARNING, dotted(path, located.data),
                    f"'{clip(other, 40)}' is not a study in {clip(c.path.parent, 80)}; the "
                    f"overlap cannot be resolved until its file is added"))
