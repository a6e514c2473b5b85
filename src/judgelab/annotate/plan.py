"""Annotation planning and rows: which pairs the gold judge labels (deterministic given the
responses, the strategy and the seed), and how two position-swapped verdicts become one
PairAnnotation row (one verdict one PointAnnotation row). No I/O but reading what is already
written, so a resumed run knows what is left.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.data.jsonl import read_jsonl_tolerant
from judgelab.data.records import PairAnnotation, PointAnnotation, ResponseRecord, unique_ids
from judgelab.data.store import stable_hash
from judgelab.errors import DataError
from judgelab.judges.aggregate import reconcile_swap
from judgelab.judges.types import Verdict

log = logging.getLogger(__name__)


class PairsConfig(StrictModel):
    strategy: Literal["random", "reference", "all"] = Field(
        "random",
        description="random: k random pairs within each prompt; reference: each response vs the reference "
        "model's first sample for its prompt; all: every pair, up to max_per_prompt.",
    )
    k: int = Field(4, ge=1, description="random: pairs drawn per prompt.")
    reference_model: str | None = Field(None, description="reference: the policy whose first sample is the reference.")
    max_per_prompt: int = Field(45, ge=1, description="all: cap on pairs per prompt (a seeded random subset beyond it).")
    randomize_order: bool = Field(
        True, description="Shuffle which response is A (seeded), so labels are not tied to sample order."
    )


# ---------------------------------------------------------------------------------------------
# planning


def load_responses(path: Path) -> list[ResponseRecord]:
    """Good responses (no error, non-empty), in file order; a torn last line is ignored. Two good
    rows with one id are a DataError (a response would be paired with itself); a failed row
    followed by its retry is what a resumed sample leaves, and is fine."""
    if not path.exists():
        raise DataError("responses file not found", where=str(path), hint="run `judgelab sample --run DIR` first")
    good = []
    for i, row in enumerate(read_jsonl_tolerant(path), start=1):
        rec = ResponseRecord.from_dict(row, where=f"{path}:{i}")
        if rec.error is None:
            good.append((f"{path}:{i}", f"on line {i}", rec))
    return unique_ids(good, within=f"{path.name}: keep one row per response id")


def pair_id(a: ResponseRecord, b: ResponseRecord) -> str:
    return f"{a.id}~{b.id}"


def _rng(seed: int, *parts: Any) -> random.Random:
    return random.Random(int(stable_hash([seed, *parts])[:16], 16))


def plan_pairs(responses: list[ResponseRecord], cfg: PairsConfig, seed: int) -> list[tuple[ResponseRecord, ResponseRecord]]:
    """Deterministic list of (A, B) pairs given the responses, strategy and seed."""
    by_prompt: dict[str, list[ResponseRecord]] = defaultdict(list)
    for r in responses:
        by_prompt[r.prompt_id].append(r)
    out: list[tuple[ResponseRecord, ResponseRecord]] = []
    for pid, group in by_prompt.items():
        group = sorted(group, key=lambda r: r.id)
        rng = _rng(seed, pid)
        if cfg.strategy == "reference":
            refs = sorted((r for r in group if r.model == cfg.reference_model), key=lambda r: (r.sample_index, r.id))
            if not refs:
                log.warning("prompt %s has no response from reference model %s; skipped", pid, cfg.reference_model)
                continue
            ref = refs[0]
            pairs = [(r, ref) for r in group if r.id != ref.id]
        else:
            combos = list(itertools.combinations(group, 2))
            cap = cfg.k if cfg.strategy == "random" else cfg.max_per_prompt
            pairs = rng.sample(combos, cap) if len(combos) > cap else combos
        for a, b in pairs:
            if cfg.randomize_order and rng.random() < 0.5:
                a, b = b, a
            out.append((a, b))
    return out


def _meta(r: ResponseRecord) -> dict[str, Any]:
    # Same shape as judgelab.data.prompts.prompt_meta: what the rubric gold reads.
    return {"family": r.family, "constraints": dict(r.constraints), "prompt_id": r.prompt_id}


# ---------------------------------------------------------------------------------------------
# rows


def pair_row(a: ResponseRecord, b: ResponseRecord, ab: Verdict, ba: Verdict, judge: str) -> PairAnnotation:
    """Combine the AB-order verdict and the BA-order verdict (on the swapped item) into one row."""
    swap = reconcile_swap(pair_id(a, b), ab, ba)
    label_ab, label_ba, label = swap.pref_ab, swap.pref_ba, swap.preference
    consistent = swap.consistent if swap.complete else None
    errors = [f"{o}: {v.error}" for o, v in (("ab", ab), ("ba", ba)) if v.error]
    raws = {"ab": ab.raw, "ba": ba.raw}
    return PairAnnotation(
        id=pair_id(a, b), response_a_id=a.id, response_b_id=b.id, response_a=a.response, response_b=b.response,
        label=label, label_ab=label_ab, label_ba=label_ba, consistent=consistent,
        reasoning=ab.reasoning, reasoning_ba=ba.reasoning, raw=json.dumps(raws, ensure_ascii=False),
        error="; ".join(errors) or None, **_from_response(a, judge),
    )


def point_row(r: ResponseRecord, v: Verdict, judge: str) -> PointAnnotation:
    return PointAnnotation(
        id=r.id, response_id=r.id, response=r.response, score=v.score if v.ok else None,
        reasoning=v.reasoning, raw=v.raw, error=v.error, **_from_response(r, judge),
    )


def _from_response(r: ResponseRecord, judge: str) -> dict[str, Any]:
    """The fields an annotation row copies from its (first) response, and the judge's name."""
    return {"prompt_id": r.prompt_id, "prompt": r.prompt, "family": r.family, "split": r.split,
            "constraints": r.constraints, "judge": judge}


def _written(path: Path) -> dict[str, dict[str, Any]]:
    """Rows already appended, by id; a row without error beats one with, later beats earlier."""
    out: dict[str, dict[str, Any]] = {}
    for row in read_jsonl_tolerant(path):
        rid = row.get("id")
        prev = out.get(rid)
        if prev is None or row.get("error") is None or prev.get("error") is not None:
            out[rid] = row
    return out


def _needs(written: dict[str, dict[str, Any]], rid: str) -> bool:
    row = written.get(rid)
    return row is None or row.get("error") is not None
