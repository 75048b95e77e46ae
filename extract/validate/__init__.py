"""`carsynth validate`: check study files against the format, arithmetic, papers and each other.

Every problem in a file is reported at once, one line each, as
``file:line:col: error|warning: field.path: message``.

Modules: :mod:`.messages` (the message line, clipping, did-you-mean), :mod:`.explain`
(pydantic errors in words), :mod:`.checker` (one file), :mod:`.records` (arithmetic),
:mod:`.provenance` (sources and quotes), :mod:`.overlaps` (files against each other).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..schema import Study
from ..sources import default_folders
from ..yamlio import Located, YamlInputError, load_file
from .checker import StudyChecker
from .explain import explain, found, strip_tags
from .messages import ERROR, WARNING, Message, clip, did_you_mean, dotted, one_line
from .overlaps import check_overlaps, cohort_of, sibling_cohorts

__all__ = [
    "ERROR", "WARNING", "FileResult", "Message", "Report", "clip", "did_you_mean", "dotted",
    "explain", "found", "one_line", "strip_tags", "study_files", "validate_file",
    "validate_paths",
]


@dataclass
class FileResult:
    path: Path
    located: Located | None = None
    study: Study | None = None
    messages: list[Message] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(m.severity == ERROR for m in self.messages)


@dataclass
class Report:
    files: list[FileResult]

    @property
    def messages(self) -> list[Message]:
        out = [m for f in self.files for m in f.messages]
        return sorted(out, key=lambda m: (m.file, m.line, m.col, m.severity, m.message))

    @property
    def errors(self) -> int:
        return sum(m.severity == ERROR for m in self.messages)

    @property
    def warnings(self) -> int:
        return sum(m.severity == WARNING for m in self.messages)

    @property
    def ok(self) -> bool:
        return self.errors == 0

    @property
    def studies(self) -> list[Study]:
        return [f.study for f in self.files if f.study is not None]


def study_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(x for x in p.iterdir() if x.suffix in (".yaml", ".yml")))
        else:
            out.append(p)
    return out


def _folders(sources: Path | Sequence[Path] | None) -> list[Path] | None:
    if sources is None:
        return None
    if isinstance(sources, (str, Path)):
        return [Path(sources)]
    return [Path(s) for s in sources]


def validate_file(path: Path, sources: Path | Sequence[Path] | None,
                  display: str | None = None) -> FileResult:
    """Check one file on its own (no comparison with other files)."""
    display = display or str(path)
    folders = _folders(sources) or []
    result = FileResult(path=path)
    try:
        located = load_file(path)
    except YamlInputError as exc:
        result.messages.append(Message(display, exc.line, exc.col, ERROR, "", exc.message))
        return result
    result.located = located
    checker = StudyChecker(path, display, located, folders)
    try:
        study = checker.schema()
        if study is not None:
            checker.check_study(study)
            result.study = study
        else:
            for i, rec in checker.partial_records():
                checker.check_record(i, rec, None, None, {})
    except RecursionError:
        checker.add(ERROR, (), "the file nests too deeply to check")
    result.messages.extend(checker.finish())
    return result


def validate_paths(paths: list[Path], sources: Path | Sequence[Path] | None = None) -> Report:
    """Validate study files (or folders of them), each also against its folder's other studies.

    ``sources`` is a sources folder or a list of them; by default $CARSYNTH_SOURCES, else
    ``sources/`` beside the studies folder.
    """
    files = study_files(paths)
    folders = _folders(sources)
    if folders is None:
        folders = default_folders(paths)
    results = [validate_file(p, folders) for p in files]
    checked = []
    for r in results:
        if r.located is None:
            continue
        c = cohort_of(r.path, r.located.data)
        if c is not None:
            checked.append((c, r.located, str(r.path), r.messages))
    skip = {r.path.resolve() for r in results}
    siblings = sibling_cohorts(sorted({p.parent for p in files}), skip)
    check_overlaps(checked, siblings)
    return Report(files=results)
