"""Errors a user can cause, and the exit codes the command line returns for them."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1  # the user's data did not validate
EXIT_USAGE = 2  # the command or its input file was not usable
EXIT_INTERNAL = 70


class UsageError(Exception):
    """Bad command-line input: printed as one line on stderr, exit 2."""


class BuildError(Exception):
    """The build cannot run; carries the messages to print (exit 1)."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines
