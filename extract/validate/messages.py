"""Messages of `carsynth validate` and of the review plan: one line each, at a file:line:col.

Everything a user typed that is echoed back is made printable on one line (control
characters escaped) and clipped to about 80 characters, so a hostile or broken file can
neither split a message over lines nor flood the terminal.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Iterable

ERROR = "error"
WARNING = "warning"

CLIP = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with control characters (newline, NUL, ...) written as escapes."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1] if m.group() != "\x00" else "\\0", text)


def clip(text: Any, n: int = CLIP) -> str:
    """One printable line of at most ``n`` characters (whitespace runs collapsed)."""
    text = one_line(" ".join(str(text).split()) if "\n" in str(text) or "\t" in str(text)
                    else str(text))
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass(frozen=True)
class Message:
    file: str
    line: int
    col: int
    severity: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{clip(self.path, 120)}: " if self.path else ""
        return (f"{one_line(self.file)}:{self.line}:{self.col}: {self.severity}: "
                f"{where}{one_line(self.message)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dotted(path: Iterable[Any], data: Any = None) -> str:
    """'records[2](icans_any).percent': list indices, with the item's id when it has one."""
    out = ""
    node = data
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                out += f"({clip(item['id'], 40)})"
            node = item
        else:
            out += ("." if out else "") + clip(part, 40)
            node = node.get(part) if isinstance(node, dict) else None
    return out


# --- did you mean ------------------------------------------------------------------

_MAX_WORD = 40  # longer "words" get no suggestion: nobody mistypes 40 characters
_DIGITS = re.compile(r"\d+")


def _norm(word: str) -> str:
    return re.sub(r"[\s\-]+", "_", word.strip().lower())


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment edit distance, giving up (limit + 1) once it exceeds ``limit``.

    Damerau (1964) / Levenshtein (1966) with adjacent transpositions; O(len(a)·len(b)),
    both at most 40 characters here.
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@lru_cache(maxsize=4096)
def _suggest(word: str, options: tuple[str, ...]) -> str | None:
    if not word or len(word) > _MAX_WORD:
        return None
    w = _norm(word)
    # a spelling fix never changes a number: crs_grade4 is not a typo of crs_grade3plus
    digits = _DIGITS.findall(w)
    limit = 0 if len(w) <= 4 else (1 if len(w) <= 8 else 2)
    best: tuple[int, str] | None = None
    for opt in options:
        o = _norm(opt)
        if o == w:
            return opt  # case or separator
        if _DIGITS.findall(o) != digits or limit == 0:
            continue
        d = _distance(w, o, limit)
        if d <= limit and (best is None or (d, opt) < best):
            best = (d, opt)
    return best[1] if best else None


def did_you_mean(word: Any, options: Iterable[str], loose: bool = False) -> str:
    """' (did you mean 'x'?)' for a plain misspelling of one option, else ''.

    ``loose`` is for names the user made up (group ids, file names): any close match
    (difflib ratio >= 0.6) among at most 200 options.

    Only case, separators and one or two typed letters are corrected (one for words up to
    8 letters, none for words up to 4): a suggestion must never turn one outcome, grade or
    exposure into another (``dfs`` is not ``efs``; ``crs_grade4`` is not ``crs_grade3plus``).
    The cost is linear in the number of options, and results are cached.
    """
    if not isinstance(word, str):
        return ""
    if loose:
        if len(word) > 2 * _MAX_WORD:
            return ""
        close = difflib.get_close_matches(word, sorted(set(options))[:200], n=1, cutoff=0.6)
        return f" (did you mean '{clip(close[0], 60)}'?)" if close else ""
    hit = _suggest(word, tuple(sorted(set(options) - {word})))
    return f" (did you mean '{hit}'?)" if hit else ""
