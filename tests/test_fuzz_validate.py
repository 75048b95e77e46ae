"""Fuzzing `validate` with a seeded mutator (tests/fuzz_mutator.py): a few hundred mutated
study files; none may raise, print an internal error or a message without file:line:col
(or over several lines), or take more than a bounded time. benchmarks/fuzz_validate.py
runs thousands."""

from __future__ import annotations

import random

import pytest

from fuzz_mutator import BASE, check_one, mutate, run


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_mutated_study_files_never_crash_validate(tmp_path, seed):
    problems = run(100, seed, tmp_path, time_limit=10.0)
    assert problems == []


def test_the_mutator_is_deterministic_and_does_mutate():
    text = BASE.read_text()
    a = [mutate(text, random.Random(5)) for _ in range(3)]
    b = [mutate(text, random.Random(5)) for _ in range(3)]
    assert a == b
    assert all(x != text.encode() for x in a)


def test_the_checker_catches_a_bad_message(tmp_path, monkeypatch):
    """The oracle can fail: a message without a position is reported."""
    import extract.validate as v

    class Fake:
        messages = ["no position here"]

    monkeypatch.setattr(v, "validate_paths", lambda *a, **k: Fake())
    p = tmp_path / "x.yaml"
    p.write_text("a: 1\n")
    assert check_one(p, None, 10).startswith("message without file:line:col")
