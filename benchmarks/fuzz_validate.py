"""A larger fuzz run of `carsynth validate` (the CI test runs 300 cases).

    .venv/bin/python benchmarks/fuzz_validate.py [N] [SEED]

Writes N mutated study files (tests/fuzz_mutator.py) into a temporary folder, validates each
on its own and prints every case that raised, printed an internal error or a message without
file:line:col, or took longer than the limit; then the slowest case. Exit 1 on any problem.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzz_mutator import run  # noqa: E402


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 2026
    with tempfile.TemporaryDirectory(prefix="carsynth-fuzz-") as tmp:
        t0 = time.perf_counter()
        problems = run(n, seed, Path(tmp), time_limit=10.0)
        took = time.perf_counter() - t0
    for case, problem in problems:
        print(f"case {case}: {problem}")
    print(f"{n} mutated files (seed {seed}) in {took:.1f} s ({1000 * took / n:.1f} ms each): "
          f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
