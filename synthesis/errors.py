"""The one error base class and the exit codes of the command line.

Every error a user (or the machine) can cause derives from
:class:`CarsynthError`: it carries the lines to print and the exit code, and
``synthesis.cli.main`` turns it into stderr output and that code in one place.
Anything else that escapes a command is a bug ("internal error", exit 70).

This module imports nothing, so any layer (``extract`` included) may use it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1  # the user's data (study files, review plan) did not validate
EXIT_USAGE = 2  # the command or its input file was not usable
EXIT_INTERNAL = 70  # a bug in carsynth (sysexits EX_SOFTWARE)
EXIT_ENVIRONMENT = 74  # the machine, not the data, stopped the command (sysexits EX_IOERR)


class CarsynthError(Exception):
    """An error to report to the user, not a bug.

    ``lines`` are printed to stderr, each prefixed with ``carsynth COMMAND:``
    when ``prefixed`` (a bare message), as they are otherwise (messages that
    already start with their file:line). ``exit_code`` is the process's.
    """

    exit_code: int = EXIT_INVALID
    prefixed: bool = True

    @property
    def lines(self) -> list[str]:
        return str(self).splitlines() or [type(self).__name__]


class UsageError(CarsynthError):
    """Bad command-line input: printed as one line on stderr, exit 2."""

    exit_code = EXIT_USAGE


class BuildError(CarsynthError):
    """The build cannot run; carries the messages to print (exit 1)."""

    prefixed = False

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self._lines = list(lines)

    @property
    def lines(self) -> list[str]:
        return self._lines
