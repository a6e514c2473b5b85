"""Arena-style pairwise evaluation: Bradley-Terry scores with bootstrap CIs, optional length
(style) control, and ELO, per judge.

Input: battles, one per (prompt, model pair, judge): ``Battle(model_a, model_b, outcome)`` with
outcome = P(a wins) in [0, 1] (1 win, 0 loss, 0.5 tie, or the mean over both orders), and
optionally the two responses' lengths. Writes nothing (``judgelab.evaluate.policy_eval`` writes
``eval/arena.json``).

Bradley-Terry is fit as a logistic regression (as Chatbot Arena / Arena-Hard-Auto do):
P(a beats b) = sigmoid(theta_a - theta_b [+ gamma * style(a, b)]), a fractional outcome y entered
as weight y on "a won" and 1 - y on "b won"; Newton's method with a small L2 penalty (which also
pins the otherwise free offset, and keeps an undefeated model finite). Ratings are reported on the
ELO-like scale 400 * log10(e) * theta + 1000. Style control adds the normalised length difference
(len_a - len_b) / (len_a + len_b) as a covariate, so a judge that rewards length does not lift a
verbose model's rating; ``length_coef`` reports how much that judge cares about length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from judgelab.judges.ratings import elo_ratings, fit_logistic

SCALE = 400.0 / math.log(10.0)
BASE = 1000.0


@dataclass
class Battle:
    model_a: str
    model_b: str
    outcome: float  # P(model_a wins)
    len_a: float | None = None
    len_b: float | None = None
    judge: str = ""
    prompt_id: str = ""


def _design(battles: Sequence[Battle], models: list[str], style: bool) -> tuple[np.ndarray, np.ndarray]:
    idx = {m: i for i, m in enumerate(models)}
    k = len(models) + (1 if style else 0)
    x = np.zeros((len(battles), k))
    y = np.zeros(len(battles))
    for r, b in enumerate(battles):
        x[r, idx[b.model_a]] = 1.0
        x[r, idx[b.model_b]] = -1.0
        if style:
            la, lb = float(b.len_a or 0.0), float(b.len_b or 0.0)
            x[r, -1] = (la - lb) / (la + lb) if la + lb > 0 else 0.0
        y[r] = min(1.0, max(0.0, b.outcome))
    return x, y


def bradley_terry(battles: Sequence[Battle], models: Sequence[str] | None = None, *, style_control: bool = False,
                  l2: float = 1e-4) -> tuple[dict[str, float], float | None]:
    """BT ratings (ELO-like scale, mean 1000) and the length coefficient (None without style control)."""
    ms = list(models) if models is not None else sorted({b.model_a for b in battles} | {b.model_b for b in battles})
    if not battles:
        return {m: BASE for m in ms}, None
    x, y = _design(battles, ms, style_control)
    w = fit_logistic(x, y, l2=l2)
    theta = w[: len(ms)]
    theta = theta - theta.mean()
    ratings = {m: float(BASE + SCALE * t) for m, t in zip(ms, theta)}
    return ratings, (float(w[-1]) if style_control else None)


def elo(battles: Sequence[Battle], models: Sequence[str] | None = None, *, k: float = 4.0, rounds: int = 1,
        seed: int = 0) -> dict[str, float]:
    """Online ELO (order dependent: with rounds > 1, the mean over random orders)."""
    ms = list(models) if models is not None else sorted({b.model_a for b in battles} | {b.model_b for b in battles})
    idx = {m: i for i, m in enumerate(ms)}
    r = elo_ratings([(idx[b.model_a], idx[b.model_b], b.outcome) for b in battles], len(ms), k=k, rounds=rounds,
                    seed=seed, base=BASE)
    return {m: float(r[i]) for i, m in enumerate(ms)}


def arena_table(battles: Sequence[Battle], *, style_control: bool = False, n_boot: int = 200, alpha: float = 0.05,
                seed: int = 0, elo_k: float = 4.0) -> dict[str, Any]:
    """BT ratings with bootstrap CIs (battles resampled with replacement), ELO, win rates.

    Returns {"models": [{model, rating, ci, elo, win_rate, battles}, ...] best first,
    "length_coef", "n_battles", "style_control"}.
    """
    ms = sorted({b.model_a for b in battles} | {b.model_b for b in battles})
    ratings, coef = bradley_terry(battles, ms, style_control=style_control)
    rng = np.random.default_rng(seed)
    boots = np.zeros((n_boot, len(ms)))
    for i in range(n_boot):
        sample = [battles[j] for j in rng.integers(0, len(battles), len(battles))]
        r, _ = bradley_terry(sample, ms, style_control=style_control)
        boots[i] = [r[m] for m in ms]
    elos = elo(battles, ms, k=elo_k, rounds=8, seed=seed)
    rows = []
    for j, m in enumerate(ms):
        mine = [(b.outcome if b.model_a == m else 1 - b.outcome) for b in battles if m in (b.model_a, b.model_b)]
        lo, hi = (np.quantile(boots[:, j], [alpha / 2, 1 - alpha / 2]) if n_boot else (ratings[m], ratings[m]))
        rows.append({"model": m, "rating": ratings[m], "ci": [float(lo), float(hi)], "elo": elos[m],
                     "win_rate": float(np.mean(mine)) if mine else None, "battles": len(mine)})
    rows.sort(key=lambda r: -r["rating"])
    return {"models": rows, "length_coef": coef, "n_battles": len(battles), "style_control": style_control}


def arena_by_judge(battles: Sequence[Battle], **kw: Any) -> dict[str, dict[str, Any]]:
    """One arena table per judge (``Battle.judge``)."""
    out: dict[str, dict[str, Any]] = {}
    for j in sorted({b.judge for b in battles}):
        out[j] = arena_table([b for b in battles if b.judge == j], **kw)
    return out
