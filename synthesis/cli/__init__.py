"""The `carsynth` command line: one handler module per command, errors handled here once."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, CarsynthError
from ..report.outpath import ENVIRONMENT_ERRNOS, describe_os_error
from .progress import spinner

__all__ = ["build_parser", "main"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("carsynth")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    from extract import paper

    from . import build, heterogeneity, pool, source, validate

    parser = argparse.ArgumentParser(
        prog="carsynth",
        description="Evidence synthesis from structured study extractions.",
    )
    parser.add_argument("--version", action="version", version=f"carsynth {_version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    validate.add_parsers(sub)
    source.add_parser(sub)
    paper.add_parsers(sub)
    build.add_parser(sub)
    heterogeneity.add_parser(sub)
    pool.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = argparse.Namespace(command=None)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        if getattr(args, "own_progress", False):
            return int(args.func(args))
        with spinner(f"carsynth {args.command}"):  # on a terminal, after a silent second
            return int(args.func(args))
    except CarsynthError as exc:  # the user's input or the machine, not carsynth: say what
        prefix = f"carsynth {args.command}: " if exc.prefixed and args.command else ""
        for line in exc.lines:
            print(prefix + line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("carsynth: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # never a traceback for the user, unless asked for
        if os.environ.get("CARSYNTH_DEBUG"):
            raise
        if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:  # disk full, no access
            print(f"carsynth {args.command}: {describe_os_error(exc, exc.filename or '.')}",
                  file=sys.stderr)
            return EXIT_ENVIRONMENT
        print(
            f"carsynth{' ' + args.command if args.command else ''}: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in carsynth; rerun with CARSYNTH_DEBUG=1 for details.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
