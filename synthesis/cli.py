"""The `carsynth` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_INVALID = 1  # the user's data did not validate
EXIT_USAGE = 2  # the command or its input file was not usable
EXIT_INTERNAL = 70


class UsageError(Exception):
    """Bad command-line input: printed as one line on stderr, exit 2."""


def _cmd_validate(args: argparse.Namespace) -> int:
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


def _cmd_schema(args: argparse.Namespace) -> int:
    from extract.schema import json_schema

    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carsynth",
        description="Evidence synthesis from structured study extractions.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check study files (default: studies/)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="study files or folders")
    p.add_argument("--sources", metavar="DIR",
                   help="folder holding the source documents (default: $CARSYNTH_SOURCES, "
                        "else sources/ beside studies/)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("schema", help="print the study file format as JSON Schema")
    p.set_defaults(func=_cmd_schema)

    from extract import paper

    from . import build, het_report, pool_cli

    paper.add_parsers(sub)

    build.add_parser(sub)
    het_report.add_parser(sub)
    pool_cli.add_parser(sub)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"carsynth {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("carsynth: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # never a traceback for the user, unless asked for
        if os.environ.get("CARSYNTH_DEBUG"):
            raise
        print(
            f"carsynth {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in carsynth; rerun with CARSYNTH_DEBUG=1 for details.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
