"""`carsynth validate` and `carsynth schema`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import EXIT_INVALID, EXIT_OK, UsageError


def cmd_validate(args: argparse.Namespace) -> int:
    from extract.validate import validate_paths

    paths = [Path(p) for p in (args.paths or ["studies"])]
    for p in paths:
        if not p.exists():
            raise UsageError(f"{p}: no such file or directory")
    sources = Path(args.sources) if args.sources else None
    if sources is not None and not sources.is_dir():
        raise UsageError(f"--sources {sources}: not a directory")
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
    p = sub.add_parser("validate", help="check study files (default: studies/)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="study files or folders")
    p.add_argument("--sources", metavar="DIR",
                   help="folder holding the source documents (default: $CARSYNTH_SOURCES, "
                        "else sources/ beside studies/)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the study file format as JSON Schema")
    p.set_defaults(func=cmd_schema)
