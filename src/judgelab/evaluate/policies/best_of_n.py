"""Best-of-N with a judge: how much does picking the best of N samples by a judge buy in gold?

For every prompt a pool of candidate responses: ``max(ns)`` sampled from a model spec at a
temperature, or all of the prompt's rows in a responses file (not cut to ``max(ns)``, so that a
curve point does not depend on the other N asked for). For each N in ``ns`` and each of ``draws`` random
N-subsets of the pool, the *selector* judge picks one candidate:

- ``pointwise``: the highest score (ties broken at random, seeded);
- ``knockout``: a single-elimination bracket of pairwise comparisons in random seeding (a bye
  when the round is odd), each comparison judged in both orders (``aggregate.pair_outcome``:
  P(first wins); 0.5 = a tie, decided by a seeded coin);
- ``tournament``: every pair compared (both orders), Bradley-Terry strengths
  (``ratings.bradley_terry_probs``); the strongest wins.

The *gold* judge (default: the rubric gold) scores every candidate once; the pick's gold score,
normalised to [0, 1], is the curve. References: the *oracle* pick (best gold in the subset:
the ceiling any selector can reach) and the *random* pick (the subset's mean gold: the expected
value of picking blindly, the floor). Means over prompts with 95% bootstrap CIs by prompt (each
prompt's value is first averaged over its draws).

Pairwise outcomes are judged once per (prompt, pair) and reused across subsets and N. Each
subset, and each random choice made on it (ties, knockout seeding), depends only on (seed,
prompt, N, draw): a curve point is the same whatever other N were asked for. An N larger than
every prompt's pool is dropped (said, and listed under ``dropped_ns``); when none is left, an error.

Reads: a responses JSONL (``prompt_id``, ``prompt``, ``response``, optional ``family``,
``constraints``, ``error``) or a model spec + prompt source. Writes ``<out>/best_of_n.json``
(``results.BestOfNResult``, schema ``judgelab.best_of_n/v1``) and ``<out>/best_of_n.png``; when it sampled the candidates,
also ``<out>/candidates.jsonl`` (reusable with ``responses:`` to compare another selector).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from judgelab.config import StrictModel
from judgelab.models.devices import Device
from judgelab.data.prompts import PromptsConfig
from judgelab.data.rundir import writable_dir
from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.policies.results import BestOfNResult
from judgelab.evaluate.policies.selection import (PairCache, argmax_pick, pick_tournament, pointwise_scores,
                                                  run_knockouts, seeded_rng)
from judgelab.judges.base import Judge

log = logging.getLogger(__name__)

SCHEMA = BestOfNResult.expected_schema()
Method = Literal["pointwise", "knockout", "tournament"]


class BestOfNConfig(StrictModel):
    """Best-of-N selection by a judge, scored by the gold."""

    selector: Any = Field(..., description="The judge that picks (any judge spec, see judgelab.judges.registry).")
    gold: Any = Field(None, description="The judge that scores the pick (default: the rubric gold).")
    methods: list[Method] = Field(default_factory=lambda: ["pointwise"],
                                  description="Selection rules: pointwise, knockout, tournament.")
    ns: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16, 32], description="The N values (a sampled pool = the largest).")
    draws: int = Field(4, ge=1, description="Random N-subsets of the pool per prompt and N (averaged).")
    responses: str | None = Field(None, description="Candidates from this responses JSONL (instead of sampling a model).")
    model: str | None = Field(None, description="Candidates sampled from this model spec (with prompts below).")
    prompts: PromptsConfig = Field(default_factory=lambda: PromptsConfig(split="test", limit=16),
                                   description="Prompts for model sampling; the limit keeps a family-balanced subset.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the candidates.")
    max_new_tokens: int = Field(48, ge=1)
    batch_size: int = Field(32, ge=1)
    device: Device = "auto"
    seed: int = 0
    bootstrap: int = Field(1000, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> "BestOfNConfig":
        if self.responses and self.model:  # the file would win and the model be ignored without a word
            raise ValueError("give either responses (candidates read from a file) or model (candidates sampled), "
                             "not both")
        return self


# ------------------------------------------------------------------------------------ candidates

def load_candidates(cfg: BestOfNConfig) -> dict[str, list[dict[str, Any]]]:
    """prompt id -> candidate rows (prompt, response, family, constraints): max(ns) sampled, or all of a file's.

    Rows with an ``error`` are failed samples, skipped; any other row needs a string ``response``.
    """
    pool = max(cfg.ns)
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    if cfg.responses:
        from judgelab.data.jsonl import iter_jsonl

        path = Path(cfg.responses)
        if not path.exists():
            raise DataError("responses file not found", where=str(path), hint="give a JSONL of prompt_id/prompt/response rows")
        for line, r in iter_jsonl(path):
            if r.get("error"):
                continue
            if r.get("response") is None:
                raise DataError("response is missing/null (a string is required)", where=f"{path}:{line}",
                                hint="every row needs prompt_id, prompt, response; a failed sample carries an error field")
            if not isinstance(r["response"], str):
                raise DataError(f"response is a {type(r['response']).__name__} (a string is required)", where=f"{path}:{line}")
            if "prompt_id" not in r or "prompt" not in r:
                raise DataError("row lacks prompt_id or prompt", where=f"{path}:{line}", hint="every row needs prompt_id, prompt, response")
            by_prompt.setdefault(str(r["prompt_id"]), []).append(r)
    else:
        from judgelab.evaluate.scoring import sample_checkpoint

        prompts = cfg.prompts.load()  # a limit keeps a family-balanced subset (load_prompts)
        if not prompts:
            raise DataError("no prompts left after filtering", where=cfg.prompts.source, hint="check prompts.split / limit")
        rows = sample_checkpoint(cfg.model or "", prompts, max_new_tokens=cfg.max_new_tokens, k=pool, greedy=False,
                                 temperature=cfg.temperature, seed=cfg.seed, batch_size=cfg.batch_size, device=cfg.device,
                                 label="best-of-n")
        for r in rows:
            if not r.get("error"):
                by_prompt.setdefault(r["prompt_id"], []).append(r)
    return by_prompt



def feasible_ns(ns: Sequence[int], cands: dict[str, list[dict[str, Any]]], where: str) -> tuple[list[int], list[int]]:
    """(the N some prompt can fill, the N none can); DataError when no N is left."""
    most = max((len(c) for c in cands.values()), default=0)
    ok, dropped = [n for n in sorted(set(ns)) if n <= most], [n for n in sorted(set(ns)) if n > most]
    if not ok:
        raise DataError(f"no prompt has {min(dropped)} candidates (most: {most})", where=where,
                        hint=f"use --n <= {most} or sample more")
    if dropped:
        log.warning("N=%s dropped: no prompt has that many candidates (most: %d)", ", ".join(map(str, dropped)), most)
    short = {p: len(c) for p, c in cands.items() if len(c) < max(ok)}
    if short:
        log.warning("%d prompts have fewer than %d candidates (e.g. %s: %d); they enter only the N they can fill",
                    len(short), max(ok), *next(iter(short.items())))
    return ok, dropped


# ------------------------------------------------------------------------------------ the study

Subsets = dict[tuple[str, int, int], list[int]]  # (prompt, N, draw) -> candidate indices


def _draw_subsets(cfg: BestOfNConfig, ns: list[int], cands: dict[str, list[dict[str, Any]]]) -> tuple[Subsets, dict[str, set[int]]]:
    """The N-subsets every method picks from, and per prompt the candidates some subset holds."""
    # The same subsets for every method: their differences are the selectors', not the draws'.
    # Each is drawn from its own (seed, prompt, N, draw) generator: the same whatever other N are asked for.
    subsets: Subsets = {}
    for n in ns:
        for p, cs in cands.items():
            if len(cs) >= n:
                for d in range(cfg.draws if n < len(cs) else 1):
                    subsets[(p, n, d)] = sorted(seeded_rng(cfg.seed, p, n, d).sample(range(len(cs)), n))
    # Only candidates some subset holds are judged (a file may hold many more rows than max N).
    used: dict[str, set[int]] = {}
    for (p, _, _), sub in subsets.items():
        used.setdefault(p, set()).update(sub)
    return subsets, used


def _pick(m: str, cfg: BestOfNConfig, selector: Judge, cands: dict[str, list[dict[str, Any]]], subsets: Subsets,
          used: dict[str, set[int]]) -> tuple[dict[tuple[str, int, int], int], int]:
    """Method ``m``'s pick in every subset, and the judge calls it took."""
    # Ties and bracket seeding: one generator per subset (and method), as for the subsets.
    mrng = {k: seeded_rng(cfg.seed + 1, m, *k) for k in subsets}
    if m == "pointwise":
        sel = pointwise_scores(selector, cands, "selector", used)
        picks = {k: s[argmax_pick([sel[k[0]][i] for i in s], mrng[k])] for k, s in subsets.items()}
        return picks, sum(len(u) for u in used.values())
    pairs = PairCache(selector, cands)
    if m == "tournament":
        pairs.fetch([(k[0], a, b) for k, s in subsets.items() for x, a in enumerate(s) for b in s[x + 1:]])
        picks = {k: pick_tournament(pairs, k[0], s) for k, s in subsets.items()}
    else:
        keys = list(subsets)
        brackets = [(k[0], mrng[k].sample(subsets[k], len(subsets[k]))) for k in keys]
        picks = dict(zip(keys, run_knockouts(pairs, brackets, [mrng[k] for k in keys])))
    return picks, pairs.calls


def _curve(cfg: BestOfNConfig, ns: list[int], cands: dict[str, list[dict[str, Any]]], subsets: Subsets,
           value: Callable[[tuple[str, int, int], list[int]], float | None]) -> list[dict[str, Any]]:
    """Per N: the mean over prompts of ``value`` (first averaged over a prompt's draws), with its CI."""
    from judgelab.evaluate.stats import bootstrap_mean_ci

    rows = []
    for n in ns:
        per_prompt = []
        for p in cands:
            vals = [value(k, s) for k, s in subsets.items() if k[0] == p and k[1] == n]
            vals = [v for v in vals if v is not None]
            if vals:
                per_prompt.append(float(np.mean(vals)))
        rows.append({"n": n, "gold": float(np.mean(per_prompt)) if per_prompt else None,
                     "ci": bootstrap_mean_ci(per_prompt, n_boot=cfg.bootstrap, seed=cfg.seed), "prompts": len(per_prompt)})
    return rows


def _study(cfg: BestOfNConfig, cands: dict[str, list[dict[str, Any]]], ns: list[int], dropped_ns: list[int],
           selector: Judge, gold: Judge, t0: float) -> dict[str, Any]:
    """Every method's picks and the curves of best_of_n.json (its content, as written)."""
    subsets, used = _draw_subsets(cfg, ns, cands)
    t_gold = time.perf_counter()
    gold_scores = pointwise_scores(gold, cands, "gold", used)
    t_gold = time.perf_counter() - t_gold
    picks: dict[str, dict[tuple[str, int, int], int]] = {}
    cost: dict[str, dict[str, float]] = {}
    for m in cfg.methods:
        t1 = time.perf_counter()
        picks[m], calls = _pick(m, cfg, selector, cands, subsets, used)
        cost[m] = {"judge_calls": calls, "seconds": time.perf_counter() - t1}

    def g(p: str, i: int) -> float | None:
        return gold_scores[p][i]

    def subset_gold(k: tuple[str, int, int], s: list[int]) -> list[float]:
        return [v for v in (g(k[0], i) for i in s) if v is not None]

    return {
        "schema": SCHEMA,
        "selector": getattr(selector, "name", str(cfg.selector)),
        "gold": gold.name,
        "ns": ns,
        "dropped_ns": dropped_ns,
        "draws": cfg.draws,
        "prompts": len(cands),
        "candidates": sum(len(c) for c in cands.values()),
        "source": cfg.responses or cfg.model,
        "curves": {m: _curve(cfg, ns, cands, subsets, lambda k, s, m=m: g(k[0], picks[m][k])) for m in cfg.methods},
        "oracle": _curve(cfg, ns, cands, subsets, lambda k, s: max(subset_gold(k, s), default=None)),
        "random": _curve(cfg, ns, cands, subsets,
                         lambda k, s: float(np.mean(subset_gold(k, s))) if subset_gold(k, s) else None),
        "cost": cost,
        "gold_seconds": t_gold,
        "judged": sum(len(u) for u in used.values()),
        "gold_parse_failure_rate": float(np.mean([gold_scores[p][i] is None for p, u in used.items() for i in u])),
        "seconds": time.perf_counter() - t0,
    }


def _load_judges(cfg: BestOfNConfig, selector: Judge | None, gold: Judge | None) -> tuple[Judge, Judge, list[Judge]]:
    """(selector, gold, the ones loaded here, which the caller closes)."""
    from judgelab.judges.config import default_gold
    from judgelab.judges.registry import load_judge

    owned = []
    if selector is None:
        selector = load_judge(cfg.selector, where="selector")
        owned.append(selector)
    if gold is None:
        gold = load_judge(cfg.gold if cfg.gold is not None else default_gold(), where="gold")
        owned.append(gold)
    return selector, gold, owned


def _check_methods(cfg: BestOfNConfig, selector: Judge) -> None:
    for m in cfg.methods:
        need = "pointwise" if m == "pointwise" else "pairwise"
        if need not in selector.modes:
            raise ConfigError(f"method {m!r} needs a {need} judge; {selector.name!r} answers {', '.join(selector.modes)}",
                              where="methods", hint=f"drop {m} or use a judge with a {need} mode")


def best_of_n(cfg: BestOfNConfig, out_dir: str | Path, *, selector: Judge | None = None, gold: Judge | None = None,
              candidates: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Run the study; writes best_of_n.json and best_of_n.png into ``out_dir``; returns the result."""
    from judgelab.judges.registry import resolve_judge_spec

    if not cfg.ns or min(cfg.ns) < 1:
        raise ConfigError("ns must be positive integers", where="ns", hint="e.g. [1, 2, 4, 8, 16, 32]")
    if candidates is None and not cfg.responses and not cfg.model:
        raise ConfigError("no candidates: give a responses file or a model", where="best-of-n", hint="--responses or --model")
    t0 = time.perf_counter()
    if selector is None:  # a bad judge name is reported before any candidate is read or sampled
        resolve_judge_spec(cfg.selector, where="selector")
    if gold is None and cfg.gold is not None:
        resolve_judge_spec(cfg.gold, where="gold")
    out = writable_dir(out_dir, "--out")  # before any candidate is sampled or judged
    cands = candidates if candidates is not None else load_candidates(cfg)
    if not cands:
        raise DataError("no candidates", where=cfg.responses or cfg.model or "candidates", hint="check the responses/prompts")
    ns, dropped_ns = feasible_ns(cfg.ns, cands, where=cfg.responses or cfg.model or "candidates")
    selector, gold, owned = _load_judges(cfg, selector, gold)
    try:
        _check_methods(cfg, selector)
        result = _study(cfg, cands, ns, dropped_ns, selector, gold, t0)
    finally:
        for j in owned:
            j.close()
    if candidates is None and not cfg.responses:
        # Sampled candidates are kept, so another selector can be compared on the same ones (--responses).
        from judgelab.data.jsonl import write_jsonl

        write_jsonl(out / "candidates.jsonl", [c for cs in cands.values() for c in cs])
        result["candidates_file"] = str(out / "candidates.jsonl")
    BestOfNResult.model_validate(result).write(out / "best_of_n.json")
    plot_best_of_n(result, out / "best_of_n.png")
    return result


def plot_best_of_n(result: dict[str, Any], path: Path) -> Path:
    """Gold of the pick vs N (log2 axis), one line per method, oracle and random as bounds, CI bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    styles = [("oracle", "oracle (best by gold)", dict(color="black", ls="--")),
              ("random", "random pick", dict(color="gray", ls=":"))]
    series = [(result["curves"][m], m, dict(marker="o", ms=3)) for m in result["curves"]]
    series += [(result[k], label, st) for k, label, st in styles]
    for rows, label, st in series:
        rows = [r for r in rows if r["gold"] is not None]
        xs = [r["n"] for r in rows]
        line, = ax.plot(xs, [r["gold"] for r in rows], label=label, **st)
        cis = [(r["n"], r["ci"]) for r in rows if r["ci"]]
        if cis:
            ax.fill_between([c[0] for c in cis], [c[1][0] for c in cis], [c[1][1] for c in cis], color=line.get_color(), alpha=0.12)
    ax.set_xscale("log", base=2)
    ax.set_xticks(result["ns"], [str(n) for n in result["ns"]])
    ax.set_xlabel("N (candidates per prompt)")
    ax.set_ylabel(f"gold score of the pick ({result['gold']}, [0, 1])")
    ax.set_title(f"Best-of-N by {result['selector']} ({result['prompts']} prompts, 95% CI by prompt)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
