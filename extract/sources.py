"""Source documents: where they are looked up, and `carsynth source add`.

A study names each source by a path relative to one of the review's sources folders
(``sources:`` in the plan, a folder or a list of folders; ``--sources``; or
``$CARSYNTH_SOURCES``). A name never leads out of those folders: absolute paths, ``..``
and symbolic links pointing elsewhere are refused, so a study file cannot read (or
fingerprint through its sha256) any other file on the machine.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from synthesis.errors import CarsynthError

from .text import sha256_of


class SourceRefused(CarsynthError):
    """A source name that would lead outside the sources folders; the message says why."""


class SourceEscapes(SourceRefused):
    """A relative name that resolves outside its sources folder (through a symbolic link)."""


_DRIVE = re.compile(r"^[A-Za-z]:")


def check_name(name: str) -> PurePosixPath:
    """The name as a relative path, or :class:`SourceRefused` saying what is wrong with it."""
    if "\x00" in name:
        raise SourceRefused("a source file name cannot contain a NUL byte")
    if name.startswith(("/", "\\", "~")) or _DRIVE.match(name):
        raise SourceRefused("absolute paths are not allowed; name the file relative to a "
                            "sources folder")
    rel = PurePosixPath(name.replace("\\", "/"))
    if ".." in rel.parts:
        raise SourceRefused("'..' is not allowed; name the file relative to a sources folder")
    return rel


def resolve(name: str, folders: Sequence[Path]) -> Path | None:
    """The file ``name`` inside the first sources folder that has it; None when none has it.

    Raises :class:`SourceRefused` for a name leading outside the folder, and its subclass
    :class:`SourceEscapes` for a symbolic link that does.
    """
    rel = check_name(name)
    for folder in folders:
        try:
            base = folder.resolve(strict=True)
            real = (base / rel).resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if not real.is_relative_to(base):
            raise SourceEscapes(f"'{name}' leads outside the sources folder {folder} "
                                f"(a symbolic link?); copy the file into the folder")
        if real.is_file():
            return real
    return None


def default_folders(study_paths: Sequence[Path]) -> list[Path]:
    """Sources folders when neither the plan nor --sources names one."""
    env = os.environ.get("CARSYNTH_SOURCES")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    for p in study_paths:
        base = p if p.is_dir() else p.parent
        candidate = base.parent / "sources"
        if candidate.is_dir():
            return [candidate]
    return []


# --- carsynth source add ------------------------------------------------------------------


@dataclass(frozen=True)
class NewSource:
    file: str  # as written into the study: relative to its sources folder
    sha256: str
    kind: str


def detect_kind(path: Path, abstract: bool = False) -> str:
    """'pdf' by its magic bytes, else 'text' (or 'abstract' when asked)."""
    with path.open("rb") as fh:
        head = fh.read(5)
    if head == b"%PDF-":
        return "pdf"
    return "abstract" if abstract else "text"


def describe(file: Path, folders: Sequence[Path], abstract: bool = False) -> NewSource:
    """The study-file entry for ``file``, which must lie inside one of ``folders``."""
    real = file.resolve()
    if not real.is_file():
        raise SourceRefused(f"{file}: no such file")
    for folder in folders:
        base = folder.resolve()
        if real.is_relative_to(base):
            rel = real.relative_to(base).as_posix()
            return NewSource(rel, sha256_of(real), detect_kind(real, abstract))
    where = ", ".join(str(f) for f in folders) or "(none configured)"
    raise SourceRefused(f"{file} is not inside a sources folder ({where}); copy it there "
                        f"first, or name the folder with --sources")


def _entry_lines(src: NewSource, indent: str) -> list[str]:
    def q(text: str) -> str:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", text) and text.lower() not in (
                "null", "true", "false", "yes", "no", "on", "off", "y", "n"):
            return text
        return "'" + text.replace("'", "''") + "'"
    return [f"{indent}- file: {q(src.file)}\n",
            f"{indent}  sha256: {src.sha256}\n",
            f"{indent}  kind: {src.kind}\n"]


def append_sources(text: str, new: Sequence[NewSource]) -> str:
    """``text`` (a study file) with ``new`` appended to its top-level ``sources:`` list.

    A line edit: every other byte of the file stays as it was (comments, quoting, order).
    The list must be written in block style (``- file: ...`` lines), as carsynth writes it.
    """
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if re.match(r"sources:\s*(#.*)?$", l.rstrip("\r\n"))), None)
    if start is None:
        if any(l.startswith("sources:") for l in lines):
            raise SourceRefused("the study's 'sources:' is not a block list ('- file: ...' "
                                "lines); add the entry by hand")
        out = text if text.endswith("\n") or not text else text + "\n"
        return out + "sources:\n" + "".join(l for s in new for l in _entry_lines(s, "  "))
    end = start + 1
    indent = None
    last_item_end = start + 1
    while end < len(lines):
        raw = lines[end].rstrip("\r\n")
        if raw.strip() == "" or raw.lstrip().startswith("#"):
            end += 1
            continue
        if not raw.startswith((" ", "-")):
            break  # the next top-level key
        if indent is None:
            indent = raw[: len(raw) - len(raw.lstrip())]
            if not raw.lstrip().startswith("- "):
                raise SourceRefused("the study's 'sources:' is not a block list")
        end += 1
        last_item_end = end
    indent = indent if indent is not None else "  "
    eol = "\r\n" if lines[start].endswith("\r\n") else "\n"
    added = [l.replace("\n", eol) for s in new for l in _entry_lines(s, indent)]
    if last_item_end > 0 and not lines[last_item_end - 1].endswith("\n"):
        lines[last_item_end - 1] += eol
    return "".join(lines[:last_item_end] + added + lines[last_item_end:])
