"""Arena-style pairwise evaluation (Arena-Hard-Auto's statistics): Bradley-Terry ratings anchored
on a baseline, win rates vs the baseline with prompt-clustered bootstrap CIs, style control
(length and markdown), per judge and pooled over judges. Reads nothing and writes nothing
(``judgelab.evaluate.policy_eval`` writes ``eval/arena.json``; ``judgelab arena`` writes its own
folder).

Input: battles, one per (prompt, judge, order, model pair): ``Battle(model_a, model_b, outcome,
weight=...)`` with outcome = P(a wins) in [0, 1] (1 win, 0 loss, 0.5 tie). ``weight`` is how
many battles the verdict counts as: Arena-Hard-Auto counts a strong verdict (``[[A>>B]]``) as 3
(``judges.aggregate.STRONG_WEIGHT``). A NaN or out-of-range outcome or weight is an error that
names the battle; it is never read as a loss or clipped.

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
add one warning saying style control is unreliable; the numbers are those of the fit regardless.

Style control (as Arena-Hard-Auto v2.0, ``show_result.py``): per response the token length and
the markdown counts of headers, list items and bold spans (code blocks removed first, their
regexes); per battle the features ``(len_a - len_b) / (len_a + len_b)`` and, for markdown,
densities ``d = count / (tokens + 1)`` compared as ``(d_a - d_b) / (d_a + d_b + 1)``; each divided
by its standard deviation over the battles, weighted by battle weight as Arena-Hard's exploded
rows are (coefficients are per SD; ``per_unit`` gives them per unit of the feature). ``centering='mean'``
subtracts the mean too, as Arena-Hard does: ratings are then the strength at the *average* style
difference of this battle set, which depends on which models are in it. ``centering='none'``
(default) keeps 0 = equal style, so a rating is the strength at equal length and markdown. A
response with no length (``None``) is imputed with its model's mean over known responses
(``missing_style='impute'``) or its battles leave the style-controlled fit
(``missing_style='drop'``); the count is reported either way. Lengths are tokens: a tokenizer when
given, else ``proxy_tokens`` (each run of word characters and each punctuation mark counts 1).

Bootstrap. Prompts are resampled (every battle of a drawn prompt, both orders, every judge,
together: the verdicts on one prompt are correlated); battles without a ``prompt_id`` are their own
cluster. A model that is absent or not connected to the anchor in a replicate is skipped there
(``boot_missing`` counts them) and never pinned; a model undefeated in a replicate counts as +inf
there (an unbounded CI end is ``None``). Percentile CIs at level 1 - alpha.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from judgelab.errors import DataError
from judgelab.judges.ratings import elo_ratings, fit_logistic_batch

log = logging.getLogger(__name__)

SCALE = 400.0 / math.log(10.0)
BASE = 1000.0
STYLE_FEATURES = ("length", "headers", "lists", "bold")
StyleMode = Literal["none", "length", "markdown", "both"]
_STYLE_SETS: dict[str, tuple[str, ...]] = {"none": (), "length": ("length",), "markdown": ("headers", "lists", "bold"),
                                           "both": STYLE_FEATURES}
_SENTINEL = 1e12  # stands in for +-inf while taking quantiles


# ------------------------------------------------------------------------------------ style features

@dataclass(frozen=True)
class StyleFeatures:
    """What style control reads of one response (None = unknown)."""

    tokens: float | None = None
    headers: int | None = None
    lists: int | None = None
    bold: int | None = None


_CODE = re.compile(r"```([^`]*)```")
_PROXY = re.compile(r"\w+|[^\w\s]")


def proxy_tokens(text: str) -> int:
    """Token count without a tokenizer: runs of word characters plus punctuation marks."""
    return len(_PROXY.findall(text))


def count_tokens(text: str, tokenizer: Any = None) -> int:
    """Tokens of ``text``: ``tokenizer.encode`` (HF tokenizers without special tokens, tiktoken) or a
    callable returning the count; ``proxy_tokens`` when None."""
    if tokenizer is None:
        return proxy_tokens(text)
    if hasattr(tokenizer, "encode"):
        try:
            return len(tokenizer.encode(text, add_special_tokens=False))
        except TypeError:  # tiktoken's encode has no add_special_tokens
            return len(tokenizer.encode(text))
    return int(tokenizer(text))


def markdown_counts(text: str) -> tuple[int, int, int]:
    """(headers, list items, bold spans) as Arena-Hard-Auto's ``add_markdown_info`` counts them."""
    for block in _CODE.findall(text):
        text = text.replace(block, "")
    headers = sum(len(re.findall(rf"^#{{{i}}}\s", text, re.MULTILINE)) for i in range(1, 7))
    lists = len(re.findall(r"^\s*\d+\.\s", text, re.MULTILINE)) + len(re.findall(r"^\s*[-*+]\s", text, re.MULTILINE))
    bold = len(re.findall(r"\*\*[^*\n]+\*\*", text)) + len(re.findall(r"__[^_\n]+__", text))
    return headers, lists, bold


def style_features(text: str, tokenizer: Any = None, tokens: int | None = None) -> StyleFeatures:
    """Style features of one response (``tokens`` given: use that count, e.g. from generation)."""
    h, li, b = markdown_counts(text)
    return StyleFeatures(float(tokens if tokens is not None else count_tokens(text, tokenizer)), h, li, b)


# ------------------------------------------------------------------------------------------ battles

@dataclass
class Battle:
    """One verdict between two models on one prompt. ``len_a``/``len_b`` (token lengths) are the
    old way to give lengths; ``style_a``/``style_b`` carry length and markdown together."""

    model_a: str
    model_b: str
    outcome: float  # P(model_a wins)
    len_a: float | None = None
    len_b: float | None = None
    judge: str = ""
    prompt_id: str = ""
    weight: float = 1.0
    style_a: StyleFeatures | None = None
    style_b: StyleFeatures | None = None

    def styles(self) -> tuple[StyleFeatures, StyleFeatures]:
        a = self.style_a or StyleFeatures(tokens=self.len_a)
        b = self.style_b or StyleFeatures(tokens=self.len_b)
        return a, b


def _where(i: int, b: Battle) -> str:
    return f"battle #{i} (prompt {b.prompt_id or '?'}, {b.model_a} vs {b.model_b}, judge {b.judge or '?'})"


def validate_battles(battles: Sequence[Battle]) -> None:
    """Raise DataError naming the first battle whose outcome or weight is unusable."""
    for i, b in enumerate(battles):
        o = b.outcome
        if not isinstance(o, numbers.Real) or math.isnan(o):
            raise DataError(f"outcome is {o!r}, not a number", where=_where(i, b),
                            hint="drop battles whose verdict failed instead of passing NaN")
        if not 0.0 <= o <= 1.0:
            raise DataError(f"outcome {o!r} is outside [0, 1]", where=_where(i, b),
                            hint="outcome is P(model_a wins): 1 win, 0 loss, 0.5 tie")
        w = b.weight
        if not isinstance(w, numbers.Real) or not math.isfinite(w) or w <= 0:
            raise DataError(f"weight {w!r} is not a positive number", where=_where(i, b),
                            hint="weight counts battles: 1, or 3 for a strong verdict")
        if b.model_a == b.model_b:
            raise DataError(f"a model plays itself ({b.model_a})", where=_where(i, b))


# ------------------------------------------------------------------------------------------- design

@dataclass
class _Design:
    models: list[str]
    inc: np.ndarray  # (n, m): +1 model_a, -1 model_b
    y: np.ndarray
    w: np.ndarray
    style: np.ndarray  # (n, f) normalised
    style_names: list[str]
    style_sd: list[float]
    cluster: np.ndarray  # (n,) cluster index
    n_clusters: int
    keep: np.ndarray  # rows in the fit (missing_style='drop' removes some)
    n_imputed: int
    n_dropped: int


def _raw_style(battles: Sequence[Battle], models: list[str], names: tuple[str, ...],
               missing: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(n, f) battle-level style features (before normalisation), kept rows, imputed, dropped."""
    n = len(battles)
    fields = ("tokens", "headers", "lists", "bold")
    vals = np.full((n, 2, 4), np.nan)
    for r, b in enumerate(battles):
        for s, st in enumerate(b.styles()):
            vals[r, s] = [np.nan if getattr(st, f) is None else float(getattr(st, f)) for f in fields]
    # tokens are needed by every feature (markdown densities divide by them)
    need_f = np.array([bool(names), "headers" in names, "lists" in names, "bold" in names])
    miss = np.isnan(vals) & need_f[None, None, :]
    keep = np.ones(n, dtype=bool)
    n_imp = n_drop = 0
    if miss.any():
        if missing == "drop":
            keep = ~miss.any(axis=(1, 2))
            n_drop = int((~keep).sum())
        else:
            # a missing value takes its model's mean over that model's known responses (else the
            # overall mean): 0 would read as 'empty response' and swing the feature to +-1
            owner = np.array([[b.model_a, b.model_b] for b in battles], dtype=object)
            for f in np.flatnonzero(need_f):
                col = vals[:, :, f]
                overall = np.nanmean(col) if np.isfinite(col).any() else 0.0
                for m in models:
                    sel = owner == m
                    known = col[sel & ~np.isnan(col)]
                    fill = float(known.mean()) if len(known) else float(overall)
                    col[sel & np.isnan(col)] = fill
            n_imp = int(miss.any(axis=(1, 2)).sum())
            vals = np.where(np.isnan(vals), 0.0, vals)
    vals = np.where(np.isnan(vals), 0.0, vals)
    tok_a, tok_b = vals[:, 0, 0], vals[:, 1, 0]
    cols = []
    for name in names:
        if name == "length":
            tot = tok_a + tok_b
            cols.append(np.where(tot > 0, (tok_a - tok_b) / np.where(tot > 0, tot, 1.0), 0.0))
        else:
            f = 1 + ("headers", "lists", "bold").index(name)
            da, db = vals[:, 0, f] / (tok_a + 1.0), vals[:, 1, f] / (tok_b + 1.0)
            cols.append((da - db) / (da + db + 1.0))
    return (np.stack(cols, axis=1) if cols else np.zeros((n, 0))), keep, n_imp, n_drop


def _design(battles: Sequence[Battle], models: list[str], style: StyleMode, centering: str, missing: str) -> _Design:
    idx = {m: i for i, m in enumerate(models)}
    n, m = len(battles), len(models)
    inc = np.zeros((n, m))
    rows = np.arange(n)
    inc[rows, [idx[b.model_a] for b in battles]] = 1.0
    inc[rows, [idx[b.model_b] for b in battles]] = -1.0
    y = np.array([float(b.outcome) for b in battles])
    w = np.array([float(b.weight) for b in battles])
    names = _STYLE_SETS[style]
    raw, keep, n_imp, n_drop = _raw_style(battles, models, names, missing)
    cols, kept_names, sds = [], [], []
    fw = w[keep]  # frequency weights: a strong verdict is 3 battles, as Arena-Hard's exploded rows
    for j, name in enumerate(names):
        v = raw[keep, j]
        mean = float(np.average(v, weights=fw)) if len(v) else 0.0
        sd = math.sqrt(float((fw * (v - mean) ** 2).sum()) / (fw.sum() - 1)) if fw.sum() > 1 else 0.0
        if not sd > 1e-12:
            log.info("style feature %r is constant over the battles: left out of the fit", name)
            continue
        c = raw[:, j] - (mean if centering == "mean" else 0.0)
        cols.append(c / sd)
        kept_names.append(name)
        sds.append(sd)
    keys: dict[str, int] = {}
    cluster = np.array([keys.setdefault(b.prompt_id if b.prompt_id else f"\0battle{i}", len(keys))
                        for i, b in enumerate(battles)], dtype=int)
    return _Design(models, inc, y, w, np.stack(cols, axis=1) if cols else np.zeros((n, 0)), kept_names, sds,
                   cluster, len(keys), keep, n_imp, n_drop)


# ---------------------------------------------------------------------------------------------- fit

@dataclass
class _Fit:
    theta: np.ndarray  # (B, m): finite, +inf (undefeated), -inf (winless), nan (absent/disconnected)
    gamma: np.ndarray  # (B, f)
    converged: np.ndarray  # (B,)


def _fit(d: _Design, W: np.ndarray, anchor: int | None) -> _Fit:
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
    return _Fit(theta, res.coef[:, m:], res.converged)


_HUGE_COEF = 5.0  # logits per SD of a style feature: a 1-SD style difference multiplying the odds by e^5
_DIVERGED_THETA, _DIVERGED_GAMMA = 15.0, 10.0  # beyond these the likelihood kept rising: Newton stopped on a flat slope


def _diverges(theta: np.ndarray, gamma: np.ndarray) -> np.ndarray | bool:
    """Quasi-separation: a finite rating beyond 15 logits or a style coefficient beyond 10 (per row
    for a stack of fits, else one bool). Newton reports 'converged' there, on a flat slope."""
    th = np.where(np.isfinite(theta), np.abs(theta), 0.0)
    ga = np.abs(gamma) if np.size(gamma) else np.zeros(np.shape(theta)[:-1] + (1,))
    out = (th.max(axis=-1, initial=0.0) > _DIVERGED_THETA) | (ga.max(axis=-1, initial=0.0) > _DIVERGED_GAMMA)
    return bool(out) if np.ndim(out) == 0 else out


def _style_degenerate(d: _Design, theta: np.ndarray, gamma: np.ndarray, boot: _Fit, boot_w: np.ndarray,
                      anchor: int | None, n_requested: int, alpha: float) -> list[str]:
    """One warning when the style-controlled fit cannot be trusted, with its reasons: fewer prompts
    than style features + 2; no battle between two rated models (the coefficients are not
    estimated); a coefficient or a CI end beyond ``_HUGE_COEF`` or unbounded (quasi-separation:
    style and model identity nearly collinear); more than alpha of the bootstrap fits diverging; or
    a rated model's rating CI more than 3 times (and 4 logits) wider than without style control
    (same resamples). Changes no number."""
    why = []
    if _diverges(theta, gamma):
        why.append("the fit diverges (a rating beyond 15 logits or a style coefficient beyond 10)")
    if d.n_clusters < n_requested + 2:
        why.append(f"{d.n_clusters} prompt(s) for {n_requested} style feature(s)")
    live = d.keep & (np.abs(d.inc) @ (~np.isfinite(theta)).astype(float) == 0)
    if not live.any():
        why.append("no battle between two rated models, so the style coefficients are not estimated")
    for k, name in enumerate(d.style_names):
        ends = _quantiles(boot.gamma[:, k], alpha) if len(boot.gamma) else []
        if abs(gamma[k]) > _HUGE_COEF or any(v is None or abs(v) > _HUGE_COEF for v in ends):
            shown = ", ".join("inf" if v is None else f"{v:+.1f}" for v in ends)
            why.append(f"the {name} coefficient ({gamma[k]:+.1f}" + (f", CI [{shown}]" if ends else "")
                       + ") is huge or unbounded (quasi-separation)")
    if len(boot.theta):
        div = _diverges(boot.theta, boot.gamma)
        if div.mean() > alpha:
            why.append(f"{int(div.sum())} of {len(div)} bootstrap fits diverge")

        def width(v: np.ndarray) -> float:
            lo, hi = _quantiles(v, alpha)
            return math.inf if lo is None or hi is None else hi - lo

        wide = {j: ws for j in range(len(d.models)) if j != anchor and np.isfinite(theta[j])
                and (ws := width(boot.theta[:, j])) > 4.0}
        if wide:  # the no-style bootstrap (a second fit of every resample) only when some CI is wide enough to ask
            ref = _fit(replace(d, style=np.zeros((len(d.y), 0)), style_names=[], style_sd=[]), boot_w, anchor).theta
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


def _bound(d: _Design, theta: np.ndarray, gamma: np.ndarray, j: int, alpha: float, upper: bool) -> float:
    """One-sided bound on model j's theta: where winning (losing) all its battles has probability alpha."""
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

    def loglik(t: float) -> float:
        z = (t - opp_theta) + sign * offset  # logit of 'j wins' at theta_j = t
        return float(-(d.w[rows] * (y_j * np.logaddexp(0, -z) + (1 - y_j) * np.logaddexp(0, z))).sum())

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


def _quantiles(v: np.ndarray, alpha: float) -> list[float | None]:
    v = v[~np.isnan(v)]
    if not len(v):
        return [None, None]
    q = np.quantile(np.clip(v, -_SENTINEL, _SENTINEL), [alpha / 2, 1 - alpha / 2])
    return [None if abs(x) >= _SENTINEL / 2 else float(x) for x in q]


def _win_rate(rating: float) -> float:
    """Win rate vs the baseline (rating 1000) of a model at ``rating``."""
    return float(_sigmoid(np.array((rating - BASE) / SCALE)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------------------------------------------ tables

def bradley_terry(battles: Sequence[Battle], models: Sequence[str] | None = None, *, style_control: bool = False,
                  baseline: str | None = None, style: StyleMode | None = None, centering: str = "none",
                  missing_style: str = "impute") -> tuple[dict[str, float], float | None]:
    """BT ratings (ELO scale; baseline = 1000, else mean 1000) and the length coefficient per SD
    (None without length control). Undefeated / winless models come back as +-inf."""
    validate_battles(battles)
    ms = list(models) if models is not None else sorted({b.model_a for b in battles} | {b.model_b for b in battles})
    if not battles:
        return {m: BASE for m in ms}, None
    st: StyleMode = style or ("length" if style_control else "none")
    d = _design(battles, ms, st, centering, missing_style)
    anchor = ms.index(baseline) if baseline is not None else None
    fit = _fit(d, d.w[None, :], anchor)
    if not fit.converged[0]:
        log.warning("Bradley-Terry fit did not converge")
    ratings = {m: float(BASE + SCALE * t) for m, t in zip(ms, fit.theta[0])}
    coef = float(fit.gamma[0][d.style_names.index("length")]) if "length" in d.style_names else None
    return ratings, coef


def elo(battles: Sequence[Battle], models: Sequence[str] | None = None, *, k: float = 4.0, rounds: int = 1,
        seed: int = 0) -> dict[str, float]:
    """Online ELO (order dependent: with rounds > 1, the mean over random orders); a battle of
    weight w is replayed w times (rounded)."""
    ms = list(models) if models is not None else sorted({b.model_a for b in battles} | {b.model_b for b in battles})
    idx = {m: i for i, m in enumerate(ms)}
    matches = [(idx[b.model_a], idx[b.model_b], b.outcome) for b in battles for _ in range(max(1, round(b.weight)))]
    r = elo_ratings(matches, len(ms), k=k, rounds=rounds, seed=seed, base=BASE)
    return {m: float(r[i]) for i, m in enumerate(ms)}


def arena_table(battles: Sequence[Battle], *, baseline: str | None = None, style: StyleMode | None = None,
                style_control: bool = False, centering: Literal["none", "mean"] = "none",
                missing_style: Literal["impute", "drop"] = "impute", n_boot: int = 200, alpha: float = 0.05,
                seed: int = 0, elo_k: float = 4.0, elo_rounds: int = 8,
                models: Sequence[str] | None = None, log_warnings: bool = True) -> dict[str, Any]:
    """BT ratings anchored on ``baseline``, win rates vs it, bootstrap CIs over prompts, style
    coefficients with CIs, ELO.

    Returns {"models": [{model, rating, ci, win_rate_vs_baseline, win_rate_vs_baseline_ci, status,
    elo, win_rate (observed weighted score), battles, weighted_battles, boot_missing}, ...] best
    first, "baseline", "style", "style_coefs": {feature: {coef, ci, per_unit}}, "length_coef",
    "n_battles", "n_prompts", "n_boot", "alpha", "style_imputed", "style_dropped", "converged",
    "warnings"}. ``style_control=True`` is the old spelling of ``style='length'``. ``elo_rounds=0``
    skips the online ELO column (None). ``log_warnings=False``: the warnings are only returned (the
    caller shows them).

    Conventions: an ``undefeated`` / ``winless`` model has no point estimate: ``rating`` and
    ``win_rate_vs_baseline`` are None and the one-sided bound is the CI's finite end (``ci`` =
    [bound, None] / [None, bound], ``win_rate_vs_baseline_ci`` = [bound, 1.0] / [0.0, bound]); such
    models rank first / last, ordered by their bounds. Without a bootstrap (``n_boot=0``) a rated
    model's ``ci`` and ``win_rate_vs_baseline_ci`` and every style coefficient's ``ci`` are None.
    A degenerate style fit (see ``_style_degenerate``) adds a warning saying so.
    """
    validate_battles(battles)
    st: StyleMode = style or ("length" if style_control else "none")
    if st not in _STYLE_SETS:
        raise DataError(f"unknown style control {st!r}", hint=f"use one of {sorted(_STYLE_SETS)}")
    ms = sorted(set(models or []) | {b.model_a for b in battles} | {b.model_b for b in battles})
    if baseline is not None and battles and baseline not in ms:
        raise DataError(f"baseline {baseline!r} plays no battle", where="arena", hint=f"models: {ms}")
    warnings: list[str] = []
    base_row = {"baseline": baseline, "style": st, "centering": centering, "n_battles": len(battles),
                "n_boot": n_boot, "alpha": alpha, "style_control": st != "none"}
    if not battles:
        return {**base_row, "models": [], "style_coefs": {}, "length_coef": None, "n_prompts": 0,
                "style_imputed": 0, "style_dropped": 0, "converged": True, "warnings": []}
    d = _design(battles, ms, st, centering, missing_style)
    if d.n_imputed:
        warnings.append(f"{d.n_imputed} battle(s) had a missing length or markdown count: imputed with "
                        "the model's mean")
    if d.n_dropped:
        warnings.append(f"{d.n_dropped} battle(s) with a missing length or markdown count left the fit")
    anchor = ms.index(baseline) if baseline is not None else None
    point = _fit(d, d.w[None, :], anchor)
    theta, gamma = point.theta[0], point.gamma[0]
    if not point.converged[0]:
        warnings.append("the Bradley-Terry fit did not converge; ratings are approximate")
    if not d.style_names and _diverges(theta, gamma):
        # (with style features, _style_degenerate says it, with its reasons, in one warning)
        warnings.append("the fit diverges (a rating beyond 15 logits): too few battles for these models")
    rng = np.random.default_rng(seed)
    boot_w = np.zeros((0, len(battles)))
    if n_boot > 0:
        draws = rng.integers(0, d.n_clusters, (n_boot, d.n_clusters))
        counts = np.stack([np.bincount(r, minlength=d.n_clusters) for r in draws]).astype(float)
        boot_w = d.w[None, :] * counts[:, d.cluster]
        boot = _fit(d, boot_w, anchor)
        if not boot.converged.all():
            warnings.append(f"{int((~boot.converged).sum())} of {n_boot} bootstrap fits did not converge")
    else:
        boot = _Fit(np.zeros((0, len(ms))), np.zeros((0, len(d.style_names))), np.zeros(0, dtype=bool))
    elos = elo(battles, ms, k=elo_k, rounds=elo_rounds, seed=seed) if elo_rounds > 0 else {m: None for m in ms}
    rows = []
    for j, m in enumerate(ms):
        t = theta[j]
        status, bound = "rated", math.nan
        if t == np.inf:
            status, bound = "undefeated", _bound(d, theta, gamma, j, alpha, upper=False)
        elif t == -np.inf:
            status, bound = "winless", _bound(d, theta, gamma, j, alpha, upper=True)
        elif np.isnan(t):
            status = "absent" if not (d.inc[:, j] != 0).any() else "disconnected"
        # one-sided models have no point estimate (their MLE is +-inf): rating None, the bound in the CI
        # (NaN bound: no rated opponent to bound against)
        rating = float(BASE + SCALE * t) if status == "rated" else None
        lim = None if math.isnan(bound) else float(BASE + SCALE * bound)
        bt = boot.theta[:, j]
        ci: list[float | None] | None = None  # no bootstrap: no CI
        if status == "undefeated":
            ci = [lim, None]
        elif status == "winless":
            ci = [None, lim]
        elif n_boot:
            ci = [None if v is None else BASE + SCALE * v for v in _quantiles(bt, alpha)]
        mine = d.inc[:, j] != 0
        score = np.where(d.inc[mine, j] > 0, d.y[mine], 1 - d.y[mine])
        row: dict[str, Any] = {
            "model": m, "rating": rating, "ci": ci, "status": status, "elo": elos[m],
            "win_rate": float(np.average(score, weights=d.w[mine])) if mine.any() else None,
            "battles": int(mine.sum()), "weighted_battles": float(d.w[mine].sum()),
            "boot_missing": int(np.isnan(bt).sum()),
        }
        if anchor is not None:
            row["win_rate_vs_baseline"] = None if rating is None else _win_rate(rating)
            row["win_rate_vs_baseline_ci"] = None if ci is None else [None if v is None else _win_rate(v) for v in ci]
            if status == "undefeated":
                row["win_rate_vs_baseline_ci"][1] = 1.0
            elif status == "winless":
                row["win_rate_vs_baseline_ci"][0] = 0.0
        rows.append(row)
        if row["boot_missing"]:
            warnings.append(f"{m}: absent or disconnected in {row['boot_missing']} of {n_boot} bootstrap "
                            "replicates (skipped there)")
        if status in ("undefeated", "winless"):
            side = "lower" if status == "undefeated" else "upper"
            what = "rating and win rate vs the baseline have" if anchor is not None else "rating has"
            warnings.append(f"{m} is {status} ({'won' if status == 'undefeated' else 'lost'} every battle): its "
                            f"{what} no point estimate, only a one-sided {1 - alpha:.0%} {side} bound (the CI)")
    # an undefeated model's MLE is +inf (its rating is only a lower bound): it ranks above every
    # rated model, a winless one below (sorting by the bound put 100/100 below 99/100); among
    # themselves they are ordered by their bounds
    rank = {"undefeated": 0, "winless": 2}

    def strength(r: dict[str, Any]) -> float:
        v = r["rating"] if r["status"] == "rated" else (r["ci"] or [None, None])[0 if r["status"] == "undefeated" else 1]
        return -math.inf if v is None else v

    rows.sort(key=lambda r: (rank.get(r["status"], 1), -strength(r)))
    if d.style_names:
        warnings += _style_degenerate(d, theta, gamma, boot, boot_w, anchor, len(_STYLE_SETS[st]), alpha)
    coefs = {}
    for k, name in enumerate(d.style_names):
        ci = _quantiles(boot.gamma[:, k], alpha) if n_boot else None
        coefs[name] = {"coef": float(gamma[k]), "ci": ci, "per_unit": float(gamma[k] / d.style_sd[k]), "sd": d.style_sd[k]}
    if log_warnings:
        for w in warnings:
            log.warning("arena: %s", w)
    return {**base_row, "models": rows, "style_coefs": coefs,
            "length_coef": coefs.get("length", {}).get("coef"), "n_prompts": d.n_clusters,
            "style_imputed": d.n_imputed, "style_dropped": d.n_dropped,
            "converged": bool(point.converged[0]), "warnings": warnings}


def arena_by_judge(battles: Sequence[Battle], **kw: Any) -> dict[str, dict[str, Any]]:
    """One arena table per judge (``Battle.judge``)."""
    out: dict[str, dict[str, Any]] = {}
    for j in sorted({b.judge for b in battles}):
        out[j] = arena_table([b for b in battles if b.judge == j], **kw)
    return out


def report_warnings(report: dict[str, Any]) -> list[str]:
    """Every distinct warning of a report once: the pooled table's, then each judge's own (prefixed
    with the judge when there are several)."""
    out = list(report["pooled"]["warnings"])
    several = len(report["judges"]) > 1
    for j, t in report["judges"].items():
        out += [f"judge {j}: {w}" if several else w for w in t["warnings"] if w not in report["pooled"]["warnings"]]
    return list(dict.fromkeys(out))


def arena_report(battles: Sequence[Battle], *, log_warnings: bool = True, **kw: Any) -> dict[str, Any]:
    """Tables per judge, one pooled over all judges (every judge's battles in one fit, prompts
    resampled across judges together), and the judges x models matrix of win rates vs the
    baseline (ratings without a baseline; None for an undefeated / winless model). Each distinct
    warning is logged once (``log_warnings=False``: not at all; ``report_warnings`` lists them)."""
    validate_battles(battles)
    models = sorted({b.model_a for b in battles} | {b.model_b for b in battles})
    judges = arena_by_judge(battles, models=models, log_warnings=False, **kw)
    pooled = arena_table(battles, models=models, log_warnings=False, **kw)
    key = "win_rate_vs_baseline" if kw.get("baseline") else "rating"
    matrix = {j: {r["model"]: r.get(key) for r in t["models"]} for j, t in judges.items()}
    matrix["pooled"] = {r["model"]: r.get(key) for r in pooled["models"]}
    report = {"judges": judges, "pooled": pooled, "matrix": {"value": key, "rows": matrix}}
    if log_warnings:
        for w in report_warnings(report):
            log.warning("arena: %s", w)
    return report


# ----------------------------------------------------------------------------------------- rendering

def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}"


def leaderboard_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows (one per table x model) for CSV."""
    out = []
    tables = [("pooled", report["pooled"])] + list(report["judges"].items())
    for name, t in tables:
        for r in t["models"]:
            wr_ci = r.get("win_rate_vs_baseline_ci") or [None, None]
            ci = r["ci"] or [None, None]
            out.append({"judge": name, "model": r["model"], "rating": r["rating"], "rating_lo": ci[0],
                        "rating_hi": ci[1], "win_rate_vs_baseline": r.get("win_rate_vs_baseline"),
                        "win_rate_lo": wr_ci[0], "win_rate_hi": wr_ci[1], "status": r["status"],
                        "observed_score": r["win_rate"], "battles": r["battles"],
                        "weighted_battles": r["weighted_battles"], "boot_missing": r["boot_missing"]})
    return out


def leaderboard_markdown(report: dict[str, Any]) -> str:
    """The pooled leaderboard, one per judge, the judges x models matrix and style coefficients."""
    lines: list[str] = []
    tables = [("pooled over judges", report["pooled"])] + [(f"judge: {j}", t) for j, t in report["judges"].items()]
    for name, t in tables:
        conf = f"{1 - t['alpha']:.0%}"
        lines += [f"### {name}", "",
                  f"| model | win rate vs {t['baseline'] or '–'} (%) | {conf} CI | rating | {conf} CI | status | battles |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in t["models"]:
            wci, ci = r.get("win_rate_vs_baseline_ci"), r["ci"]
            lines.append(f"| {r['model']} | {_pct(r.get('win_rate_vs_baseline'))} | "
                         + ("–" if wci is None else f"[{_pct(wci[0])}, {_pct(wci[1])}]") + f" | {_num(r['rating'])} | "
                         + ("–" if ci is None else f"[{_num(ci[0])}, {_num(ci[1])}]") + f" | {r['status']} | {r['battles']} |")
        if t["style_coefs"]:
            parts = [f"{k} {v['coef']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}]" if v["ci"] and None not in v["ci"]
                     else f"{k} {v['coef']:+.3f}" + ("" if v["ci"] else " (no CI)") for k, v in t["style_coefs"].items()]
            lines += ["", f"style coefficients (logit per SD, {conf} CI): " + "; ".join(parts)]
        lines.append("")
    mx = report["matrix"]
    models = sorted({m for row in mx["rows"].values() for m in row})
    lines += [f"### {mx['value'].replace('_', ' ')}: judges x models", "",
              "| judge | " + " | ".join(models) + " |", "| --- |" + " --- |" * len(models)]
    for j, row in mx["rows"].items():
        fmt = _pct if mx["value"] == "win_rate_vs_baseline" else _num
        lines.append(f"| {j} | " + " | ".join(fmt(row.get(m)) for m in models) + " |")
    return "\n".join(lines) + "\n"
