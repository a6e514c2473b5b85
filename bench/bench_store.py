"""Judgment store throughput: single puts (one commit each, as Judge does), put_many, get,
get_many. Writes a temporary SQLite file; prints one line per operation.

    python bench/bench_store.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from judgelab.data.store import JudgmentStore


def main(n: int = 5000) -> None:
    verdict = {"item_id": "x", "mode": "pointwise", "parsed": True, "score": 7.0, "raw": "Score: 7" * 20}
    with tempfile.TemporaryDirectory() as d:
        s = JudgmentStore(Path(d) / "bench.sqlite")
        keys = [f"k{i:08d}" for i in range(n)]

        def timed(label: str, fn) -> None:
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            print(f"{label:<28} {n / dt:>10,.0f} ops/s  ({dt:.3f}s for {n})")

        timed("put (one commit each)", lambda: [s.put(k, verdict, judge="j", mode="pointwise", item_id=k) for k in keys])
        keys2 = [k + "b" for k in keys]
        timed("put_many (one commit)", lambda: s.put_many((k, verdict, "j", "pointwise", k) for k in keys2))
        timed("get", lambda: [s.get(k) for k in keys])
        timed("get_many", lambda: s.get_many(keys))
        s.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
