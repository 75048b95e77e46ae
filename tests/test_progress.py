"""The progress line: on a terminal only, after a second, erased before any other output."""

from __future__ import annotations

import io
import re
import sys
import time

import pytest

from synthesis.cli import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("env, tty, shown", [
    ({}, True, True),
    ({"CI": "true"}, True, False),  # GitHub Actions, GitLab CI, ...
    ({"TERM": "dumb"}, True, False),
    ({}, False, False),  # a pipe or a file
])
def test_shown_only_on_an_interactive_terminal(monkeypatch, env, tty, shown):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    stream = _Tty() if tty else io.StringIO()
    assert progress.wanted(stream) is shown


def test_nothing_is_drawn_before_the_delay():
    stream = _Tty()
    with progress.Progress("building", total=3, stream=stream, delay=10, enabled=True) as p:
        p.update(1, "gc_cr")
    assert stream.getvalue() == ""


def test_bar_is_drawn_then_erased():
    stream = _Tty()
    with progress.Progress("building", total=4, stream=stream, delay=0, enabled=True,
                           interval=0.01) as p:
        p.update(2, "crs_any_incidence")
        time.sleep(0.1)
    out = stream.getvalue()
    assert "\rbuilding [############            ] 2/4 crs_any_incidence\x1b[K" in out
    assert out.endswith("\r\x1b[K")  # the line is left empty for what follows


def test_spinner_stops_at_the_commands_first_output(monkeypatch):
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    with progress.spinner("carsynth validate", delay=0, enabled=True) as p:
        p.interval = 0.01
        time.sleep(0.1)
        print("3 study files checked")
        drawn = err.getvalue()
        time.sleep(0.05)
        assert err.getvalue() == drawn  # no redraw after the output began
    assert re.search(r"\rcarsynth validate [|/\\-] 0 s\x1b\[K", drawn)
    assert drawn.endswith("\r\x1b[K")
    assert sys.stdout.getvalue() == "3 study files checked\n"
