"""A seeded mutator of study files, shared by tests/test_fuzz_validate.py (a few hundred cases
in CI) and benchmarks/fuzz_validate.py (a larger run).

Each mutation is one thing a hostile user or a broken editor might do to a valid file: flip,
delete or insert bytes, NULs and control characters, huge numbers and exponents, deep
nesting, aliases and tags, duplicated or unknown keys, very long values, newlines in ids,
truncation. The check is the same everywhere: validate never raises, never says "internal
error", every message is one line starting with ``file:line:col:``, and each file takes
bounded time.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent / "broken" / "valid_minimal.yaml"

_TOKENS = [
    "1.79769e+308", "-1.79769e+308", "1e999", "0.0e-99999999", "1e-400", ".nan", ".inf",
    "-.inf", "99999999999999999999999999", "0x1F", "0o17", "1_000", "'0.45'", "true", "null",
    "~", "[]", "{}", "&a x", "*a", "!!python/object:os.system", "!custom x", "<<: {}",
    "'\x00'", "\"\\0\"", "\"a\\nb\"", "\"\\u2028\"", "---", "...", "%YAML 1.1", "? complex",
    "- - - -", "|", ">", "\"" + "x" * 5000 + "\"", "é", "\U0001F600", "\t", "\r",
    "2024-13-45", "2024-02-30", "10.1000/../x", "../../etc/passwd", "/etc/passwd", "=",
]

_NUMBERS = ["0x10", "1_0", "0o17", "+5", "1e1", ".5e1", "1.79769e+308", "1e-400",
            "0.0e-99999999", "-0", "00012", "1,5", "\u0661\u0662", "1e308", "5e-324",
            "1000000001", "99999999999999999999", "0.000", "100.0000001", "-1"]

_KEYS = ["id", "kind", "outcome", "events", "total", "percent", "estimate", "ci_lower",
         "ci_upper", "p", "file", "sha256", "records", "groups", "strata", "grading", "review",
         "events_range", "stratum", "comparator", "intent", "overlaps", "sources"]


def mutate(text: str, rng: random.Random) -> bytes:
    """One to three random mutations of ``text``."""
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(12)
        i = rng.randrange(len(lines)) if lines else 0
        numeric = [j for j, l in enumerate(lines) if re.search(r":\s*-?[\d.]+\s*(#.*)?$", l)]
        if op >= 10 and numeric:  # a number written strangely
            j = rng.choice(numeric)
            lines[j] = re.sub(r"(:\s*)-?[\d.]+", lambda m: m.group(1) + rng.choice(_NUMBERS),
                              lines[j], count=1)
        elif op == 0 and lines:  # replace a value by a hostile token
            m = re.match(r"(\s*-?\s*[\w<=]+:\s*)(.*)", lines[i])
            if m:
                lines[i] = m.group(1) + rng.choice(_TOKENS) + "\n"
        elif op == 1 and lines:  # delete a line
            del lines[i]
        elif op == 2:  # insert a key at some indentation
            indent = " " * rng.choice([0, 2, 4, 6])
            lines.insert(i, f"{indent}{rng.choice(_KEYS)}: {rng.choice(_TOKENS)}\n")
        elif op == 3 and lines:  # duplicate a line
            lines.insert(i, lines[i])
        elif op == 4:  # deep nesting
            depth = rng.choice([10, 60, 500])
            lines.insert(i, "x: " + "[" * depth + "]" * depth + "\n")
        elif op == 5 and lines:  # flip characters
            chars = list(lines[i])
            for _ in range(rng.randint(1, 4)):
                if chars:
                    chars[rng.randrange(len(chars))] = chr(rng.choice([0, 1, 9, 10, 13, 34, 39,
                                                                       58, 91, 123, 127, 0xAD,
                                                                       0xFEFF, 0x2028]))
            lines[i] = "".join(chars)
        elif op == 6:  # many unknown keys
            lines.append("".join(f"k{j}_{rng.randrange(10**6)}: {j}\n"
                                 for j in range(rng.choice([10, 1000, 20000]))))
        elif op == 7 and lines:  # change an indentation
            lines[i] = " " * rng.randrange(9) + lines[i].lstrip(" ")
        elif op == 8:  # truncate
            cut = rng.randrange(max(1, sum(map(len, lines))))
            joined = "".join(lines)[:cut]
            lines = joined.splitlines(keepends=True)
        else:  # an id with a newline, or a huge value
            lines.insert(i, rng.choice(['id: "a\\nb"\n', "notes: " + "y" * 100_000 + "\n",
                                        "id: " + "z" * 2000 + "\n"]))
    data = "".join(lines).encode("utf-8", "surrogatepass")
    if rng.random() < 0.05:  # invalid UTF-8
        pos = rng.randrange(len(data) + 1)
        data = data[:pos] + b"\xff\xfe" + data[pos:]
    return data


_LINE = re.compile(r"^(?P<file>.+?):(\d+):(\d+): (error|warning): ")


def check_one(path: Path, sources: Path | None, time_limit: float) -> str | None:
    """None if validating ``path`` behaves; otherwise what went wrong (one line)."""
    from extract.validate import validate_paths

    t0 = time.perf_counter()
    try:
        report = validate_paths([path], sources)
    except Exception as exc:  # noqa: BLE001 - this is what the fuzz test looks for
        return f"raised {type(exc).__name__}: {exc}"
    took = time.perf_counter() - t0
    if took > time_limit:
        return f"took {took:.1f} s"
    for m in report.messages:
        text = str(m)
        if "\n" in text or "\r" in text:
            return f"message on several lines: {text[:200]!r}"
        match = _LINE.match(text)
        if not match or match.group("file") != str(path):
            return f"message without file:line:col: {text[:200]!r}"
        if "internal error" in text.lower():
            return f"internal error: {text[:200]!r}"
        if len(text) > 1200:
            return f"message of {len(text)} characters"
    return None


def run(n: int, seed: int, folder: Path, time_limit: float = 10.0) -> list[tuple[int, str]]:
    """Validate ``n`` mutants (written under ``folder``); [(case, problem)] for the bad ones."""
    rng = random.Random(seed)
    base = "".join(l for l in BASE.read_text().splitlines(keepends=True) if not l.startswith("#"))
    sources = BASE.parent / "sources"
    problems = []
    for case in range(n):
        sub = folder / f"case{case}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / "valid_minimal.yaml"
        path.write_bytes(mutate(base, rng))
        problem = check_one(path, sources, time_limit)
        if problem:
            problems.append((case, problem))
    return problems
