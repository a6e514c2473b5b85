"""Bradley-Terry and ELO, once, for rewards (a GRPO group's tournament) and the arena (many
battles across models).

- ``bradley_terry_probs``: BT strengths from a small win matrix, minorisation-maximisation (the
  group tournament: a handful of completions, every pair played);
- ``fit_logistic_batch`` / ``fit_logistic``: BT as a weighted logistic regression, Newton's
  method with line search, many bootstrap reweightings solved at once (the arena: large battle
  tables, style covariates); same model, a solver suited to the table shape;
- ``elo_ratings``: online ELO replayed over random orders (both callers); ``elo_expected`` turns
  the ratings into each player's mean expected score against the others.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


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


@dataclass
class LogisticFit:
    """Result of ``fit_logistic_batch``: one row per weighting."""

    coef: np.ndarray  # (B, k)
    converged: np.ndarray  # (B,) bool: the Newton decrement fell below tol within max_iter
    iterations: int


def _loglik(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    # log sigmoid(z) = -logaddexp(0, -z): finite for any z (no overflow for large |z|)
    return -(w * (y * np.logaddexp(0.0, -z) + (1.0 - y) * np.logaddexp(0.0, z))).sum(axis=-1)


def fit_logistic_batch(x: np.ndarray, y: np.ndarray, weights: np.ndarray, *, l2: float = 0.0,
                       fixed: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-10) -> LogisticFit:
    """Weighted logistic regression (no intercept) for B weightings of the same rows at once.

    Maximises sum_r W[b, r] (y_r log s(x_r w) + (1 - y_r) log(1 - s(x_r w))) - l2/2 |w|^2 per row b
    of ``weights`` (B, n) (bootstrap replicates are reweightings). ``y`` may be fractional (a tie
    is 0.5). ``fixed`` (B, k) bool holds columns at 0 (an anchor, a model absent from a replicate).
    Newton's method with backtracking (Armijo) line search, so a step never lowers the likelihood;
    a tiny ridge (1e-9) only keeps a singular Hessian solvable, it is not a prior. Replicates that
    do not converge within ``max_iter`` are flagged in ``converged`` (the caller warns).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    W = np.atleast_2d(np.asarray(weights, dtype=float))
    B, k = W.shape[0], x.shape[1]
    chunk = max(1, int(4e6 // max(1, x.shape[0] * k)))  # bounds the (B, k, n) temporary below
    if B > chunk:
        parts = [fit_logistic_batch(x, y, W[i:i + chunk], l2=l2, max_iter=max_iter, tol=tol,
                                    fixed=None if fixed is None else np.asarray(fixed)[i:i + chunk])
                 for i in range(0, B, chunk)]
        return LogisticFit(np.concatenate([f.coef for f in parts]), np.concatenate([f.converged for f in parts]),
                           max(f.iterations for f in parts))
    free = np.ones((B, k)) if fixed is None else (~np.asarray(fixed, dtype=bool)).astype(float)
    w = np.zeros((B, k))
    eye = np.eye(k)
    converged = np.zeros(B, dtype=bool)

    def objective(coef: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return _loglik(coef @ x.T, y, W[rows]) - 0.5 * l2 * (coef ** 2).sum(axis=1)

    it = 0
    stuck = np.zeros(B, dtype=bool)
    for it in range(1, max_iter + 1):
        act = ~converged & ~stuck
        if not act.any():
            break
        wa, Wa, fa = w[act], W[act], free[act]
        z = wa @ x.T
        p = 1.0 / (1.0 + np.exp(-z))
        g = ((Wa * (y - p)) @ x - l2 * wa) * fa
        h = np.matmul(x.T[None, :, :] * (Wa * p * (1.0 - p))[:, None, :], x) + (l2 + 1e-9) * eye
        # fixed columns: identity rows/cols, zero gradient -> zero step
        mask = fa[:, :, None] * fa[:, None, :]
        h = h * mask + eye * (1.0 - fa)[:, None, :]
        step = np.linalg.solve(h, g[..., None])[..., 0]
        decrement = (g * step).sum(axis=1)  # Newton decrement^2 >= 0
        f0 = objective(wa, act)
        t = np.ones(len(wa))
        accept = np.zeros(len(wa), dtype=bool)
        for _ in range(40):
            trial = wa + t[:, None] * step
            ok = objective(trial, act) >= f0 + 1e-4 * t * decrement - 1e-12 * np.abs(f0)
            accept |= ok
            if accept.all():
                break
            t = np.where(accept, t, t * 0.5)
        w[act] = wa + np.where(accept, t, 0.0)[:, None] * step
        idx = np.flatnonzero(act)
        small = (decrement < tol) | (accept & (np.abs(t[:, None] * step).max(axis=1) < 1e-10))
        converged[idx[small]] = True
        # no ascent found from here (numerically flat) yet not at an optimum: stop, left unconverged
        stuck[idx[~accept & ~small]] = True
    return LogisticFit(coef=w, converged=converged, iterations=it)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-4, iters: int = 100,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """One weighted logistic fit (see ``fit_logistic_batch``); logs a warning if Newton's method
    did not converge."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    fit = fit_logistic_batch(x, y, w[None, :], l2=l2, max_iter=iters)
    if not fit.converged[0]:
        log.warning("logistic fit did not converge in %d Newton steps (separable data or too few battles?)", iters)
    return fit.coef[0]


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
