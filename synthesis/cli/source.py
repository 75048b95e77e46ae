"""`carsynth source add ID FILE...`: list source documents in a study file.

Computes each file's sha256, detects its kind (pdf by its magic bytes, else text) and
appends the entries to the study's ``sources:`` list with a line edit: every other byte of
the study file stays as it was. The file is replaced atomically.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from extract.sources import NewSource, SourceRefused, append_sources, describe
from extract.yamlio import YamlInputError, load_yaml, read_text

from ..errors import EXIT_OK, UsageError
from .validate import plan_here


def _study_file(study: str, studies_dir: Path) -> Path:
    if study.endswith((".yaml", ".yml")):
        return Path(study)
    return studies_dir / f"{study}.yaml"


def _copy_in(file: Path, folder: Path) -> Path:
    target = folder / file.name
    if target.exists():
        if target.read_bytes() != file.read_bytes():
            raise UsageError(f"{target} exists and differs from {file}; rename one of them")
        return target
    shutil.copyfile(file, target)
    return target


def _write_atomic(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_source_add(args: argparse.Namespace) -> int:
    plan, root = plan_here(args.plan)
    if args.sources:
        folders = [Path(s) for s in args.sources]
    elif plan is not None and root is not None:
        folders = plan.source_folders(root)
    else:
        folders = [Path("sources")]
    for f in folders:
        if not f.is_dir():
            raise UsageError(f"sources folder {f} does not exist; create it or pass --sources DIR")
    studies_dir = plan.studies_folder(root) if plan is not None and root is not None else Path("studies")
    path = _study_file(args.study, studies_dir)
    if not path.is_file():
        raise UsageError(f"{path}: no such study file (write it first, e.g. with carsynth new)")
    try:
        text = read_text(path)
        before = load_yaml(text).data
    except YamlInputError as exc:
        raise UsageError(f"{path}:{exc.line}:{exc.col}: {exc.message}") from None
    listed = {s.get("file"): s.get("sha256") for s in (before.get("sources") or [])
              if isinstance(s, dict)}
    new: list[NewSource] = []
    for name in args.files:
        file = Path(name)
        if not file.is_file():
            raise UsageError(f"{file}: no such file")
        if args.copy and not any(file.resolve().is_relative_to(f.resolve()) for f in folders):
            file = _copy_in(file, folders[0])
        try:
            src = describe(file, folders, abstract=args.abstract)
        except SourceRefused as exc:
            raise UsageError(f"{exc}{'' if args.copy else ' (or pass --copy)'}") from None
        if src.file in listed or any(n.file == src.file for n in new):
            if listed.get(src.file) not in (None, src.sha256):
                raise UsageError(f"{path}: '{src.file}' is listed with another sha256; the file "
                                 f"changed since it was added")
            print(f"{src.file}: already listed in {path}")
            continue
        new.append(src)
    if not new:
        return EXIT_OK
    try:
        updated = append_sources(text, new)
        after = load_yaml(updated).data
    except (SourceRefused, YamlInputError) as exc:
        raise UsageError(f"{path}: {getattr(exc, 'message', exc)}") from None
    if len(after.get("sources") or []) != len(before.get("sources") or []) + len(new):
        raise UsageError(f"{path}: could not append to its sources: list; add the entries by hand")
    _write_atomic(path, updated)
    for s in new:
        print(f"{path}: added source {s.file} ({s.kind}, sha256 {s.sha256[:12]}…)")
    return EXIT_OK


def add_parser(sub) -> None:
    p = sub.add_parser("source", help="manage a study's source documents",
                       description="Manage the source documents a study file names.")
    ssub = p.add_subparsers(dest="source_command", metavar="ACTION", required=True)
    a = ssub.add_parser(
        "add", help="append files to a study's sources: (sha256 and kind computed)",
        description="Append FILEs to the sources: list of study ID, with their sha256 and kind "
                    "(pdf, text or abstract). The rest of the study file is left byte for byte "
                    "as it was. Each FILE must lie inside a sources folder (or pass --copy).")
    a.add_argument("study", metavar="ID",
                   help="study id (its file is in the plan's studies folder) or a study file path")
    a.add_argument("files", nargs="+", metavar="FILE", help="source documents to add")
    a.add_argument("--sources", metavar="DIR", action="append",
                   help="sources folder; repeat for several (default: the plan's sources:)")
    a.add_argument("--copy", action="store_true",
                   help="copy a FILE outside the sources folders into the first one")
    a.add_argument("--abstract", action="store_true",
                   help="text files are conference abstracts (kind: abstract)")
    a.add_argument("--plan", metavar="FILE",
                   help="the review plan (default: review.yaml here or in the nearest folder above)")
    a.set_defaults(func=cmd_source_add)
