"""Judge training examples from the gold annotations: the prompts a judge sees (its template) and
the targets it learns (a verdict, or the gold's reasoning trace then the verdict), for pairwise and
pointwise judges, with position-swapped copies and the trace-information ablation (``trace_info``).

Reads ``RUN/annotations/{pairs,points}.jsonl`` through judgelab.data.annotations; writes nothing.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from judgelab.data.annotations import read_pairs, read_points
from judgelab.data.records import PairAnnotation, PointAnnotation
from judgelab.errors import DataError
from judgelab.judges.templates import load_template
from judgelab.judges.types import FLIP, PairwiseItem, PointwiseItem, Style
from judgelab.train.common import TrainJudgeConfig

log = logging.getLogger(__name__)

VERDICT_TEXT = {"A": "[[A]]", "B": "[[B]]", "tie": "[[C]]"}


def gold_pairs(cfg: TrainJudgeConfig, run_dir: str | Path) -> list[PairAnnotation]:
    """The labelled pairs of the training split, at most ``max_examples``."""
    return read_pairs(run_dir, cfg.split)[: cfg.max_examples or None]


def gold_points(cfg: TrainJudgeConfig, run_dir: str | Path) -> list[PointAnnotation]:
    """The scored points of the training split, at most ``max_examples``."""
    return read_points(run_dir, cfg.split)[: cfg.max_examples or None]


# --------------------------------------------------------------------------- examples


@dataclass
class JudgeExample:
    """One training example: the judge's chat prompt, the gold verdict and the SFT target."""

    messages: list[dict[str, str]]
    gold: str  # "A" | "B" | "tie" (pairwise) or the score as text (pointwise)
    target: str | None  # SFT completion text; None when no gold trace exists for this order
    prompt: str = ""
    response_a: str = ""
    response_b: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _fmt_score(s: float) -> str:
    return str(int(s)) if float(s).is_integer() else f"{s:.1f}"


def _think(reasoning: str) -> str:
    return f"<think>\n{reasoning.strip()}\n</think>\n"


def _trace_for(cfg: TrainJudgeConfig, trace: str) -> str:
    """The gold trace as the judge is trained on it (``trace_info``)."""
    if cfg.trace_info == "names":
        from judgelab.judges.rubric.gold import names_only_trace

        return names_only_trace(trace)
    return trace


def _trace_verdict(raw: str | None) -> str | None:
    from judgelab.judges.parsing.pairwise import parse_pairwise

    if not raw:
        return None
    r = parse_pairwise(raw, allow_tie=True)
    return r.preference if r.parsed else None


def build_examples(cfg: TrainJudgeConfig, run_dir: str | Path, *, target: Literal["verdict", "trace"], style: Style) -> list[JudgeExample]:
    """Gold annotations -> judge examples, prompts rendered with the inference templates.

    ``target='verdict'``: the completion is the verdict only ("[[A]]" / "Score: 7").
    ``target='trace'``: "<think>gold trace</think>" then the verdict; rows without a trace (or
    whose trace argued for another verdict than the final label) get ``target=None``.
    """
    examples = build_pairwise_examples(cfg, run_dir, target=target, style=style) if cfg.mode == "pairwise" \
        else build_pointwise_examples(cfg, run_dir, target=target, style=style)
    if not examples:
        f = "pairs.jsonl" if cfg.mode == "pairwise" else "points.jsonl"
        raise DataError(
            f"no labelled {cfg.mode} annotations in split '{cfg.split}'",
            where=str(Path(run_dir) / "annotations" / f),
            hint="run `judgelab annotate` first, or check `split`",
        )
    return examples


def build_pairwise_examples(cfg: TrainJudgeConfig, run_dir: str | Path, *, target: str, style: Style) -> list[JudgeExample]:
    pairs = gold_pairs(cfg, run_dir)
    tpl = load_template(None, "pairwise", style)
    out: list[JudgeExample] = []
    dropped = 0
    for p in pairs:
        if p.label == "tie" and not cfg.include_ties:
            continue
        orders = [(p.response_a, p.response_b, p.label, p.reasoning, p.raw, False)]
        if cfg.swap_augment:
            # The BA-order trace (if the gold judge was run both ways) talks about the swapped
            # presentation, so it is the right trace for the swapped copy.
            orders.append((p.response_b, p.response_a, FLIP[p.label], p.reasoning_ba, None, True))
        for a, b, gold, trace, raw, swapped in orders:
            item = PairwiseItem(id=p.id + ("::swap" if swapped else ""), prompt=p.prompt, response_a=a, response_b=b)
            msgs = tpl.render(item, tuple(cfg.scale), cfg.include_ties)
            if target == "verdict":
                tgt: str | None = VERDICT_TEXT[gold]
            else:
                tv = _trace_verdict(raw) if raw else None
                if not trace or (tv is not None and tv != gold):
                    tgt = None
                    dropped += 1
                else:
                    tgt = _think(_trace_for(cfg, trace)) + VERDICT_TEXT[gold]
            out.append(JudgeExample(msgs, gold, tgt, p.prompt, a, b, {"family": p.family, "id": item.id}))
    if dropped:
        log.info("%d pairwise examples have no usable gold trace for their order (skipped for SFT)", dropped)
    return out


def build_pointwise_examples(cfg: TrainJudgeConfig, run_dir: str | Path, *, target: str, style: Style) -> list[JudgeExample]:
    points = gold_points(cfg, run_dir)
    tpl = load_template(None, "pointwise", style)
    out = []
    for p in points:
        item = PointwiseItem(id=p.id, prompt=p.prompt, response=p.response)
        msgs = tpl.render(item, tuple(cfg.scale), cfg.include_ties)
        verdict = f"Score: {_fmt_score(float(p.score))}"  # type: ignore[arg-type]
        if target == "verdict":
            tgt: str | None = verdict
        else:
            tgt = _think(_trace_for(cfg, p.reasoning)) + verdict if p.reasoning else None
        out.append(JudgeExample(msgs, _fmt_score(float(p.score)), tgt, p.prompt, p.response, "", {"family": p.family, "id": p.id}))  # type: ignore[arg-type]
    return out


def shuffled(xs: list[Any], seed: int) -> list[Any]:
    xs = list(xs)
    random.Random(seed).shuffle(xs)
    return xs
