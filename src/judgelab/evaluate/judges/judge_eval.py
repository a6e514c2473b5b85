"""Judge reliability on held-out gold annotations (``judgelab eval-judge``).

For any judge (a train-judge checkpoint folder, a judge YAML: HTTP, rubric, local model) and the
gold pair annotations of one split, measures:

- agreement vs gold on non-tie gold labels, ties as half credit (Arena-Hard's convention), both orders
  averaged for a pairwise judge, unparsed verdicts left out and counted apart; its 95% CI holds at
  small n (Student's t below 30 pairs, BCa above: ``evaluate.stats.mean_ci``), overall and per task
  family; beside it non-tie accuracy and the strict AB-order accuracy of v1 files (ties wrong);
  per-pair credits for paired comparisons between judges (all in ``evaluate.judges.agreement``);
- position consistency: the judge sees both orders; same verdict after un-swapping;
- self-consistency: k extra samples at temperature > 0; mean fraction agreeing with the majority;
- tie rate and parse-failure rate (over all pairwise verdicts issued);
- pointwise-vs-pairwise consistency: score(A) > score(B) agrees with the pairwise verdict;
- transitivity violations: triples of responses to one prompt with A>B, B>C, C>A (missing pairs
  among up to ``transitivity_max_responses`` responses per prompt are judged to complete them).

Reads ``run_dir/annotations/pairs.jsonl`` (through judgelab.data.annotations); writes
``run_dir/eval/judges/<name>.json`` (metrics: ``results.JudgeEvalResult``) and
``<name>.verdicts.jsonl`` (every verdict, for inspection with pandas).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from judgelab.data.annotations import read_pairs
from judgelab.data.jsonl import write_jsonl
from judgelab.data.records import PairAnnotation
from judgelab.data.rundir import RunDir, name_component, writable_dir
from judgelab.errors import DataError
from judgelab.evaluate.judges.agreement import accuracy_metrics, family_agreement, rate
from judgelab.evaluate.judges.results import JudgeEvalResult
from judgelab.judges.base import Judge, eval_mode_for
from judgelab.judges.registry import JudgeSpec, load_judge
from judgelab.judges.types import Item, Mode, PairwiseItem, PointwiseItem, Verdict
from judgelab.progress import progress_bar

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------- helpers


def majority_agreement(prefs: list[str | None]) -> float:
    """Fraction of samples equal to the most common parsed verdict (an unparsed sample counts as
    disagreeing: a judge whose samples all fail is not consistent, where counting failures as one
    shared label "fail" scored it 1.0)."""
    if not prefs:
        raise ValueError("majority_agreement: no samples")
    parsed = [p for p in prefs if p is not None]
    return Counter(parsed).most_common(1)[0][1] / len(prefs) if parsed else 0.0


def count_cycles(edges: dict[tuple[str, str], str | None], nodes: list[str]) -> tuple[int, int]:
    """(violations, triples checked). ``edges[(x, y)]`` is the verdict with x shown as A."""

    def winner(x: str, y: str) -> str | None:
        if (x, y) in edges:
            v = edges[(x, y)]
            return x if v == "A" else y if v == "B" else None
        if (y, x) in edges:
            v = edges[(y, x)]
            return y if v == "A" else x if v == "B" else None
        return None

    checked = violations = 0
    for a, b, c in itertools.combinations(nodes, 3):
        w = [winner(a, b), winner(b, c), winner(a, c)]
        if any(x is None for x in w):
            continue
        checked += 1
        # Intransitive iff every response wins exactly once.
        if Counter(w).most_common(1)[0][1] == 1:
            violations += 1
    return violations, checked


# --------------------------------------------------------------------------- evaluation


def pair_items(pairs: list[PairAnnotation]) -> list[PairwiseItem]:
    return [
        PairwiseItem(id=p.id, prompt=p.prompt, response_a=p.response_a, response_b=p.response_b,
                     meta={"constraints": p.constraints, "family": p.family})
        for p in pairs
    ]


async def judge_all(judge: Judge, items: list[Item], desc: str, sample_index: int = 0) -> list[Verdict]:
    with progress_bar(len(items), desc) as advance:
        return await judge.ajudge(items, sample_index=sample_index, on_result=lambda v: advance(1))


async def aevaluate_judge(
    judge: Judge,
    pairs: list[PairAnnotation],
    *,
    mode: Mode = "pairwise",
    samples: int = 1,
    sample_temperature: float = 0.7,
    pointwise: bool = True,
    transitivity_max_responses: int = 4,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Compute every metric; returns (result dict, verdict rows)."""
    items = pair_items(pairs)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    responses = response_table(pairs, items)

    scores: dict[str, Verdict] = {}
    if pointwise or mode == "pointwise":
        point_items = [PointwiseItem(id=rid, prompt=pr, response=r, meta=m) for rid, (pr, r, m) in responses.items()]
        for v in await judge_all(judge, point_items, "judging (pointwise)"):
            scores[v.item_id] = v
            rows.append({"kind": "pointwise", **v.to_dict()})

    if mode == "pointwise":
        # A pointwise judge compares two responses by their scores; order cannot matter.
        ab, ba = [verdict_from_scores(p, scores) for p in pairs], None
    else:
        ab = await judge_all(judge, items, "judging (AB order)")
        ba = await judge_all(judge, [it.swapped() for it in items], "judging (BA order)")
        rows += [{"kind": "ab", **v.to_dict()} for v in ab] + [{"kind": "ba", **v.to_dict()} for v in ba]

    metrics, by_family = accuracy_metrics(pairs, ab, ba, n_boot, seed)
    credits = metrics.pop("credits")
    metrics.update(await _self_consistency(judge, items, samples, sample_temperature, rows, enabled=mode == "pairwise"))
    metrics.update(_score_consistency(pairs, ab, scores if mode == "pairwise" else {}))
    if transitivity_max_responses >= 3 and mode == "pairwise":
        metrics.update(await _transitivity(judge, pairs, ab, responses, transitivity_max_responses, rows))
    else:
        metrics.update({"transitivity_violation_rate": None, "n_triples": 0})

    result = {
        "schema": JudgeEvalResult.expected_schema(),
        "judge": judge.name,
        "mode": mode,
        "judge_config": judge.spec(),
        "metrics": metrics,
        "accuracy_by_family": {fam: family_agreement(v, pairs, ab, n_boot, seed) for fam, v in sorted(by_family.items())},
        "credits": credits,
        "backend_calls": judge.backend_calls,
        "wall_s": round(time.perf_counter() - t0, 2),
    }
    return result, rows


Responses = dict[str, tuple[str, str, dict[str, Any]]]


def response_table(pairs: list[PairAnnotation], items: list[PairwiseItem]) -> Responses:
    """Response id -> (prompt, response, meta), for pointwise scoring and transitivity."""
    out: Responses = {}
    for p, it in zip(pairs, items):
        out.setdefault(p.response_a_id, (p.prompt, p.response_a, it.meta))
        out.setdefault(p.response_b_id, (p.prompt, p.response_b, it.meta))
    return out


async def _self_consistency(judge: Judge, items: list[PairwiseItem], samples: int, sample_temperature: float,
                            rows: list[dict[str, Any]], *, enabled: bool = True) -> dict[str, Any]:
    """Agreement of k samples at temperature > 0 with their majority (pairwise judges)."""
    out: dict[str, Any] = {"self_consistency": None, "samples": samples}
    if samples <= 1 or not enabled:
        return out
    temp = getattr(judge, "temperature", 0.0) or sample_temperature
    sampler = judge.with_temperature(temp)  # same backend: no second model load
    per_item: list[list[str | None]] = [[] for _ in items]
    for k in range(1, samples + 1):
        for i, v in enumerate(await judge_all(sampler, list(items), f"sample {k}/{samples}", sample_index=k)):
            per_item[i].append(v.preference if v.ok else None)
            rows.append({"kind": f"sample{k}", **v.to_dict()})
    out["self_consistency"] = sum(majority_agreement(x) for x in per_item) / len(per_item) if per_item else None
    out["sample_temperature"] = temp
    return out


def _score_consistency(pairs: list[PairAnnotation], ab: list[Verdict], scores: dict[str, Verdict]) -> dict[str, Any]:
    """Does the pairwise verdict agree with the two pointwise scores (where both exist and differ)?"""
    out: dict[str, Any] = {"pointwise_pairwise_consistency": None, "n_pointwise_pairwise_checked": 0}
    if not scores:
        return out
    agree = checked = 0
    for p, v in zip(pairs, ab):
        sa, sb = scores.get(p.response_a_id), scores.get(p.response_b_id)
        if not (v.ok and v.preference in ("A", "B") and sa and sb and sa.ok and sb.ok) or sa.score == sb.score:
            continue
        checked += 1
        agree += (sa.score > sb.score) == (v.preference == "A")  # type: ignore[operator]
    out["pointwise_pairwise_consistency"] = rate(agree, checked)
    out["n_pointwise_pairwise_checked"] = checked
    out["pointwise_parse_failure_rate"] = rate(sum(not v.ok for v in scores.values()), len(scores))
    return out


async def _transitivity(judge: Judge, pairs: list[PairAnnotation], ab: list[Verdict], responses: Responses,
                        max_responses: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Intransitive triples among up to ``max_responses`` responses per prompt (missing edges judged)."""
    edges: dict[tuple[str, str], str | None] = {}
    nodes_by_prompt: dict[str, list[str]] = defaultdict(list)
    for p, v in zip(pairs, ab):
        edges[(p.response_a_id, p.response_b_id)] = v.preference if v.ok else None
        for rid in (p.response_a_id, p.response_b_id):
            if rid not in nodes_by_prompt[p.prompt_id]:
                nodes_by_prompt[p.prompt_id].append(rid)
    extra: list[PairwiseItem] = []
    extra_keys: list[tuple[str, str]] = []
    for nodes in nodes_by_prompt.values():
        nodes[:] = nodes[:max_responses]
        if len(nodes) < 3:
            continue
        for x, y in itertools.combinations(nodes, 2):
            if (x, y) not in edges and (y, x) not in edges:
                pr, rx, meta = responses[x]
                extra.append(PairwiseItem(id=f"{x}::vs::{y}", prompt=pr, response_a=rx, response_b=responses[y][1], meta=meta))
                extra_keys.append((x, y))
    if extra:
        for key, v in zip(extra_keys, await judge_all(judge, extra, "judging (triples)")):
            edges[key] = v.preference if v.ok else None
            rows.append({"kind": "triple", **v.to_dict()})
    violations = checked = 0
    for nodes in nodes_by_prompt.values():
        vi, ch = count_cycles(edges, nodes)
        violations += vi
        checked += ch
    return {"transitivity_violation_rate": rate(violations, checked), "n_triples": checked,
            "transitivity_violations": violations}


def verdict_from_scores(p: PairAnnotation, scores: dict[str, Verdict]) -> Verdict:
    sa, sb = scores.get(p.response_a_id), scores.get(p.response_b_id)
    if not (sa and sb and sa.ok and sb.ok):
        return Verdict(item_id=p.id, mode="pairwise", parsed=False, parse_error="a pointwise score is missing")
    pref = "A" if sa.score > sb.score else "B" if sb.score > sa.score else "tie"  # type: ignore[operator]
    return Verdict(item_id=p.id, mode="pairwise", parsed=True, preference=pref)  # type: ignore[arg-type]


def evaluate_judge(judge: Judge, pairs: list[PairAnnotation], **kw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Synchronous ``aevaluate_judge`` (runs on judgelab's background loop)."""
    from judgelab.lm.aio import run_sync

    return run_sync(aevaluate_judge(judge, pairs, **kw))


def eval_judge(
    judge_spec: JudgeSpec,
    run_dir: str | Path,
    *,
    split: str = "test",
    samples: int = 1,
    out_dir: str | Path | None = None,
    mode: Mode | None = None,
    judge: Judge | None = None,
    name: str | None = None,
    **kw: Any,
) -> tuple[dict[str, Any], Path]:
    """Evaluate a judge on a run's held-out gold pairs; writes <out>/<name>.json. Returns (result, path)."""
    owned = judge is None
    if judge is None:
        judge = load_judge(judge_spec, name=name, where="--judge")
    mode = mode or eval_mode_for(judge)
    name_component(judge.name, "judge")  # before any judging: the name becomes the output file's name
    out = writable_dir(out_dir, "--out") if out_dir else RunDir(run_dir).eval_dir / "judges"
    pairs = read_pairs(run_dir, split)
    if not pairs:
        all_splits = sorted({p.split for p in read_pairs(run_dir)})
        raise DataError(f"no labelled pairs in split '{split}'", where=str(RunDir(run_dir).pairs),
                        hint=f"splits present: {', '.join(all_splits) or 'none'}; pass --split")
    try:
        result, rows = evaluate_judge(judge, pairs, mode=mode, samples=samples, **kw)  # type: ignore[arg-type]
    finally:
        if owned:
            judge.close()
    result.update({"run_dir": str(run_dir), "split": split, "judge_spec": str(judge_spec)})
    out.mkdir(parents=True, exist_ok=True)
    path = JudgeEvalResult.model_validate(result).write(out / f"{judge.name}.json")
    write_jsonl(out / f"{judge.name}.verdicts.jsonl", rows)
    return result, path


def results_table(result: dict[str, Any]) -> Any:
    """A rich Table of one evaluation."""
    from rich.table import Table

    m = result["metrics"]

    def f(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)

    t = Table(title=f"judge '{result['judge']}' on split '{result.get('split', '?')}' ({m['n_pairs']} pairs)")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("n", justify="right")
    def with_ci(x: Any, ci: Any) -> str:
        return f(x) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    t.add_row("agreement vs gold (ties half)", with_ci(m.get("agreement"), m.get("agreement_ci95"))
              + (f" ({m['agreement_ci_method']})" if m.get("agreement_ci_method") else ""), f(m.get("n_agreement")))
    for fam, d in result.get("accuracy_by_family", {}).items():
        t.add_row(f"  family {fam}", with_ci(d.get("agreement"), d.get("agreement_ci95")), f(d.get("n_agreement")))
    t.add_row("non-tie accuracy", f(m.get("non_tie_accuracy")), f(m.get("n_decided")))
    t.add_row("strict accuracy (AB order, ties wrong)", with_ci(m["accuracy"], m.get("accuracy_ci95")), f(m["n_gold_non_tie"]))
    t.add_row("accuracy (BA order)", f(m.get("accuracy_ba")), "")
    t.add_row("position consistency", f(m["position_consistency"]), f(m["n_position_checked"]))
    t.add_row("self-consistency", f(m["self_consistency"]), f(m.get("samples")))
    t.add_row("tie rate", f(m["tie_rate"]), "")
    t.add_row("parse-failure rate", f(m["parse_failure_rate"]), "")
    t.add_row("pointwise/pairwise consistency", f(m["pointwise_pairwise_consistency"]), f(m["n_pointwise_pairwise_checked"]))
    t.add_row("transitivity violation rate", f(m["transitivity_violation_rate"]), f(m["n_triples"]))
    return t
