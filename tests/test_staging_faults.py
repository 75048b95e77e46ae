"""The fault-injection harness (tests/faults/) in CI: after a kill before any rename (and
before a sample of other steps), a full disk or a read-only sub-folder, the output folder is
the whole old version or the whole new one, a rebuild gives the new one exactly, and
reverting the inputs gives the old one exactly. Before the staging swap, 9 in 10 kills left a
mix that later builds called "unchanged".

The full run (every 10th step, or every step) is `python tests/faults/harness.py`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "faults"))
import harness  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the harness kills with SIGKILL and mounts a tmpfs (Linux)")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return harness.Bench(tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="module")
def steps(bench):
    return bench.steps()


def _check(t: harness.Trial) -> None:
    assert t.ok, harness._row(t)


def test_kill_before_every_rename(bench, steps):
    renames = [i for i, ev in enumerate(steps, 1) if ev in ("os.rename", "carsynth.rename")]
    assert renames, "the build swapped nothing in"
    for i in renames:
        _check(bench.kill(i, steps[i - 1]))


def test_kill_while_staging_and_while_removing_the_old_folder(bench, steps):
    swap = next(i for i, ev in enumerate(steps, 1) if ev in ("os.rename", "carsynth.rename"))
    picks = {swap // 2, min(swap + 1, len(steps))}  # mid-staging; deleting the old folder
    for i in sorted(picks):
        t = bench.kill(i, steps[i - 1], rebuild=(i == swap + 1))
        _check(t)


def test_full_disk(bench):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        trials = harness.tmpfs_trials(bench)
    except PermissionError as exc:
        pytest.skip(str(exc))
    for t in trials:
        _check(t)
        assert t.returncode == 74 and "no space left" in t.message, harness._row(t)
        assert t.leftovers == []


def test_read_only_sub_folder(bench):
    try:
        t = harness.readonly_trial(bench)
    except PermissionError as exc:
        pytest.skip(str(exc))
    _check(t)
    assert t.after_rebuild == "new"
