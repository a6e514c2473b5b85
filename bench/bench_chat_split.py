"""The query split of `judgelab serve --reward` / the OpenRLHF and verl adapters on hostile text:
judgelab.integrations.chat_text against the regexes it replaced (lazy ``start(.*?)end`` with findall,
and ``(?:\\s*marker)+\\s*$`` with sub), at two sizes, side by side in one run.

A linear split takes ~2x as long at twice the size, a quadratic one ~4x; the old regexes took
minutes at the sizes the unit tests use (tests/integrations/test_chat_text.py), so the default
sizes here are small enough for them to finish.

    python bench/bench_chat_split.py
    python bench/bench_chat_split.py --size 2000   # ~10 s in all at the default 4000 (the old regexes)
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

from judgelab.integrations.chat_text import strip_trailing_special, user_request

OLD_TRAILING = re.compile(r"(?:\s*(?:<\|[A-Za-z0-9_]{1,40}\|>|<｜[^｜<>]{1,40}｜>|</s>|<eos>|<end_of_turn>|<pad>))+\s*$")
OLD_CHATML = re.compile(r"<\|im_start\|>user\s*\n(.*?)<\|im_end\|>", re.S)


def old_strip(text: str) -> str:
    return OLD_TRAILING.sub("", text)


def old_user(text: str) -> str:
    turns = OLD_CHATML.findall(text)
    return turns[-1].strip() if turns else text.strip()


CASES: dict[str, tuple[Callable[[int], str], Callable[[str], str], Callable[[str], str]]] = {
    "whitespace run, no end marker": (lambda n: "a" + " " * (10 * n) + "b", strip_trailing_special, old_strip),
    "repeated ChatML user start": (lambda n: "<|im_start|>user\n" * n, user_request, old_user),
}


def seconds(f: Callable[[str], str], text: str) -> float:
    t0 = time.perf_counter()
    f(text)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4000, help="repeats of the hostile unit at the smaller size")
    args = ap.parse_args()
    print(f"{'case':32s} {'size':>8s} {'judgelab s':>11s} {'old regex s':>12s} {'old / new':>10s}")
    for name, (make, new, old) in CASES.items():
        times = {}
        for n in (args.size, 2 * args.size):
            text = make(n)
            assert new(text) == old(text), name
            times[n] = (seconds(new, text), seconds(old, text))
            t_new, t_old = times[n]
            print(f"{name:32s} {len(text):8d} {t_new:11.4f} {t_old:12.4f} {t_old / max(t_new, 1e-9):10.0f}x")
        (n1, (a1, b1)), (n2, (a2, b2)) = times.items()
        print(f"{'':32s} growth at 2x size: judgelab {a2 / max(a1, 1e-9):.1f}x, old regex {b2 / max(b1, 1e-9):.1f}x")


if __name__ == "__main__":
    main()
