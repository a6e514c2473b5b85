"""Arena tables (Arena-Hard-Auto's statistics): Bradley-Terry ratings anchored on a baseline, win
rates vs the baseline with prompt-clustered bootstrap CIs, style control (length and markdown),
per judge and pooled over judges. Reads nothing and writes nothing (``evaluate.arena.results``
writes ``arena.json``; ``evaluate.arena.leaderboard`` renders the tables).

The fit and its conventions (anchor, undefeated / winless models, degenerate style fits) are
``evaluate.arena.bt``'s; the style covariates ``evaluate.arena.battles``'.

Bootstrap. Prompts are resampled (every battle of a drawn prompt, both orders, every judge,
together: the verdicts on one prompt are correlated); battles without a ``prompt_id`` are their own
cluster. A model that is absent or not connected to the anchor in a replicate is skipped there
(``boot_missing`` counts them) and never pinned; a model undefeated in a replicate counts as +inf
there (an unbounded CI end is ``None``). Percentile CIs at level 1 - alpha.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from judgelab.errors import DataError
from judgelab.evaluate.arena.battles import (
    Battle,
    Design,
    battle_models,
    build_design,
    validate_battles,
)
from judgelab.evaluate.arena.bt import (
    BASE,
    SCALE,
    Fit,
    diverges,
    elo,
    fit_battles,
    one_sided_bound,
    quantiles,
    style_degenerate,
    win_rate_vs_base,
)
from judgelab.evaluate.arena.style import STYLE_SETS, StyleMode

log = logging.getLogger(__name__)


def _bootstrap(d: Design, anchor: int | None, n_boot: int, seed: int,
               warnings: list[str]) -> tuple[Fit, np.ndarray]:
    """``n_boot`` fits on prompt-clustered resamples, and their row weights (B, n)."""
    rng = np.random.default_rng(seed)
    if n_boot <= 0:
        return Fit(np.zeros((0, len(d.models))), np.zeros((0, len(d.style_names))), np.zeros(0, dtype=bool)), \
            np.zeros((0, len(d.y)))
    draws = rng.integers(0, d.n_clusters, (n_boot, d.n_clusters))
    counts = np.stack([np.bincount(r, minlength=d.n_clusters) for r in draws]).astype(float)
    boot_w = d.w[None, :] * counts[:, d.cluster]
    boot = fit_battles(d, boot_w, anchor)
    if not boot.converged.all():
        warnings.append(f"{int((~boot.converged).sum())} of {n_boot} bootstrap fits did not converge")
    return boot, boot_w


def _model_row(d: Design, j: int, theta: np.ndarray, gamma: np.ndarray, boot: Fit, anchor: int | None,
               alpha: float, n_boot: int, elo_m: float | None) -> dict[str, Any]:
    """One model's row of a table (see ``arena_table`` for its conventions)."""
    t = theta[j]
    status, bound = "rated", math.nan
    if t == np.inf:
        status, bound = "undefeated", one_sided_bound(d, theta, gamma, j, alpha, upper=False)
    elif t == -np.inf:
        status, bound = "winless", one_sided_bound(d, theta, gamma, j, alpha, upper=True)
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
        ci = [None if v is None else BASE + SCALE * v for v in quantiles(bt, alpha)]
    mine = d.inc[:, j] != 0
    score = np.where(d.inc[mine, j] > 0, d.y[mine], 1 - d.y[mine])
    row: dict[str, Any] = {
        "model": d.models[j], "rating": rating, "ci": ci, "status": status, "elo": elo_m,
        "win_rate": float(np.average(score, weights=d.w[mine])) if mine.any() else None,
        "battles": int(mine.sum()), "weighted_battles": float(d.w[mine].sum()),
        "boot_missing": int(np.isnan(bt).sum()),
    }
    if anchor is not None:
        row["win_rate_vs_baseline"] = None if rating is None else win_rate_vs_base(rating)
        row["win_rate_vs_baseline_ci"] = None if ci is None else [None if v is None else win_rate_vs_base(v) for v in ci]
        if status == "undefeated":
            row["win_rate_vs_baseline_ci"][1] = 1.0
        elif status == "winless":
            row["win_rate_vs_baseline_ci"][0] = 0.0
    return row


def _row_warnings(row: dict[str, Any], n_boot: int, anchored: bool, alpha: float) -> list[str]:
    out = []
    m, status = row["model"], row["status"]
    if row["boot_missing"] and status != "absent":  # absent from the table (another judge's model): nothing to say
        out.append(f"{m}: absent or disconnected in {row['boot_missing']} of {n_boot} bootstrap "
                   "replicates (skipped there)")
    if status in ("undefeated", "winless"):
        side = "lower" if status == "undefeated" else "upper"
        what = "rating and win rate vs the baseline have" if anchored else "rating has"
        out.append(f"{m} is {status} ({'won' if status == 'undefeated' else 'lost'} every battle): its "
                   f"{what} no point estimate, only a one-sided {1 - alpha:.0%} {side} bound (the CI)")
    return out


# an undefeated model's MLE is +inf (its rating is only a lower bound): it ranks above every rated
# model, a winless one below (sorting by the bound put 100/100 below 99/100); among themselves they
# are ordered by their bounds
_RANK = {"undefeated": 0, "winless": 2}


def _rank_key(r: dict[str, Any]) -> tuple[int, float]:
    v = r["rating"] if r["status"] == "rated" else (r["ci"] or [None, None])[0 if r["status"] == "undefeated" else 1]
    return _RANK.get(r["status"], 1), math.inf if v is None else -v


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
    A degenerate style fit (see ``bt.style_degenerate``) adds a warning saying so.
    """
    validate_battles(battles)
    st: StyleMode = style or ("length" if style_control else "none")
    if st not in STYLE_SETS:
        raise DataError(f"unknown style control {st!r}", hint=f"use one of {sorted(STYLE_SETS)}")
    ms = sorted(set(models or []) | {b.model_a for b in battles} | {b.model_b for b in battles})
    if baseline is not None and battles and baseline not in ms:
        raise DataError(f"baseline {baseline!r} plays no battle", where="arena", hint=f"models: {ms}")
    base_row = {"baseline": baseline, "style": st, "centering": centering, "n_battles": len(battles),
                "n_boot": n_boot, "alpha": alpha, "style_control": st != "none"}
    if not battles:
        return {**base_row, "models": [], "style_coefs": {}, "length_coef": None, "n_prompts": 0,
                "style_imputed": 0, "style_dropped": 0, "converged": True, "warnings": []}
    d = build_design(battles, ms, st, centering, missing_style)
    warnings: list[str] = []
    if d.n_imputed:
        warnings.append(f"{d.n_imputed} battle(s) had a missing length or markdown count: imputed with "
                        "the model's mean")
    if d.n_dropped:
        warnings.append(f"{d.n_dropped} battle(s) with a missing length or markdown count left the fit")
    anchor = ms.index(baseline) if baseline is not None else None
    point = fit_battles(d, d.w[None, :], anchor)
    theta, gamma = point.theta[0], point.gamma[0]
    if not point.converged[0]:
        warnings.append("the Bradley-Terry fit did not converge; ratings are approximate")
    if not d.style_names and diverges(theta, gamma):
        # (with style features, style_degenerate says it, with its reasons, in one warning)
        warnings.append("the fit diverges (a rating beyond 15 logits): too few battles for these models")
    boot, boot_w = _bootstrap(d, anchor, n_boot, seed, warnings)
    elos = elo(battles, ms, k=elo_k, rounds=elo_rounds, seed=seed) if elo_rounds > 0 else {m: None for m in ms}
    rows = []
    for j, m in enumerate(ms):
        rows.append(_model_row(d, j, theta, gamma, boot, anchor, alpha, n_boot, elos[m]))
        warnings += _row_warnings(rows[-1], n_boot, anchor is not None, alpha)
    rows.sort(key=_rank_key)
    if d.style_names:
        warnings += style_degenerate(d, theta, gamma, boot, boot_w, anchor, len(STYLE_SETS[st]), alpha)
    coefs = {}
    for k, name in enumerate(d.style_names):
        ci = quantiles(boot.gamma[:, k], alpha) if n_boot else None
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
    models = battle_models(battles)
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
