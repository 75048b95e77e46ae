"""What the number detector (extract.detect) finds in a paper: typed hits with their spans.

Values are kept as printed (strings), so a check can work at the printed precision.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ratio:
    measure: str            # HR, OR or RR (RR also for relative risk)
    estimate: str
    lower: str
    upper: str
    level: float
    start: int
    end: int
    p_op: str | None = None
    p: str | None = None
    table: bool = False     # a bare cell under a ratio header
    p_span: tuple[int, int] | None = None  # where its p is printed

    kind = "ratio"


@dataclass(frozen=True)
class Count:
    events: int
    total: int | None
    percent: str | None
    form: str               # "n/N (x%)", "x% (n/N)", "n (x%)", "x% (n=k)", "n (x)", "n of N"
    start: int
    end: int

    kind = "count"


@dataclass(frozen=True)
class PValue:
    op: str                 # "=", "<", ">", "<=", ">="
    value: str
    start: int
    end: int
    threshold: bool = False  # "p < 0.05 was considered significant": a rule, not a result
    listed: bool = False     # a later value of "p = a and b, respectively"

    kind = "p"


@dataclass(frozen=True)
class Size:
    n: int
    start: int
    end: int

    kind = "size"


@dataclass(frozen=True)
class Rate:
    rate: str
    se: str
    start: int
    end: int

    kind = "rate"


Hit = Ratio | Count | PValue | Size | Rate
