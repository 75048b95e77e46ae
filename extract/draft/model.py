"""What a draft proposes: records (with their quotes) and groups."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Proposal:
    kind: str
    fields: dict           # the record's fields (values as printed where they are numbers)
    quotes: list[tuple[str, int, str]]   # (text, page, location)
    key: tuple
    score: float = 0.0


@dataclass
class GroupProposal:
    id: str
    label: str
    n: int
    exposure: str
    exposed: bool
    quote: tuple[str, int, str]
