"""Sampling a checkpoint on held-out prompts and scoring samples with a judge (the pieces of gold
monitoring that evaluation, the arena and the adversarial analysis share).

Reads a checkpoint folder (or model spec) through the text layer; writes nothing.
"""

from __future__ import annotations

from typing import Any

from judgelab.data.records import PromptRecord
from judgelab.judges.aggregate import pair_outcome
from judgelab.judges.base import Judge
from judgelab.judges.types import PairwiseItem, PointwiseItem, Verdict, unit_score
from judgelab.lm.types import SamplingParams
from judgelab.progress import progress_bar


def sample_checkpoint(model_path: str, prompts: list[PromptRecord], *, max_new_tokens: int, k: int, greedy: bool,
                      temperature: float, seed: int, batch_size: int, device: str, label: str) -> list[dict[str, Any]]:
    """k sampled + (optionally) one greedy completion per prompt, through the generation layer.

    Each (decoding, sample index) is one deterministic pass over the prompts in fixed batches with
    its own seed, so the samples do not depend on timing or on which other requests were in flight.
    """
    from judgelab.lm.local import LocalGenerator

    gen = LocalGenerator.from_spec(model_path, device=device)
    plan: list[tuple[str, int, SamplingParams]] = [
        ("sampled", j, SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed + 1009 * j))
        for j in range(k)
    ]
    if greedy:
        plan.append(("greedy", 0, SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)))
    rows: list[dict[str, Any]] = []
    try:
        with progress_bar(len(prompts) * len(plan), f"sample {label}") as advance:
            for decoding, index, params in plan:
                for b in range(0, len(prompts), batch_size):
                    chunk = prompts[b:b + batch_size]
                    gens = gen.generate_batch([[{"role": "user", "content": p.prompt}] for p in chunk], params)
                    for p, g in zip(chunk, gens):
                        rows.append({"prompt_id": p.id, "prompt": p.prompt, "family": p.family, "constraints": p.constraints,
                                     "decoding": decoding, "sample_index": index, "response": g.text,
                                     "completion_tokens": g.completion_tokens, "error": g.error})
                    advance(len(chunk))
    finally:
        gen.close()
    return rows


def sample_key(s: dict[str, Any]) -> tuple[str, str, int]:
    return (s["prompt_id"], s.get("decoding", "greedy"), int(s.get("sample_index", 0)))


# ---------------------------------------------------------------------------------------- judging

def _item_id(tag: str, s: dict[str, Any]) -> str:
    pid, decoding, index = sample_key(s)
    return f"{tag}:{pid}" if decoding == "greedy" else f"{tag}:{pid}:{decoding}{index}"


def _meta(s: dict[str, Any]) -> dict[str, Any]:
    return {"prompt_id": s["prompt_id"], "family": s["family"], "constraints": s["constraints"]}


def _norm(v: Verdict, scale: tuple[float, float]) -> float | None:
    return unit_score(v.score, scale) if v.ok else None


def judge_pointwise(judge: Judge, samples: list[dict], tag: str) -> tuple[list[float | None], list[float | None], float]:
    """(raw scores, normalised scores, parse-failure rate)."""
    verdicts = judge.judge([PointwiseItem(id=_item_id(tag, s), prompt=s["prompt"], response=s["response"], meta=_meta(s))
                            for s in samples])
    raw = [v.score if v.ok else None for v in verdicts]
    norm = [_norm(v, judge.scale) for v in verdicts]
    fail = sum(1 for v in verdicts if not v.ok) / len(verdicts) if verdicts else 0.0
    return raw, norm, fail


def judge_vs(judge: Judge, samples: list[dict], base: list[dict], tag: str) -> tuple[list[float | None], float]:
    """P(sample beats the base sample it is aligned with), both orders; (per sample, failure rate)."""
    items = []
    for s, b in zip(samples, base):
        it = PairwiseItem(id=_item_id(tag, s), prompt=s["prompt"], response_a=s["response"], response_b=b["response"],
                          meta=_meta(s))
        items += [it, it.swapped()]
    verdicts = judge.judge(items)
    probs = [pair_outcome(verdicts[2 * i], verdicts[2 * i + 1])[0] for i in range(len(samples))]
    fail = sum(1 for v in verdicts if not v.ok) / len(verdicts) if verdicts else 0.0
    return probs, fail
