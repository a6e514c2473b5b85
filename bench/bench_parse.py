"""Verdict parser speed on degenerate (long, looping) judge outputs: the texts of
tests/judges/test_parsing.py's hang guard, each parsed by both parsers, at n and 4n characters.
The parsers search only the answer's last 20,000 characters, so time should not grow past that
(a pattern that backtracks quadratically shows as a slow line). Reads and writes nothing; prints
one line per text and the total.

    python bench/bench_parse.py [N]
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from judgelab.judges.parsing.pairwise import parse_pairwise
from judgelab.judges.parsing.pointwise import parse_pointwise


def _degenerate_texts(n: int) -> list[str]:
    # The test module owns the list, so the bench times exactly what the test guards.
    path = Path(__file__).resolve().parents[1] / "tests" / "judges" / "test_parsing.py"
    spec = importlib.util.spec_from_file_location("_test_parsing", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.degenerate_texts(n)


def main(n: int = 20_000) -> None:
    total = 0.0
    for size in (n, 4 * n):
        for i, text in enumerate(_degenerate_texts(size)):
            t0 = time.perf_counter()
            parse_pairwise(text)
            parse_pointwise(text, (1, 10))
            dt = time.perf_counter() - t0
            total += dt
            print(f"n={size:<7} text {i:>2} ({text[:24]!r:<30}) {dt * 1000:>8.1f} ms")
    print(f"total {total:.2f} s (the unit test's old wall-clock limit was 5 s for n=20,000)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
