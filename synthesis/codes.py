"""Coded warnings and notes: a stable code that programs filter on, and a message for people.

A :class:`Note` is a ``str`` (its message), so it prints, joins and serialises
as before; ``note.code`` says what it is. Filter on codes, never on message
text: rewording a message must not change what a plot or table shows.
"""

from __future__ import annotations

from typing import Any

# -- pooled results (synthesis.results.PoolResult.warnings) --------------------------
NOTHING_POOLED = "nothing-pooled"  # k = 0
SINGLE_STUDY = "single-study"  # k = 1: the study's own estimate, nothing pooled
TWO_STUDIES = "two-studies"  # k = 2: τ² unreliable, HKSJ with 1 df
FEW_STUDIES = "few-studies"  # 3 ≤ k < 5 random effects: τ² and I² imprecise
NOT_CONVERGED = "not-converged"  # an iterative τ² estimate did not converge
STUDIES_EXCLUDED = "studies-excluded"  # some studies have no usable effect size
DROPPED_MISSING = "dropped-missing"  # rows with missing values left out on request
FALLBACK = "fallback"  # the requested model could not be fitted; another one was
GLMM = "glmm"  # notes of a GLMM fit

#: notes a forest plot repeats under its summary lines as "Caution: ..."
CAUTIONS = frozenset({TWO_STUDIES, FEW_STUDIES, NOT_CONVERGED})


class Note(str):
    """A warning or note: the message (this string) and its ``code``."""

    code: str

    def __new__(cls, code: str, message: str) -> "Note":
        obj = super().__new__(cls, message)
        obj.code = code
        return obj

    def __getnewargs__(self) -> tuple[str, str]:  # pickling (the build's worker processes)
        return self.code, str.__str__(self)

    @property
    def message(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"Note({self.code!r}, {self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


def code_of(note: str) -> str | None:
    """The code of a note (None for a plain string)."""
    return getattr(note, "code", None)
