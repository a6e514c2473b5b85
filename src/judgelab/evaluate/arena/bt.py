"""The Bradley-Terry fit of the arena, its one-sided bounds and ELO. Pure numpy: reads and writes
nothing.

Model. P(a beats b) = sigmoid(theta_a - theta_b + gamma . style(a, b)), fit as a weighted
logistic regression without a penalty (Newton with line search; ``judges.ratings``). The baseline
is the anchor: theta_baseline = 0, rating 1000, win rate 50%. Ratings are
``1000 + 400 log10(e) theta`` (the ELO scale, as Arena-Hard's ``compute_mle_elo``); the win rate vs
the baseline is sigmoid(theta_m - theta_baseline), Arena-Hard's headline number. Without a
baseline the ratings are centred on the mean model (1000).

Divergent ratings. A model that never lost (no loss weight at all) has no finite MLE; instead of
an L2 penalty (which makes its rating grow with its battle count and pins absent models to the
mean) it is reported ``status='undefeated'`` with no point estimate (``rating`` and
``win_rate_vs_baseline`` None) and a one-sided (1 - alpha) lower bound as its CI (``ci`` =
[bound, None]): the rating at which winning all its battles has probability alpha given the
others' ratings. Never-won models mirror this (``'winless'``, ``ci`` = [None, bound], win-rate CI
[0, bound]); with few battles the bound may lie on the far side of the baseline, which is why it
is never shown as a point. Removing them leaves exactly the limit of the likelihood for the others.

Degenerate style fits (too few prompts, style collinear with model identity, quasi-separation)
add one warning saying style control is unreliable (``style_degenerate``); the numbers are those
of the fit regardless.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from judgelab.evaluate.arena.battles import (
    Battle,
    Design,
    battle_models,
    build_design,
    validate_battles,
)
from judgelab.evaluate.arena.style import StyleMode
from judgelab.judges.ratings import elo_ratings, fit_logistic_batch

log = logging.getLogger(__name__)

SCALE = 400.0 / math.log(10.0)
BASE = 1000.0
_SENTINEL = 1e12  # stands in for +-inf while taking quantiles


@dataclass
class Fit:
    """B fits at once (the point fit, or one per bootstrap replicate)."""

    theta: np.ndarray  # (B, m): finite, +inf (undefeated), -inf (winless), nan (absent/disconnected)
    gamma: np.ndarray  # (B, f)
    converged: np.ndarray  # (B,)


def fit_battles(d: Design, W: np.ndarray, anchor: int | None) -> Fit:
    """BT fit for each row of row weights W (B, n); see the module docstring for the rules."""
    B, n = W.shape
    m = len(d.models)
    W = W * d.keep[None, :]
    inc, y, sty = d.inc, d.y, d.style
    if sty.shape[1] == 0:
        # Without style covariates the likelihood depends on the rows only through each directed
        # pair's total and winning weight: fit two rows per pair (won, lost) instead of n rows.
        keys, inv = np.unique(inc, axis=0, return_inverse=True)
        onehot = np.zeros((n, len(keys)))
        onehot[np.arange(n), inv.ravel()] = 1.0
        won, total = (W * y) @ onehot, W @ onehot
        inc = np.concatenate([keys, keys])
        y = np.concatenate([np.ones(len(keys)), np.zeros(len(keys))])
        W = np.maximum(np.concatenate([won, total - won], axis=1), 0.0)
        sty = np.zeros((len(inc), 0))
    A = (inc > 0).astype(float)
    Bm = (inc < 0).astype(float)
    win_of = A * y[:, None] + Bm * (1 - y)[:, None]  # (n, m): win share of each side
    loss_of = A * (1 - y)[:, None] + Bm * y[:, None]
    plays = A + Bm
    plus = np.zeros((B, m), dtype=bool)
    minus = np.zeros((B, m), dtype=bool)
    for _ in range(m):
        live = W > 0
        wins, losses = (W * live) @ win_of, (W * live) @ loss_of
        playing = (W @ plays) > 0
        up = playing & (losses <= 1e-12) & ~plus
        down = playing & (wins <= 1e-12) & ~minus & ~up
        if anchor is not None:
            up[:, anchor] = down[:, anchor] = False
        if not (up.any() or down.any()):
            break
        plus |= up
        minus |= down
        dead = ((plus | minus).astype(float) @ plays.T) > 0  # (B, n)
        W = np.where(dead, 0.0, W)
    # connectivity to the anchor (or, without one, to the model with the most battle weight)
    adj = np.matmul(plays.T[None, :, :] * (W > 0)[:, None, :], plays) > 0
    playing = (W @ plays) > 0
    root = np.full(B, anchor) if anchor is not None else np.argmax(W @ plays, axis=1)
    reach = np.zeros((B, m), dtype=bool)
    reach[np.arange(B), root] = True
    for _ in range(m):
        new = reach | (np.einsum("bi,bij->bj", reach.astype(float), adj.astype(float)) > 0)
        if (new == reach).all():
            break
        reach = new
    # rows touching a model outside the anchor's component carry no information about the rest
    W = np.where(((~reach).astype(float) @ plays.T) > 0, 0.0, W)
    fixed_models = ~reach | plus | minus
    fixed_models[np.arange(B), root] = True
    f = sty.shape[1]
    x = np.concatenate([inc, sty], axis=1)
    fixed = np.concatenate([fixed_models, np.zeros((B, f), dtype=bool)], axis=1)
    res = fit_logistic_batch(x, y, W, fixed=fixed)
    theta = res.coef[:, :m].copy()
    theta[~reach] = np.nan
    theta[plus] = np.inf
    theta[minus] = -np.inf
    if anchor is None:  # centre on the mean finite model
        fin = np.isfinite(theta)
        mean = np.where(fin, theta, 0.0).sum(axis=1) / np.maximum(fin.sum(axis=1), 1)
        theta = theta - mean[:, None]
    return Fit(theta, res.coef[:, m:], res.converged)


_HUGE_COEF = 5.0  # logits per SD of a style feature: a 1-SD style difference multiplying the odds by e^5
_DIVERGED_THETA, _DIVERGED_GAMMA = 15.0, 10.0  # beyond these the likelihood kept rising: Newton stopped on a flat slope


def diverges(theta: np.ndarray, gamma: np.ndarray) -> np.ndarray | bool:
    """Quasi-separation: a finite rating beyond 15 logits or a style coefficient beyond 10 (per row
    for a stack of fits, else one bool). Newton reports 'converged' there, on a flat slope."""
    th = np.where(np.isfinite(theta), np.abs(theta), 0.0)
    ga = np.abs(gamma) if np.size(gamma) else np.zeros(np.shape(theta)[:-1] + (1,))
    out = (th.max(axis=-1, initial=0.0) > _DIVERGED_THETA) | (ga.max(axis=-1, initial=0.0) > _DIVERGED_GAMMA)
    return bool(out) if np.ndim(out) == 0 else out


def style_degenerate(d: Design, theta: np.ndarray, gamma: np.ndarray, boot: Fit, boot_w: np.ndarray,
                      anchor: int | None, n_requested: int, alpha: float) -> list[str]:
    """One warning when the style-controlled fit cannot be trusted, with its reasons: fewer prompts
    than style features + 2; no battle between two rated models (the coefficients are not
    estimated); a coefficient or a CI end beyond ``_HUGE_COEF`` or unbounded (quasi-separation:
    style and model identity nearly collinear); more than alpha of the bootstrap fits diverging; or
    a rated model's rating CI more than 3 times (and 4 logits) wider than without style control
    (same resamples). Changes no number."""
    why = []
    if diverges(theta, gamma):
        why.append("the fit diverges (a rating beyond 15 logits or a style coefficient beyond 10)")
    if d.n_clusters < n_requested + 2:
        why.append(f"{d.n_clusters} prompt(s) for {n_requested} style feature(s)")
    live = d.keep & (np.abs(d.inc) @ (~np.isfinite(theta)).astype(float) == 0)
    if not live.any():
        why.append("no battle between two rated models, so the style coefficients are not estimated")
    for k, name in enumerate(d.style_names):
        ends = quantiles(boot.gamma[:, k], alpha) if len(boot.gamma) else []
        if abs(gamma[k]) > _HUGE_COEF or any(v is None or abs(v) > _HUGE_COEF for v in ends):
            shown = ", ".join("inf" if v is None else f"{v:+.1f}" for v in ends)
            why.append(f"the {name} coefficient ({gamma[k]:+.1f}" + (f", CI [{shown}]" if ends else "")
                       + ") is huge or unbounded (quasi-separation)")
    if len(boot.theta):
        div = diverges(boot.theta, boot.gamma)
        if div.mean() > alpha:
            why.append(f"{int(div.sum())} of {len(div)} bootstrap fits diverge")

        def width(v: np.ndarray) -> float:
            lo, hi = quantiles(v, alpha)
            return math.inf if lo is None or hi is None else hi - lo

        wide = {j: ws for j in range(len(d.models)) if j != anchor and np.isfinite(theta[j])
                and (ws := width(boot.theta[:, j])) > 4.0}
        if wide:  # the no-style bootstrap (a second fit of every resample) only when some CI is wide enough to ask
            ref = fit_battles(replace(d, style=np.zeros((len(d.y), 0)), style_names=[], style_sd=[]), boot_w, anchor).theta
            for j, ws in wide.items():
                wn = width(ref[:, j])
                if ws > 3 * wn:
                    why.append(f"{d.models[j]}'s rating CI is "
                               f"{'unbounded' if ws == math.inf else f'{ws / max(wn, 1e-9):.0f} times'}"
                               + (" wider" if ws != math.inf else "") + " than without style control")
    if not why:
        return []
    return ["style control is unreliable here (" + "; ".join(why) + "): read the ratings with --style none "
            "(or fewer style features, or more prompts)"]


def one_sided_bound(d: Design, theta: np.ndarray, gamma: np.ndarray, j: int, alpha: float, upper: bool) -> float:
    """One-sided bound on model j's theta: where winning (losing) all its battles has probability alpha.

    The prompt is the unit, as in every other interval of the arena (prompts are resampled): a
    prompt's battles (both orders, a strong verdict's weight) are not independent evidence, so the
    log-likelihood is scaled to the number of prompts j played on (its battles' total weight counted
    as that many independent ones; with one battle per prompt and weight 1 nothing changes)."""
    rows = np.flatnonzero((d.inc[:, j] != 0) & d.keep)
    other = d.inc[rows].copy()
    other[:, j] = 0.0
    opp_theta = theta[np.argmax(np.abs(other), axis=1)] if len(rows) else np.zeros(0)
    ok = np.isfinite(opp_theta)
    rows, opp_theta = rows[ok], opp_theta[ok]
    if not len(rows):
        return math.nan
    sign = d.inc[rows, j]
    offset = d.style[rows] @ gamma if len(gamma) else np.zeros(len(rows))
    y_j = np.where(sign > 0, d.y[rows], 1 - d.y[rows])  # j's win share
    weight = d.w[rows] * (len(np.unique(d.cluster[rows])) / float(d.w[rows].sum()))

    def loglik(t: float) -> float:
        z = (t - opp_theta) + sign * offset  # logit of 'j wins' at theta_j = t
        return float(-(weight * (y_j * np.logaddexp(0, -z) + (1 - y_j) * np.logaddexp(0, z))).sum())

    target = math.log(alpha)
    lo, hi = float(opp_theta.min()) - 60.0, float(opp_theta.max()) + 60.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        val = loglik(mid)
        if upper:  # decreasing in t: find t with loglik(t) = target
            lo, hi = (mid, hi) if val > target else (lo, mid)
        else:
            lo, hi = (mid, hi) if val < target else (lo, mid)
    return 0.5 * (lo + hi)


def quantiles(v: np.ndarray, alpha: float) -> list[float | None]:
    """Percentile interval of the finite-or-infinite values (NaN skipped); an infinite end is None."""
    v = v[~np.isnan(v)]
    if not len(v):
        return [None, None]
    q = np.quantile(np.clip(v, -_SENTINEL, _SENTINEL), [alpha / 2, 1 - alpha / 2])
    return [None if abs(x) >= _SENTINEL / 2 else float(x) for x in q]


def win_rate_vs_base(rating: float) -> float:
    """Win rate vs the baseline (rating 1000) of a model at ``rating``."""
    return float(_sigmoid(np.array((rating - BASE) / SCALE)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def bradley_terry(battles: Sequence[Battle], models: Sequence[str] | None = None, *, style_control: bool = False,
                  baseline: str | None = None, style: StyleMode | None = None, centering: str = "none",
                  missing_style: str = "impute") -> tuple[dict[str, float], float | None]:
    """BT ratings (ELO scale; baseline = 1000, else mean 1000) and the length coefficient per SD
    (None without length control). Undefeated / winless models come back as +-inf."""
    validate_battles(battles)
    ms = list(models) if models is not None else battle_models(battles)
    if not battles:
        return {m: BASE for m in ms}, None
    st: StyleMode = style or ("length" if style_control else "none")
    d = build_design(battles, ms, st, centering, missing_style)
    anchor = ms.index(baseline) if baseline is not None else None
    fit = fit_battles(d, d.w[None, :], anchor)
    if not fit.converged[0]:
        log.warning("Bradley-Terry fit did not converge")
    ratings = {m: float(BASE + SCALE * t) for m, t in zip(ms, fit.theta[0])}
    coef = float(fit.gamma[0][d.style_names.index("length")]) if "length" in d.style_names else None
    return ratings, coef


def elo(battles: Sequence[Battle], models: Sequence[str] | None = None, *, k: float = 4.0, rounds: int = 1,
        seed: int = 0) -> dict[str, float]:
    """Online ELO (order dependent: with rounds > 1, the mean over random orders); a battle of
    weight w is replayed w times (rounded)."""
    ms = list(models) if models is not None else battle_models(battles)
    idx = {m: i for i, m in enumerate(ms)}
    matches = [(idx[b.model_a], idx[b.model_b], b.outcome) for b in battles for _ in range(max(1, round(b.weight)))]
    r = elo_ratings(matches, len(ms), k=k, rounds=rounds, seed=seed, base=BASE)
    return {m: float(r[i]) for i, m in enumerate(ms)}
