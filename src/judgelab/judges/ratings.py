"""Bradley-Terry and ELO, once, for rewards (a GRPO group's tournament) and the arena (many
battles across models).

- ``bradley_terry_probs``: BT strengths from a small win matrix, minorisation-maximisation (the
  group tournament: a handful of completions, every pair played);
- ``fit_logistic``: BT as a weighted logistic regression, Newton's method (the arena: large
  battle tables, optional style covariates); same model, a solver suited to the table shape;
- ``elo_ratings``: online ELO replayed over random orders (both callers); ``elo_expected`` turns
  the ratings into each player's mean expected score against the others.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np


def bradley_terry_probs(wins: np.ndarray, prior: float = 0.5, iters: int = 200) -> np.ndarray:
    """Bradley-Terry strengths from a win matrix (wins[i, j] = how often i beat j; ties split).

    Minorisation-maximisation (Hunter 2004) with ``prior`` pseudo-wins against every opponent, so
    an undefeated completion gets a finite strength. Returns strengths normalised to sum 1.
    """
    n = wins.shape[0]
    w = wins + prior * (1 - np.eye(n))
    games = w + w.T
    p = np.ones(n) / n
    total_wins = w.sum(axis=1)
    for _ in range(iters):
        denom = (games / (p[:, None] + p[None, :] + 1e-300)).sum(axis=1)
        new = total_wins / np.maximum(denom, 1e-300)
        new /= new.sum()
        if np.max(np.abs(new - p)) < 1e-10:
            p = new
            break
        p = new
    return p


def mean_win_prob(strength: np.ndarray) -> np.ndarray:
    """Mean P(i beats j) over the other members j under Bradley-Terry."""
    n = len(strength)
    if n < 2:
        return np.full(n, 0.5)
    pw = strength[:, None] / (strength[:, None] + strength[None, :])
    np.fill_diagonal(pw, 0.0)
    return pw.sum(axis=1) / (n - 1)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-4, iters: int = 100) -> np.ndarray:
    """Newton's method for sum_r [y log s(x w) + (1-y) log(1 - s(x w))] - l2/2 |w|^2."""
    w = np.zeros(x.shape[1])
    for _ in range(iters):
        z = x @ w
        p = 1.0 / (1.0 + np.exp(-z))
        grad = x.T @ (y - p) - l2 * w
        h = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(h, grad)
        w += step
        if np.max(np.abs(step)) < 1e-9:
            break
    return w


def elo_ratings(matches: Sequence[tuple[int, int, float]], n: int, *, k: float = 32.0, rounds: int = 1,
                seed: int = 0, base: float = 1000.0) -> np.ndarray:
    """ELO over matches (i, j, score_i in [0, 1]). ELO is order dependent: with ``rounds`` > 1 the
    matches are replayed in that many seeded random orders and the ratings averaged; one round
    keeps the given order."""
    rng = random.Random(seed)
    acc = np.zeros(n)
    for _ in range(rounds):
        order = list(matches)
        if rounds > 1:
            rng.shuffle(order)
        r = np.full(n, float(base))
        for i, j, s in order:
            e = 1.0 / (1.0 + 10 ** ((r[j] - r[i]) / 400.0))
            r[i] += k * (s - e)
            r[j] -= k * (s - e)
        acc += r
    return acc / max(rounds, 1)


def elo_expected(matches: Sequence[tuple[int, int, float]], n: int, *, k: float = 32.0, rounds: int = 16,
                 seed: int = 0) -> np.ndarray:
    """Mean expected score of each player against the others, from ``elo_ratings``."""
    if n < 2:
        return np.full(n, 0.5)
    r = elo_ratings(matches, n, k=k, rounds=rounds, seed=seed)
    e = 1.0 / (1.0 + 10 ** ((r[None, :] - r[:, None]) / 400.0))
    np.fill_diagonal(e, 0.0)
    return e.sum(axis=1) / (n - 1)
