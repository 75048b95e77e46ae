"""What `carsynth build` prints after it has run: the summary line, the validation warnings
grouped by study (one line each, at file:line), one line for quotes that could not be checked
against their papers, and the --strict verdict.

The study files' ``sources`` warnings (the field as a whole: no folder to look the papers up
in) are the one case folded into a single notice instead of one line per study.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

WARNING = "warning"


@dataclass(frozen=True)
class SourcesUsed:
    """Where the build looked for the papers, and who said so."""

    folders: tuple[Path, ...]  # as resolved; empty when neither the plan nor --sources names one
    shown: tuple[str, ...]  # as the user wrote them
    origin: str  # "review.yaml, sources:" or "--sources"

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(n for n, f in zip(self.shown, self.folders) if not f.is_dir())


@dataclass(frozen=True)
class Diagnostics:
    lines: tuple[str, ...]
    warnings: int  # validation warnings other than the sources notice
    unverified: int  # study files (or named folders) left unchecked for want of a sources folder

    def strict_failure(self) -> str | None:
        """The last line of a build that --strict stops, or None if there is nothing to stop on."""
        if not (self.warnings or self.unverified):
            return None
        parts = []
        if self.warnings:
            parts.append(f"{self.warnings} warning{'s' if self.warnings != 1 else ''}")
        if self.unverified:
            parts.append("an unverified sources folder")
        return (f"build stopped: {' and '.join(parts)} under --strict; previous outputs left "
                f"untouched")


def summary_line(built: int, unchanged: int, written: int, output: Path) -> str:
    noun = "analysis" if built == 1 else "analyses"
    return (f"carsynth build: {built} {noun} built, {unchanged} unchanged; "
            f"{written} files written to {output}")


def _shown(path: Path) -> Path:
    """``path`` relative to the working folder when it lies inside it, else as it is."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return Path(path)


def _rel(file: str, root: Path) -> str:
    try:
        return str(Path(file).resolve().relative_to(root.resolve()))
    except ValueError:
        return file


def diagnostics(files: list[Any], root: Path, sources: SourcesUsed) -> Diagnostics:
    """Group the validation report's warnings by study.

    ``files`` are the validation report's file results (``path``, ``study``,
    ``messages``); ``root`` the plan's folder, against which paths are shown.
    """
    from ..select import study_label

    groups: list[tuple[str, list[str]]] = []
    unverified = 0
    for fr in files:
        shown_file = _rel(str(fr.path), root)
        lines = []
        for m in fr.messages:
            if m.severity != WARNING:
                continue
            if m.path == "sources":  # no folder to check this study's papers in
                unverified += 1
                continue
            where = f"{m.path}: " if m.path else ""
            lines.append(f"    {_rel(m.file, root)}:{m.line}: {where}{m.message}")
        if lines:
            label = study_label(fr.study) if fr.study is not None else shown_file
            groups.append((f"  {label} ({shown_file})", lines))
    out: list[str] = []
    n = sum(len(lines) for _, lines in groups)
    if n:
        out.append(f"{n} warning{'s' if n != 1 else ''} in {len(groups)} study "
                   f"file{'s' if len(groups) != 1 else ''} (the build went on; --strict fails "
                   f"on them):")
        for head, lines in groups:
            out.append(head)
            out.extend(lines)
    missing = sources.missing
    if unverified or missing:
        were = "were" if unverified != 1 else "was"
        checked = (f"; {unverified} study file{'s' if unverified != 1 else ''} {were} checked "
                   f"without their papers" if unverified else "")
        if missing:
            folders = (f"the sources folder {missing[0]} ({sources.origin}) does not exist"
                       if len(missing) == 1 else
                       f"the sources folders {', '.join(missing)} ({sources.origin}) do not exist")
            out.append(f"quotes not verified: {folders}{checked}")
        else:
            out.append(f"quotes not verified: no sources folder (name one with sources: in the "
                       f"plan, --sources DIR or CARSYNTH_SOURCES){checked}")
    return Diagnostics(tuple(out), n, max(unverified, len(missing)))


class BuildFeedback:
    """Everything `carsynth build` tells the user besides errors: a progress line while it
    runs (terminal only), then the summary, the change table and the grouped warnings.

    ``with BuildFeedback(...) as fb: build(..., progress=fb.progress, on_validated=fb.validated)``
    then ``fb.report(build_report)``. Under ``strict`` any warning or unverified sources
    folder stops the build (BuildError) before anything is rendered.
    """

    def __init__(self, plan_path: Path, sources_arg: str | None, *, strict: bool, quiet: bool):
        from .progress import Progress

        self.plan_path, self.sources_arg = plan_path, sources_arg
        self.strict, self.quiet = strict, quiet
        self.bar = Progress("building", enabled=False if quiet else None)
        self.bar.update(text="checking the study files")
        self.found: Diagnostics | None = None

    def __enter__(self) -> BuildFeedback:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    def progress(self, done: int, total: int, text: str) -> None:
        self.bar.update(done, text, total=total)

    def sources(self) -> SourcesUsed:
        from ..plan import load_plan

        if self.sources_arg:
            return SourcesUsed((Path(self.sources_arg),), (self.sources_arg,), "--sources")
        plan = load_plan(self.plan_path)  # already checked by the build
        names = [plan.sources] if isinstance(plan.sources, str) else list(plan.sources or [])
        root = self.plan_path.resolve().parent
        return SourcesUsed(tuple(plan.source_folders(root)), tuple(names),
                           f"{self.plan_path.name}, sources:")

    def validated(self, validation: Any) -> None:
        from ..errors import BuildError

        self.found = diagnostics(validation.files, self.plan_path.resolve().parent,
                                 self.sources())
        stop = self.found.strict_failure() if self.strict else None
        if stop:
            self.bar.close()
            raise BuildError([*self.found.lines, stop])

    def report(self, result: Any) -> None:
        """Print the outcome of a finished build: stdout the summary and what changed,
        stderr the warnings."""
        import sys

        self.bar.close()
        if not self.quiet:
            out = _shown(result.output)
            print(summary_line(len(result.built), len(result.skipped), len(result.written), out))
            if result.changes is not None:
                from ..report.changes import terminal_table

                print(terminal_table(result.changes, str(out / "CHANGES.md")))
        for line in self.found.lines if self.found else ():
            print(line, file=sys.stderr)
