"""How a judge picks one of N candidates (best-of-N, judgelab.evaluate.policies.best_of_n):
pointwise scores (the highest wins, ties broken by a seeded coin), pairwise verdicts judged once per
pair in both orders (``PairCache``), single-elimination brackets (``run_knockouts``) and a
Bradley-Terry round robin (``pick_tournament``). Reads and writes nothing; the judges may use their
judgment store.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from judgelab.judges.aggregate import pair_outcome
from judgelab.judges.base import Judge
from judgelab.judges.ratings import bradley_terry_probs
from judgelab.judges.types import PairwiseItem, PointwiseItem, unit_score


def _meta(c: dict[str, Any]) -> dict[str, Any]:
    return {"prompt_id": c["prompt_id"], "family": c.get("family", ""), "constraints": c.get("constraints") or {}}


def pointwise_scores(judge: Judge, cands: dict[str, list[dict[str, Any]]], tag: str,
                     only: dict[str, set[int]] | None = None) -> dict[str, list[float | None]]:
    """Every candidate's normalised score (None: unparsed or, with ``only``, not asked for), one batch."""
    keys = [(p, i) for p, cs in cands.items() for i in range(len(cs)) if only is None or i in only.get(p, ())]
    items = [PointwiseItem(id=f"bon-{tag}:{p}:{i}", prompt=cands[p][i]["prompt"], response=cands[p][i]["response"],
                           meta=_meta(cands[p][i])) for p, i in keys]
    verdicts = judge.judge(items)
    out: dict[str, list[float | None]] = {p: [None] * len(cs) for p, cs in cands.items()}
    for (p, i), v in zip(keys, verdicts):
        out[p][i] = unit_score(v.score if v.ok else None, judge.scale)
    return out


class PairCache:
    """P(candidate i beats j) per prompt, judged in both orders on first need, in batches."""

    def __init__(self, judge: Judge, cands: dict[str, list[dict[str, Any]]]):
        self.judge, self.cands = judge, cands
        self.p: dict[tuple[str, int, int], float] = {}
        self.calls = 0

    def fetch(self, wanted: Sequence[tuple[str, int, int]]) -> None:
        todo = sorted({(p, min(i, j), max(i, j)) for p, i, j in wanted if i != j} - set(self.p))
        if not todo:
            return
        items = [PairwiseItem(id=f"bon-pair:{p}:{i}:{j}", prompt=self.cands[p][i]["prompt"],
                              response_a=self.cands[p][i]["response"], response_b=self.cands[p][j]["response"],
                              meta=_meta(self.cands[p][i])) for p, i, j in todo]
        verdicts = self.judge.judge(items + [it.swapped() for it in items])
        self.calls += len(verdicts)
        n = len(items)
        for k, key in enumerate(todo):
            prob, _, _, _ = pair_outcome(verdicts[k], verdicts[n + k])
            self.p[key] = 0.5 if prob is None else prob  # both orders failed: no information, a tie

    def __call__(self, p: str, i: int, j: int) -> float:
        return self.p[(p, i, j)] if i < j else 1.0 - self.p[(p, j, i)]


def argmax_pick(values: Sequence[float | None], rng: random.Random) -> int:
    vals = [-1.0 if v is None else v for v in values]
    best = max(vals)
    return rng.choice([k for k, v in enumerate(vals) if v == best])


def pick_tournament(pairs: PairCache, p: str, subset: list[int]) -> int:
    n = len(subset)
    if n == 1:
        return subset[0]
    wins = np.zeros((n, n))
    for a in range(n):
        for b in range(a + 1, n):
            w = pairs(p, subset[a], subset[b])
            wins[a, b], wins[b, a] = w, 1.0 - w
    strength = bradley_terry_probs(wins)
    return subset[int(np.argmax(strength))]


def seeded_rng(*key: Any) -> random.Random:
    """A generator seeded by ``key`` alone (str seeds hash with SHA-512: the same in every process)."""
    return random.Random("|".join(map(str, key)))


def run_knockouts(pairs: PairCache, brackets: list[tuple[str, list[int]]], rng: random.Random | Sequence[random.Random]) -> list[int]:
    """Winners of many single-elimination brackets, one judging batch per round across all of them.

    ``rng`` breaks ties: one generator for all, or one per bracket (its results then independent of the others).
    """
    rngs = [rng] * len(brackets) if isinstance(rng, random.Random) else list(rng)
    alive = [list(b) for _, b in brackets]
    while any(len(a) > 1 for a in alive):
        pairs.fetch([(p, a[k], a[k + 1]) for (p, _), a in zip(brackets, alive) for k in range(0, len(a) - 1, 2)])
        for idx, ((p, _), a) in enumerate(zip(brackets, alive)):
            if len(a) == 1:
                continue
            nxt = []
            for k in range(0, len(a) - 1, 2):
                w = pairs(p, a[k], a[k + 1])
                first = w > 0.5 or (w == 0.5 and rngs[idx].random() < 0.5)
                nxt.append(a[k] if first else a[k + 1])
            if len(a) % 2:
                nxt.append(a[-1])  # bye
            alive[idx] = nxt
    return [a[0] for a in alive]
