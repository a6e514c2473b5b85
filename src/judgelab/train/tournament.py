"""Group tournaments: the ``group-tournament`` reward (judgelab.train.rewards) ranks the completions
of one prompt against each other.

TRL passes the ``num_generations`` completions of a prompt consecutively: a group is a run of the
same prompt, cut at that size. ``round-robin`` plays every pair and rewards the mean Bradley-Terry
win probability against the rest of the group; ``elo`` plays every pair as an ELO match in several
random orders and rewards the mean expected score; ``knockout`` plays a single-elimination bracket
and rewards rounds won / rounds in the bracket (champion = 1). A group of one gets 0.5.

Matches go to the judge through ``judge_matches(matches, tag) -> P(i beats j) or None`` (None: the
comparison failed; it counts as a tie). All matches of a step go out in one batch, except knockout
(one batch per bracket round). Reads and writes no files.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from judgelab.judges.ratings import bradley_terry_probs, elo_expected, mean_win_prob

Match = tuple[int, int]
MatchJudge = Callable[[list[Match], str], Awaitable[list[float | None]]]


def prompt_groups(ptexts: list[str], metas: list[dict[str, Any]], num_generations: int | None) -> list[list[int]]:
    """Consecutive runs of the same prompt, cut at num_generations."""
    groups: list[list[int]] = []
    prev = None
    for i, (p, m) in enumerate(zip(ptexts, metas)):
        key = (m.get("prompt_id"), p)
        if groups and key == prev and (num_generations is None or len(groups[-1]) < num_generations):
            groups[-1].append(i)
        else:
            groups.append([i])
        prev = key
    return groups


async def play(kind: str, groups: list[list[int]], n: int, judge_matches: MatchJudge, tag: str, *, seed: int,
               round_: int) -> list[float]:
    """Rewards of ``n`` completions from a ``kind`` tournament in each group. Brackets and ELO orders
    are drawn from ``seed`` and ``round_`` (the trainer's step: a resumed run draws the same)."""
    rewards = [0.5] * n  # a group of one has no one to play: neutral
    if kind == "knockout":
        await _knockout(groups, judge_matches, tag, random.Random(seed + round_), rewards)
        return rewards
    matches = [(g[a], g[b]) for g in groups for a in range(len(g)) for b in range(a + 1, len(g))]
    probs = await judge_matches(matches, tag)
    result = {m: (0.5 if p is None else p) for m, p in zip(matches, probs)}  # failed comparison = tie
    for gi, g in enumerate(groups):
        if len(g) < 2:
            continue
        if kind == "round-robin":
            wins = np.zeros((len(g), len(g)))
            for a in range(len(g)):
                for b in range(a + 1, len(g)):
                    p = result[(g[a], g[b])]
                    wins[a, b] += p
                    wins[b, a] += 1 - p
            scores = mean_win_prob(bradley_terry_probs(wins))
        else:  # elo
            idx = {x: k for k, x in enumerate(g)}
            outcomes = [(idx[i], idx[j], result[(i, j)]) for (i, j) in matches if i in idx]
            scores = elo_expected(outcomes, len(g), seed=seed + round_ * 1000 + gi)
        for x, s in zip(g, scores):
            rewards[x] = float(s)
    return rewards


async def _knockout(groups: list[list[int]], judge_matches: MatchJudge, tag: str, rng: random.Random,
                    rewards: list[float]) -> None:
    alive: list[list[int]] = []
    n_rounds: list[int] = []
    wins: dict[int, int] = {}
    for g in groups:
        g = g[:]
        rng.shuffle(g)  # random seeding of the bracket
        alive.append(g)
        n_rounds.append(max(1, math.ceil(math.log2(len(g)))) if len(g) > 1 else 0)
        for x in g:
            wins[x] = 0
    rnd = 0
    while any(len(a) > 1 for a in alive):
        matches: list[Match] = []
        byes: list[list[int]] = []
        for a in alive:
            matches.extend((a[k], a[k + 1]) for k in range(0, len(a) - 1, 2))
            byes.append([a[-1]] if len(a) % 2 else [])
        probs = await judge_matches(matches, f"{tag}:ko{rnd}")
        winner = {}
        for (i, j), p in zip(matches, probs):
            # Failed or exact tie: a coin flip (seeded) decides, so the bracket always moves on.
            w = i if (p is not None and p > 0.5) else j if (p is not None and p < 0.5) else rng.choice((i, j))
            winner[(i, j)] = w
            wins[w] += 1
        new_alive = []
        for a, bye in zip(alive, byes):
            if len(a) <= 1:
                new_alive.append(a)
                continue
            nxt = [winner[(a[k], a[k + 1])] for k in range(0, len(a) - 1, 2)] + bye
            for x in bye:
                wins[x] += 1  # a bye counts as a round won
            new_alive.append(nxt)
        alive = new_alive
        rnd += 1
    for g, nr in zip(groups, n_rounds):
        if nr == 0:
            continue
        for x in g:
            rewards[x] = min(1.0, wins[x] / nr)
