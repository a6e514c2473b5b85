"""Battles, the arena's input, and the design matrix the Bradley-Terry fit reads. Reads and writes
nothing.

A battle is one verdict per (prompt, judge, order, model pair): ``Battle(model_a, model_b,
outcome, weight=...)`` with outcome = P(a wins) in [0, 1] (1 win, 0 loss, 0.5 tie). ``weight`` is
how many battles the verdict counts as: Arena-Hard-Auto counts a strong verdict (``[[A>>B]]``) as
3 (``judges.aggregate.STRONG_WEIGHT``). A NaN or out-of-range outcome or weight is an error that
names the battle; it is never read as a loss or clipped.

Style covariates (as Arena-Hard-Auto v2.0): per battle ``(len_a - len_b) / (len_a + len_b)`` and,
for markdown, densities ``d = count / (tokens + 1)`` compared as ``(d_a - d_b) / (d_a + d_b + 1)``;
each divided by its standard deviation over the battles, weighted by battle weight as
Arena-Hard's exploded rows are (coefficients are per SD). ``centering='mean'`` subtracts the mean
too, as Arena-Hard does: ratings are then the strength at the *average* style difference of this
battle set, which depends on which models are in it. ``centering='none'`` (default) keeps 0 =
equal style, so a rating is the strength at equal length and markdown. A response with no length
(``None``) is imputed with its model's mean over known responses (``missing_style='impute'``) or
its battles leave the style-controlled fit (``missing_style='drop'``); the count is reported
either way.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from judgelab.errors import DataError
from judgelab.evaluate.arena.style import STYLE_SETS, StyleFeatures, StyleMode

log = logging.getLogger(__name__)


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


def battle_models(battles: Sequence[Battle]) -> list[str]:
    """Every model that plays a battle, sorted."""
    return sorted({b.model_a for b in battles} | {b.model_b for b in battles})


@dataclass
class Design:
    """The battles as the fit reads them."""

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


def style_matrix(battles: Sequence[Battle], models: list[str], names: tuple[str, ...],
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


def build_design(battles: Sequence[Battle], models: list[str], style: StyleMode, centering: str,
                 missing: str) -> Design:
    """Incidence, outcomes, weights, normalised style covariates and prompt clusters of the battles
    (battles without a ``prompt_id`` are their own cluster)."""
    idx = {m: i for i, m in enumerate(models)}
    n, m = len(battles), len(models)
    inc = np.zeros((n, m))
    rows = np.arange(n)
    inc[rows, [idx[b.model_a] for b in battles]] = 1.0
    inc[rows, [idx[b.model_b] for b in battles]] = -1.0
    y = np.array([float(b.outcome) for b in battles])
    w = np.array([float(b.weight) for b in battles])
    names = STYLE_SETS[style]
    raw, keep, n_imp, n_drop = style_matrix(battles, models, names, missing)
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
    return Design(models, inc, y, w, np.stack(cols, axis=1) if cols else np.zeros((n, 0)), kept_names, sds,
                  cluster, len(keys), keep, n_imp, n_drop)
