"""One error base class: every error a user can cause carries its exit code, and cli.main
reports it in one place (no traceback, no 'internal error')."""

from __future__ import annotations

import pytest

from synthesis import cli
from synthesis.cli import pool as pool_cli
from synthesis.errors import (EXIT_ENVIRONMENT, EXIT_INVALID, EXIT_USAGE, BuildError,
                              CarsynthError, UsageError)


def test_user_errors_share_the_base_class_and_carry_exit_codes():
    from synthesis.api import InputError
    from synthesis.plan import PlanError
    from synthesis.report.hetreport import HetInputError
    from synthesis.report.outpath import OutputError

    expected = {UsageError: EXIT_USAGE, BuildError: EXIT_INVALID, PlanError: EXIT_INVALID,
                InputError: EXIT_USAGE, HetInputError: EXIT_USAGE,
                OutputError: EXIT_ENVIRONMENT}
    for cls, code in expected.items():
        assert issubclass(cls, CarsynthError), cls
        assert cls.exit_code == code, cls
    assert issubclass(InputError, ValueError)  # the Python API's contract is unchanged


def test_extract_and_engine_errors_share_the_base_class():
    """The reading layer's errors (study YAML, source documents, source names, drafts), the
    GLMM's and pool's CSV errors are user errors too: main reports them, never as a bug."""
    from extract.draft import NotAPaper
    from extract.sources import SourceRefused
    from extract.text import SourceError
    from extract.yamlio import YamlInputError
    from synthesis.glmm import GlmmError

    expected = {YamlInputError: EXIT_INVALID, SourceRefused: EXIT_INVALID,
                SourceError: EXIT_USAGE, NotAPaper: EXIT_USAGE, GlmmError: EXIT_INVALID}
    for cls, code in expected.items():
        assert issubclass(cls, CarsynthError), cls
        assert cls.exit_code == code, cls
    assert issubclass(GlmmError, ValueError) and issubclass(NotAPaper, ValueError)


def test_a_pool_csv_error_escaping_its_handler_is_reported_by_main(monkeypatch, capsys):
    err = pool_cli._DataError("my.csv:3: column 'yi' appears twice in the header")
    monkeypatch.setattr(pool_cli, "run", _raising(err))
    assert cli.main(["pool", "my.csv", "--measure", "GEN"]) == EXIT_USAGE
    assert capsys.readouterr().err == "carsynth pool: my.csv:3: column 'yi' appears twice in the header\n"


def _raising(exc):
    def handler(args):
        raise exc
    return handler


@pytest.mark.parametrize("exc, code, err", [
    (UsageError("--level must be between 0 and 1"), 2, "carsynth pool: --level must be between 0 and 1\n"),
    (BuildError(["studies/a.yaml:3:1: error: x", "build stopped"]), 1,
     "studies/a.yaml:3:1: error: x\nbuild stopped\n"),
])
def test_main_prints_the_lines_and_returns_the_code(monkeypatch, capsys, exc, code, err):
    monkeypatch.setattr(pool_cli, "run", _raising(exc))
    assert cli.main(["pool", "x.csv", "--measure", "GEN"]) == code
    assert capsys.readouterr().err == err


def test_a_bug_is_an_internal_error_with_exit_70(monkeypatch, capsys):
    monkeypatch.setattr(pool_cli, "run", _raising(ZeroDivisionError("oops")))
    monkeypatch.delenv("CARSYNTH_DEBUG", raising=False)
    assert cli.main(["pool", "x.csv", "--measure", "GEN"]) == 70
    assert "internal error: ZeroDivisionError: oops" in capsys.readouterr().err
