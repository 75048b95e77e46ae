"""Coded warnings: programs filter on codes, never on message text."""

from __future__ import annotations

import pickle

import pandas as pd

import synthesis
from synthesis import codes
from synthesis.codes import Note, code_of


def _pool(k: int, **kw):
    df = pd.DataFrame({"study": [f"S{i}" for i in range(k)],
                       "yi": [0.1, 0.5, 0.3, 0.2, 0.4][:k], "vi": [0.04, 0.05, 0.03, 0.06, 0.02][:k]})
    return synthesis.pool(df, measure="GEN", method="REML", **kw)


def test_pool_warnings_carry_codes():
    assert [code_of(w) for w in _pool(1).warnings] == [codes.SINGLE_STUDY]
    assert [code_of(w) for w in _pool(2).warnings] == [codes.TWO_STUDIES]
    assert [code_of(w) for w in _pool(3).warnings] == [codes.FEW_STUDIES]
    assert _pool(5).warnings == []


def test_note_is_its_message_in_json_and_survives_pickling():
    n = Note(codes.TWO_STUDIES, "k = 2: only two studies")
    assert n == "k = 2: only two studies" and n.message == str(n)
    back = pickle.loads(pickle.dumps(n))  # the build renders in worker processes
    assert back.code == codes.TWO_STUDIES and back == n
    assert code_of("plain text") is None


def test_forest_caution_lines_follow_codes_not_wording():
    from synthesis.report.forest_layout import caution_lines

    res = _pool(2)
    assert caution_lines(res.warnings) == ["Caution: " + res.warnings[0]]
    reworded = [Note(codes.TWO_STUDIES, "two cohorts only"), Note(codes.STUDIES_EXCLUDED, "k = 2")]
    assert caution_lines(reworded) == ["Caution: two cohorts only"]
