"""Judge test-time scaling: does a judge agree more with the gold when it spends more compute?

Two axes, measured on a run's held-out gold pair annotations (``annotations/pairs.jsonl``), with
judge_eval's tie-adjusted agreement (non-tie gold labels, ties half, AB order, 95% CI that holds at
small n; the strict accuracy with ties wrong beside it), and each vote count's gain over the
smallest k paired by pair (``vs_first``: averaging k scores makes ties rarer, so only the paired,
tie-adjusted gain says whether votes help):

- **voting** (J1): ``max(ks)`` sampled verdicts per item at ``temperature`` (``sample_index``
  0..K-1, so seeds differ); for each k the first k are aggregated: plurality vote for a pairwise
  judge (``aggregate.majority_vote``: a shared top count is a tie), mean score for a pointwise one
  (pairs then compared by their mean scores, as judge_eval does);
- **thinking budget**: the judge rerun with its generation cap set to ``budget + answer_tokens``
  for each budget (for reasoning-style judges the budget bounds the reasoning; a verdict cut off
  before it is written is an unparsed verdict, counted, as without budget forcing). A judge that
  does not generate (the rubric, a reward model: no completion tokens) has no budget to set: the
  sweep is skipped and ``thinking_skipped`` says why.

Cost of each point: tokens generated (sum of the verdicts' completion tokens) and wall seconds of
the judging passes it needed. For voting, k costs the first k passes.

Reads ``run_dir/annotations/pairs.jsonl`` (split ``test`` by default). Writes
``<out>/<judge>.scaling.json`` (``results.JudgeScalingResult``, schema ``judgelab.judge_scaling/v1``) and
``<out>/<judge>.scaling.png``; default out: ``run_dir/eval/judges``.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.data.annotations import read_pairs
from judgelab.data.records import PairAnnotation
from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.judges.agreement import accuracy_metrics
from judgelab.evaluate.judges.judge_eval import judge_all, pair_items, response_table, verdict_from_scores
from judgelab.evaluate.judges.results import JudgeScalingResult
from judgelab.judges.aggregate import majority_vote
from judgelab.judges.base import Judge, eval_mode_for
from judgelab.judges.types import Item, Mode, PointwiseItem, Verdict

log = logging.getLogger(__name__)

class JudgeScalingConfig(StrictModel):
    """Gold agreement of a judge vs the compute it spends (votes, thinking tokens)."""

    judge: Any = Field(..., description="Any judge spec (see judgelab.judges.registry).")
    split: str = Field("test", description="Annotation split (held-out gold pairs).")
    mode: Mode | None = Field(None, description="pairwise or pointwise (default: pairwise where the judge compares).")
    ks: list[int] = Field(default_factory=lambda: [1, 3, 5, 9], description="Vote sizes (samples aggregated).")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature of the voting samples.")
    budgets: list[int] = Field(default_factory=list, description="Thinking budgets (tokens); empty = skip the budget sweep.")
    answer_tokens: int = Field(32, ge=1, description="Tokens allowed for the verdict after the thinking budget.")
    limit: int | None = Field(None, ge=1, description="Use at most this many pairs.")
    bootstrap: int = Field(1000, ge=0)
    seed: int = 0


def _vote_pairwise(item_id: str, samples: list[Verdict]) -> Verdict:
    prefs = [v.preference for v in samples if v.ok and v.preference is not None]
    pref, _, _ = majority_vote(prefs) if prefs else (None, None, {})
    return Verdict(item_id=item_id, mode="pairwise", parsed=pref is not None, preference=pref,
                   parse_error=None if pref is not None else "no sample parsed")


def _mean_score(item_id: str, samples: list[Verdict]) -> Verdict:
    scores = [v.score for v in samples if v.ok and v.score is not None]
    return Verdict(item_id=item_id, mode="pointwise", parsed=bool(scores),
                   score=statistics.fmean(scores) if scores else None)


def _items(pairs: list[PairAnnotation], mode: Mode) -> list[Item]:
    items = pair_items(pairs)
    if mode == "pairwise":
        return list(items)
    return [PointwiseItem(id=rid, prompt=pr, response=r, meta=m) for rid, (pr, r, m) in response_table(pairs, items).items()]


def _agreement(pairs: list[PairAnnotation], mode: Mode, items: list[Item], per_item: list[list[Verdict]],
               cfg: JudgeScalingConfig) -> dict[str, Any]:
    """judge_eval's accuracy metrics of the aggregated verdicts."""
    if mode == "pairwise":
        ab = [_vote_pairwise(it.id, s) for it, s in zip(items, per_item)]
    else:
        scores = {it.id: _mean_score(it.id, s) for it, s in zip(items, per_item)}
        ab = [verdict_from_scores(p, scores) for p in pairs]
    m, _ = accuracy_metrics(pairs, ab, None, cfg.bootstrap, cfg.seed)
    issued = [v for s in per_item for v in s]
    return {"accuracy": m["accuracy"], "accuracy_ci95": m["accuracy_ci95"], "n": m["n_gold_non_tie"],
            "agreement": m["agreement"], "agreement_ci95": m["agreement_ci95"], "agreement_ci_method": m["agreement_ci_method"],
            "n_agreement": m["n_agreement"], "non_tie_accuracy": m["non_tie_accuracy"], "tie_rate": m["tie_rate"],
            "parse_failure_rate": m["parse_failure_rate"],
            "sample_parse_failure_rate": sum(not v.ok for v in issued) / len(issued) if issued else None,
            "credits": m["credits"]}


def _paired_vs(first: dict[str, Any], point: dict[str, Any], cfg: JudgeScalingConfig) -> dict[str, Any] | None:
    """Tie-adjusted agreement of ``point`` minus that of ``first``, paired by pair (same items)."""
    from judgelab.evaluate.stats import paired_difference

    d = paired_difference(point["credits"], first["credits"], n_boot=max(cfg.bootstrap, 1), seed=cfg.seed,
                          bounds=(-1.0, 1.0))
    return None if d is None else d.to_dict()


def _vote_curve(pairs: list[PairAnnotation], mode: Mode, items: list[Item], passes: list[tuple[list[Verdict], float]],
                cfg: JudgeScalingConfig) -> list[dict[str, Any]]:
    """One point per vote size k: the first k passes aggregated, what they cost, and the gain over
    the smallest k paired by pair."""
    voting = []
    for k in sorted(set(cfg.ks)):
        per_item = [[passes[j][0][i] for j in range(k)] for i in range(len(items))]
        tokens = sum(v.completion_tokens for j in range(k) for v in passes[j][0])
        voting.append({"k": k, **_agreement(pairs, mode, items, per_item, cfg), "tokens": tokens,
                       "tokens_per_item": tokens / len(items), "seconds": sum(passes[j][1] for j in range(k))})
    for point in voting:
        point["vs_first"] = _paired_vs(voting[0], point, cfg) if point is not voting[0] else None
    return voting


def _pass(judge: Judge, items: list[Item], sample_index: int, desc: str) -> tuple[list[Verdict], float]:
    from judgelab.lm.aio import run_sync

    t0 = time.perf_counter()
    verdicts = run_sync(judge_all(judge, items, desc, sample_index=sample_index))
    return verdicts, time.perf_counter() - t0


def _generates(judge: Judge, verdicts: list[Verdict]) -> bool:
    """Whether the judge generates text (so a cap on its tokens means something): a model-backed
    LLM judge does; a programmatic backend, a reward model or an ensemble only if its verdicts
    report completion tokens."""
    from judgelab.judges.llm import LLMJudge

    if isinstance(judge, LLMJudge) and not getattr(judge.backend, "reads_items", False):
        return True
    return any(v.completion_tokens for v in verdicts)


def _with_budget(judge: Judge, spec: Any, max_new_tokens: int) -> tuple[Judge, bool]:
    """The judge generating at most ``max_new_tokens``; (judge, owned: must be closed)."""
    from judgelab.judges.llm import LLMJudge
    from judgelab.judges.registry import load_judge, resolve_judge_spec

    if isinstance(judge, LLMJudge):
        # Same backend (no second model load), as LLMJudge.with_temperature does.
        cfg = judge.config.model_copy(deep=True)
        cfg.sampling.max_new_tokens = max_new_tokens
        return LLMJudge(cfg, backend=judge.backend), False
    cfg = resolve_judge_spec(spec, "judge")
    if not hasattr(cfg, "sampling"):
        raise ConfigError(f"judge {judge.name!r} has no generation cap to set a thinking budget on", where="budgets",
                          hint="thinking budgets apply to prompted (LLM) judges; leave budgets empty")
    cfg = cfg.model_copy(deep=True)
    cfg.sampling.max_new_tokens = max_new_tokens
    return load_judge(cfg), True


def judge_scaling(cfg: JudgeScalingConfig, run_dir: str | Path, out_dir: str | Path | None = None, *,
                  judge: Judge | None = None) -> tuple[dict[str, Any], Path]:
    """Run both sweeps; writes <out>/<judge>.scaling.json and .png. Returns (result, json path)."""
    from judgelab.judges.registry import load_judge

    if not cfg.ks or min(cfg.ks) < 1:
        raise ConfigError("ks must be positive integers", where="ks", hint="e.g. [1, 3, 5, 9]")
    if not RunDir(run_dir).pairs.exists():
        raise DataError("no labelled pairs: this annotations file does not exist", where=str(RunDir(run_dir).pairs),
                        hint=f"make it with: judgelab annotate --run {run_dir}")
    pairs = read_pairs(run_dir, cfg.split)
    if not pairs:
        raise DataError(f"no labelled pairs in split '{cfg.split}'", where=str(RunDir(run_dir).pairs),
                        hint="annotate the run first (judgelab annotate), or pass another --split")
    pairs = pairs[: cfg.limit] if cfg.limit else pairs
    owned = judge is None
    if judge is None:
        judge = load_judge(cfg.judge, where="--judge")
    try:
        from judgelab.data.rundir import name_component, writable_dir

        name_component(judge.name, "judge")  # before any judging: the name becomes the output file's name
        writable_dir(out_dir or RunDir(run_dir).eval_dir / "judges", "--out")
        mode: Mode = cfg.mode or eval_mode_for(judge)
        if mode not in judge.modes:
            raise ConfigError(f"judge {judge.name!r} does not answer {mode}", where="mode", hint=f"use {eval_mode_for(judge)}")
        items = _items(pairs, mode)
        t0 = time.perf_counter()
        sampler = judge.with_temperature(cfg.temperature) if hasattr(judge, "with_temperature") else judge
        kmax = max(cfg.ks)
        passes: list[tuple[list[Verdict], float]] = [
            _pass(sampler, items, j, f"vote sample {j + 1}/{kmax}") for j in range(kmax)]
        voting = _vote_curve(pairs, mode, items, passes, cfg)
        thinking: list[dict[str, Any]] = []
        skipped = None
        if cfg.budgets and not _generates(judge, [v for p in passes for v in p[0]]):
            skipped = (f"judge {judge.name!r} does not generate text (no completion tokens): thinking budgets do not "
                       "apply; budget sweep skipped")
            log.warning("%s", skipped)
        for b in sorted(set(cfg.budgets)) if skipped is None else []:
            bj, owned_b = _with_budget(judge, cfg.judge, b + cfg.answer_tokens)
            try:
                verdicts, secs = _pass(bj, items, 0, f"budget {b}")
            finally:
                if owned_b:
                    bj.close()
            tokens = sum(v.completion_tokens for v in verdicts)
            thinking.append({"budget": b, "max_new_tokens": b + cfg.answer_tokens,
                             **_agreement(pairs, mode, items, [[v] for v in verdicts], cfg),
                             "tokens": tokens, "tokens_per_item": tokens / len(items), "seconds": secs,
                             "truncated_rate": sum(v.completion_tokens >= b + cfg.answer_tokens for v in verdicts) / len(verdicts)})
        if len({json.dumps([v.raw for v in p[0]]) for p in passes}) == 1 and kmax > 1:
            log.warning("judge %s gave identical samples in every pass (deterministic at temperature %s): the vote "
                        "curve is flat by construction", judge.name, cfg.temperature)
        result = {
            "schema": JudgeScalingResult.expected_schema(),
            "judge": judge.name,
            "judge_spec": cfg.judge if isinstance(cfg.judge, (str, dict)) else str(cfg.judge),
            "mode": mode,
            "split": cfg.split,
            "run_dir": str(run_dir),
            "n_pairs": len(pairs),
            "n_items": len(items),
            "temperature": cfg.temperature,
            "voting": voting,
            "thinking": thinking,
            "thinking_skipped": skipped,
            "seconds": time.perf_counter() - t0,
        }
        for point in voting + thinking:
            point.pop("credits")
    finally:
        if owned:
            judge.close()
    out = Path(out_dir) if out_dir else RunDir(run_dir).eval_dir / "judges"
    out.mkdir(parents=True, exist_ok=True)
    path = JudgeScalingResult.model_validate(result).write(out / f"{result['judge']}.scaling.json")
    plot_judge_scaling(result, out / f"{result['judge']}.scaling.png")
    return result, path


def plot_judge_scaling(result: dict[str, Any], path: Path) -> Path:
    """Gold agreement against tokens generated and against seconds: the vote curve (labelled k) and
    the thinking-budget curve (labelled with the budget), 95% CIs as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, xkey, xlabel in ((axes[0], "tokens_per_item", "tokens generated per item"), (axes[1], "seconds", "seconds (all items)")):
        for rows, key, label, color in ((result["voting"], "k", "votes k", "tab:blue"),
                                        (result["thinking"], "budget", "thinking budget", "tab:orange")):
            rows = [r for r in rows if r.get("agreement") is not None]
            if not rows:
                continue
            xs, ys = [max(r[xkey], 1e-9) for r in rows], [r["agreement"] for r in rows]
            err = [[y - (r["agreement_ci95"] or [y, y])[0] for y, r in zip(ys, rows)],
                   [(r["agreement_ci95"] or [y, y])[1] - y for y, r in zip(ys, rows)]]
            ax.errorbar(xs, ys, yerr=err, marker="o", ms=4, capsize=2, color=color, label=label)
            for x, y, r in zip(xs, ys, rows):
                ax.annotate(f"{'k' if key == 'k' else 'b'}={r[key]}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    for ax in axes:
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    axes[0].set_ylabel("agreement with gold (ties half; 0.5 = chance)")
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(f"Judge test-time scaling: {result['judge']} ({result['mode']}, {result['n_pairs']} pairs)", y=1.02)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
