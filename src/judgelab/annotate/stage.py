"""Annotate stage: the gold judge labels pairs of responses (and optionally scores each one).

Reads ``run_dir/responses.jsonl`` (ResponseRecords from the sample stage; their ``constraints``
and ``family`` become item meta, which the rubric gold reads). Writes:

- ``annotations/pairs.jsonl``  PairAnnotation rows: every pair judged in both orders
  (position-swapped); label = the two orders' agreement, else 'tie'; both reasoning traces kept,
- ``annotations/points.jsonl`` PointAnnotation rows (gold score per response), if pointwise,
- ``annotations/summary.json`` label balance, tie rate, position consistency, parse failures,
  errors and cost; ``annotations/gold_hist.png`` the histogram of pointwise gold scores,
- ``judgments.sqlite`` every gold verdict, keyed by its inputs (JudgmentStore).

One ``annotate`` per run at a time: a second one stops with a one-line message
(``judgelab.data.lock``). Resumable at any moment: each verdict is committed to the store as soon as it exists and each
annotation row is appended (fsync'd) as soon as both its verdicts exist. A rerun skips rows
already written, answers half-done pairs from the store, and judges only what is missing; at the
end the files are rewritten deduplicated in the plan's deterministic order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from judgelab.annotate.plan import (
    PairsConfig,
    _meta,
    _needs,
    _written,
    load_responses,
    pair_id,
    pair_row,
    plan_pairs,
    point_row,
)
from judgelab.config import StrictModel
from judgelab.data.jsonl import append_jsonl, write_jsonl
from judgelab.data.lock import writer_lock
from judgelab.data.records import ResponseRecord
from judgelab.data.rundir import RunDir
from judgelab.data.store import JudgmentStore
from judgelab.errors import ConfigError, DataError
from judgelab.judges.config import GoldJudgeConfig, default_gold
from judgelab.judges.base import Judge
from judgelab.judges.types import PairwiseItem, PointwiseItem, Verdict
from judgelab.progress import progress_bar

log = logging.getLogger(__name__)


class AnnotateConfig(StrictModel):
    """Which pairs the gold judge labels, and how."""

    gold: GoldJudgeConfig = Field(default_factory=default_gold, description="The gold judge (default: rubric gold).")
    pairs: PairsConfig = Field(default_factory=PairsConfig, description="How pairs are formed.")
    pairwise: bool = Field(True, description="Label pairs (both orders).")
    pointwise: bool = Field(True, description="Also score every response on its own.")
    seed: int = Field(0, description="Seed for pair selection and A/B order.")
    max_prompts: int | None = Field(None, ge=1, description="Annotate only the first N prompts (None: all).")
    split: str | None = Field(None, description="Annotate only responses of this split (None: all).")
    plot: bool = Field(True, description="Write annotations/gold_hist.png of pointwise scores.")
    throttle_s: float = Field(
        0.0, ge=0, description="Sleep before each judged item; only for testing kill/resume (keep 0)."
    )

    @model_validator(mode="after")
    def _check(self) -> "AnnotateConfig":
        if self.pairwise and self.pairs.strategy == "reference" and not self.pairs.reference_model:
            raise ValueError("pairs.strategy=reference needs pairs.reference_model (a policy name)")
        if not (self.pairwise or self.pointwise):
            raise ValueError("nothing to do: pairwise and pointwise are both off")
        return self


# ---------------------------------------------------------------------------------------------
# the stage


class _Cost:
    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.parse_failures = 0
        self.errors = 0
        self.judged_items = 0

    def add(self, v: Verdict) -> None:
        self.judged_items += 1
        if not v.cached:
            self.prompt_tokens += v.prompt_tokens
            self.completion_tokens += v.completion_tokens
        if v.error:
            self.errors += 1
        elif not v.parsed:
            self.parse_failures += 1


def annotate(
    config: AnnotateConfig,
    run_dir: str | Path,
    *,
    judge: Judge | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Label the run's responses with the gold judge; returns the summary (also saved to
    ``annotations/summary.json``). ``judge`` replaces the one built from ``config.gold`` (it is then
    the caller's to close; verdicts still go through the run's store)."""
    rd = RunDir(run_dir).ensure()
    with writer_lock(rd.annotations_dir, "annotations/ of this run",
                     hint="wait for that `judgelab annotate` to finish, then rerun: its verdicts come from the store"):
        return _annotate(config, rd, judge, on_row)


def _annotate(config: AnnotateConfig, rd: RunDir, judge: Judge | None,
              on_row: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    responses = _responses(config, rd)
    written_pairs = _written(rd.pairs)
    written_points = _written(rd.points)
    # Before run.json names this config as the rows' origin, and before any judging.
    _check_same_gold(config, rd, judge, {rd.pairs: written_pairs, rd.points: written_points})
    rd.write_run_json("annotate", config, seed=config.seed)

    pairs = plan_pairs(responses, config.pairs, config.seed) if config.pairwise else []
    points = sorted(responses, key=lambda r: r.id) if config.pointwise else []
    if config.pairwise and not pairs:
        raise ConfigError(
            "the pair plan is empty", where="pairs", hint="need >= 2 responses per prompt (or the reference model's)"
        )
    # Rows written without an error are done; failed rows are retried.
    todo_pairs = [(a, b) for a, b in pairs if _needs(written_pairs, pair_id(a, b))]
    todo_points = [r for r in points if _needs(written_points, r.id)]
    planned = len(pairs) + len(points)
    todo = len(todo_pairs) + len(todo_points)
    log.info("annotate: %d planned, %d already written, %d to do", planned, planned - todo, todo)

    gold_name, this_run = _judge_rows(config, rd, judge, on_row, todo_pairs, todo_points)

    # Rewrite exactly the plan, deduplicated, in plan order (rows outside the plan are dropped:
    # they belong to an older config; their verdicts stay in the store).
    final_pairs = _finalize(rd.pairs, [pair_id(a, b) for a, b in pairs]) if config.pairwise else []
    final_points = _finalize(rd.points, [r.id for r in points]) if config.pointwise else []

    summary = summarize(final_pairs, final_points)
    summary.update({"judge": gold_name, "planned": {"pairs": len(pairs), "points": len(points)}, "this_run": this_run})
    rd.annotations_dir.mkdir(parents=True, exist_ok=True)
    if config.pointwise and config.plot:
        scores = [p["score"] for p in final_points if p.get("score") is not None]
        summary["gold_hist"] = str(write_score_histogram(scores, rd.annotations_dir / "gold_hist.png", config.gold.scale))
    (rd.annotations_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    if summary["pairs"]["errors"] == 0 and summary["points"]["errors"] == 0:
        rd.mark_done("annotate", {"pairs": len(final_pairs), "points": len(final_points)})
    return summary


# Gold settings that only pace its backend, reach it or place it: they do not change a verdict beyond
# numerical noise, so a resumed annotate may change them (more concurrency, another server for the same
# model, a local gold moved from the CPU to a GPU or batched differently). The dtype is not among them.
_PACING = frozenset({"concurrency", "base_urls", "api_key_env", "timeout_s", "max_retries", "backoff_base_s",
                     "backoff_max_s", "requests_per_minute", "tokens_per_minute", "rate_burst_s",
                     "batch_size", "max_wait_ms", "device", "static_cache"})


def _verdict_settings(gold: dict[str, Any]) -> dict[str, Any]:
    """A gold config as run.json records it, without the settings in ``_PACING``."""
    out = {k: v for k, v in gold.items() if k not in _PACING}
    if isinstance(out.get("backend"), dict):
        out["backend"] = {k: v for k, v in out["backend"].items() if k not in _PACING}
    return out


def _differing(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two JSON-like mappings."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return [] if a == b else [prefix or "(the whole config)"]
    return [k for key in sorted(set(a) | set(b)) for k in _differing(a.get(key), b.get(key), f"{prefix}{key}.")]


def _check_same_gold(config: AnnotateConfig, rd: RunDir, judge: Judge | None,
                     written: dict[Path, dict[str, dict[str, Any]]]) -> None:
    """Rows already written came from this config's gold, or a ConfigError: a rerun keeps them
    (only missing and failed rows are judged), so another gold would leave the old gold's labels
    under the new gold's name. Compared: each row's ``judge`` (the gold's name) and the gold config
    run.json recorded for this stage (pacing settings aside)."""
    name = judge.name if judge is not None else config.gold.name
    hint = (f"use a new --run, or delete {rd.annotations_dir} to redo the annotation with this gold; "
            "the old gold's verdicts stay in the run's judgment store")
    for path, rows in written.items():
        others = sorted({str(r.get("judge")) for r in rows.values() if r.get("judge") != name})
        if others:
            raise ConfigError(f"{path} was made with gold {others[0]!r}; this config's gold is {name!r}", hint=hint)
    recorded = rd.stage_config("annotate")
    if not any(written.values()) or not recorded or not isinstance(recorded.get("gold"), dict):
        return
    then, now = _verdict_settings(recorded["gold"]), _verdict_settings(rd.recordable(config.gold))
    if then != now:
        fields = ", ".join(k.rstrip(".") for k in _differing(then, now)) or "gold"
        raise ConfigError(f"{rd.annotations_dir} was made with another config of gold {name!r} (it differs in "
                          f"{fields} from the annotate stage's config in {rd.run_json})", hint=hint)


def _responses(config: AnnotateConfig, rd: RunDir) -> list[ResponseRecord]:
    """The run's good responses, of ``config.split`` and the first ``config.max_prompts`` prompts."""
    responses = load_responses(rd.responses)
    if config.split is not None:
        responses = [r for r in responses if r.split == config.split]
    if config.max_prompts is not None:
        keep: list[str] = []
        for r in responses:
            if r.prompt_id not in keep:
                keep.append(r.prompt_id)
        keep_set = set(keep[: config.max_prompts])
        responses = [r for r in responses if r.prompt_id in keep_set]
    if not responses:
        raise DataError("no usable responses to annotate", where=str(rd.responses), hint="check split / sample errors")
    return responses


def _judge_rows(config: AnnotateConfig, rd: RunDir, judge: Judge | None,
                on_row: Callable[[dict[str, Any]], None] | None,
                todo_pairs: list[tuple[ResponseRecord, ResponseRecord]],
                todo_points: list[ResponseRecord]) -> tuple[str, dict[str, Any]]:
    """Judge what is left, appending each row as soon as its verdicts exist; returns the gold's
    name and the summary's ``this_run`` part (calls, cache hits, tokens, time)."""
    from judgelab.judges.cache import CachedJudge
    from judgelab.judges.registry import load_judge
    from judgelab.lm.aio import run_sync

    store = JudgmentStore(rd.store)
    owned = judge is None
    judge = load_judge(config.gold, store=store) if judge is None else CachedJudge(judge, store)
    cost = _Cost()
    t0 = time.perf_counter()
    gold_name = judge.name

    def emit(path: Path, row: dict[str, Any], advance: Callable[[int], None]) -> None:
        append_jsonl(path, [row])
        if on_row is not None:
            on_row(row)
        advance(1)

    async def run(advance: Callable[[int], None]) -> None:
        # Bound the items in flight here too, so throttling and the append order stay sane.
        sem = asyncio.Semaphore(config.gold.concurrency)

        async def verdict(item: PairwiseItem | PointwiseItem) -> Verdict:
            async with sem:
                if config.throttle_s:
                    await asyncio.sleep(config.throttle_s)
                v = await judge.ajudge_one(item)
            cost.add(v)
            return v

        async def one_pair(a: ResponseRecord, b: ResponseRecord) -> None:
            item = PairwiseItem(id=pair_id(a, b), prompt=a.prompt, response_a=a.response,
                                response_b=b.response, meta=_meta(a))
            ab, ba = await asyncio.gather(verdict(item), verdict(item.swapped()))
            emit(rd.pairs, pair_row(a, b, ab, ba, gold_name).to_dict(), advance)

        async def one_point(r: ResponseRecord) -> None:
            item = PointwiseItem(id=r.id, prompt=r.prompt, response=r.response, meta=_meta(r))
            emit(rd.points, point_row(r, await verdict(item), gold_name).to_dict(), advance)

        await asyncio.gather(*(one_pair(a, b) for a, b in todo_pairs), *(one_point(r) for r in todo_points))

    todo = len(todo_pairs) + len(todo_points)
    try:
        with progress_bar(todo, "annotating") as advance:
            if todo:
                run_sync(run(advance))
        cache_hits = store.hits
    finally:
        try:
            if owned:
                judge.close()
        finally:
            store.close()
    seconds = time.perf_counter() - t0
    return gold_name, {
        "pairs": len(todo_pairs),
        "points": len(todo_points),
        "judge_calls": cost.judged_items,
        "backend_calls": judge.backend_calls,
        "cache_hits": cache_hits,
        "prompt_tokens": cost.prompt_tokens,
        "completion_tokens": cost.completion_tokens,
        "parse_failures": cost.parse_failures,
        "errors": cost.errors,
        "seconds": round(seconds, 3),
        "items_per_s": round(cost.judged_items / seconds, 2) if seconds > 0 and cost.judged_items else None,
    }


def _finalize(path: Path, plan_ids: list[str]) -> list[dict[str, Any]]:
    rows = _written(path)
    final = [rows[i] for i in plan_ids if i in rows]
    write_jsonl(path, final)
    return final


def summarize(pairs: list[dict[str, Any]], points: list[dict[str, Any]]) -> dict[str, Any]:
    """Label balance, tie rate, position consistency, parse failures and errors of final rows."""
    labels = {"A": 0, "B": 0, "tie": 0}
    for p in pairs:
        if p.get("label") in labels:
            labels[p["label"]] += 1
    labelled = sum(labels.values())
    both = [p for p in pairs if p.get("consistent") is not None]
    pair_errors = sum(1 for p in pairs if p.get("error"))
    # A pair "fails to parse" when it has no backend error but one of its orders gave no label.
    pair_parse = sum(1 for p in pairs if not p.get("error") and (p.get("label_ab") is None or p.get("label_ba") is None))
    scores = [p["score"] for p in points if p.get("score") is not None]
    point_errors = sum(1 for p in points if p.get("error"))
    return {
        "pairs": {
            "total": len(pairs),
            "labelled": labelled,
            "labels": labels,
            "tie_rate": round(labels["tie"] / labelled, 4) if labelled else None,
            "position_consistency": round(sum(1 for p in both if p["consistent"]) / len(both), 4) if both else None,
            "parse_failures": pair_parse,
            "errors": pair_errors,
        },
        "points": {
            "total": len(points),
            "scored": len(scores),
            "mean_score": round(sum(scores) / len(scores), 4) if scores else None,
            "parse_failures": sum(1 for p in points if not p.get("error") and p.get("score") is None),
            "errors": point_errors,
        },
    }


def write_score_histogram(scores: list[float], path: Path, scale: tuple[int, int] = (1, 10)) -> Path:
    """PNG histogram of gold scores (matplotlib, Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = scale
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    bins = [x - 0.5 for x in range(int(lo), int(hi) + 2)]
    ax.hist(scores, bins=bins, color="#4C72B0", edgecolor="white")
    ax.set_xlabel("gold score")
    ax.set_ylabel("responses")
    ax.set_title(f"Gold pointwise scores (n={len(scores)})")
    ax.set_xlim(lo - 0.5, hi + 0.5)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def format_summary(s: dict[str, Any]) -> str:
    """A few human lines for the CLI."""
    p, q, c = s["pairs"], s["points"], s["this_run"]
    lines = []
    if p["total"]:
        lines.append(
            f"pairs: {p['total']} (A {p['labels']['A']} / B {p['labels']['B']} / tie {p['labels']['tie']}), "
            f"tie rate {p['tie_rate']}, position consistency {p['position_consistency']}, "
            f"parse failures {p['parse_failures']}, errors {p['errors']}"
        )
    if q["total"]:
        lines.append(
            f"points: {q['total']} (mean score {q['mean_score']}), parse failures {q['parse_failures']}, errors {q['errors']}"
        )
    lines.append(
        f"this run: {c['judge_calls']} judge calls, {c['backend_calls']} backend calls, {c['cache_hits']} cache hits, "
        f"{c['prompt_tokens']}+{c['completion_tokens']} tokens, {c['seconds']} s"
    )
    return "\n".join(lines)
