"""`carsynth validate` and `carsynth schema`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import EXIT_INVALID, EXIT_OK, UsageError
from ..plan import PlanError, ReviewPlan, find_plan, load_plan


def plan_here(plan_arg: str | None) -> tuple[ReviewPlan | None, Path | None]:
    """The review plan for a command that can run without one: (plan, its folder) or (None, None).

    A plan with errors is reported on stderr and not used."""
    path = Path(plan_arg) if plan_arg else find_plan(Path.cwd())
    if path is None:
        return None, None
    if not path.is_file():
        raise UsageError(f"--plan {path}: no such file")
    try:
        return load_plan(path, check_paths=False), path.resolve().parent
    except PlanError as exc:
        for m in exc.messages:
            print(m, file=sys.stderr)
        print(f"carsynth: the plan {path} has errors; its studies and sources folders are not "
              f"used", file=sys.stderr)
        return None, None


def cmd_validate(args: argparse.Namespace) -> int:
    from extract.validate import validate_paths

    plan, root = plan_here(args.plan)
    if args.paths:
        paths = [Path(p) for p in args.paths]
    elif plan is not None and root is not None:
        paths = [plan.studies_folder(root)]
    else:
        paths = [Path("studies")]
    for p in paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or directory")
    sources: list[Path] | None = None
    if args.sources:
        sources = [Path(s) for s in args.sources]
        for s in sources:
            if not s.is_dir():
                raise UsageError(f"--sources {s}: not a directory")
    elif os.environ.get("CARSYNTH_SOURCES"):
        sources = None  # validate_paths reads it
    elif plan is not None and root is not None and plan.sources and all(
            p.resolve().is_relative_to(root) for p in paths):
        sources = plan.source_folders(root)  # the plan applies to files of its project only
    report = validate_paths(paths, sources)
    if args.json:
        out = {
            "ok": report.ok,
            "files": len(report.files),
            "errors": report.errors,
            "warnings": report.warnings,
            "messages": [m.to_dict() for m in report.messages],
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for m in report.messages:
            print(m)
        n = len(report.files)
        summary = (
            f"{n} study file{'s' if n != 1 else ''} checked: "
            f"{report.errors} error{'s' if report.errors != 1 else ''}, "
            f"{report.warnings} warning{'s' if report.warnings != 1 else ''}"
        )
        print(summary)
    return EXIT_OK if report.ok else EXIT_INVALID


def cmd_schema(args: argparse.Namespace) -> int:
    from extract.schema import json_schema

    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "validate", help="check study files against the format, their papers and each other",
        description="Check study files. Each file is also compared with every other study in "
                    "its folder (shared DOI, registration or source). Exit 1 on any error.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="study files or folders (default: the plan's studies folder, else "
                        "studies/)")
    p.add_argument("--sources", metavar="DIR", action="append",
                   help="folder holding the source documents; repeat for several (default: "
                        "$CARSYNTH_SOURCES, else the plan's sources:, else sources/ beside "
                        "studies/)")
    p.add_argument("--plan", metavar="FILE",
                   help="the review plan whose folders to use (default: review.yaml here or in "
                        "the nearest folder above)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (ok, files, errors, warnings, messages)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the study file format as JSON Schema",
                       description="Print the study file format as JSON Schema (draft 2020-12), "
                                   "for editor completion.")
    p.set_defaults(func=cmd_schema)
