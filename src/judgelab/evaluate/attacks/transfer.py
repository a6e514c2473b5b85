"""One judge on every source of the transfer matrix: attack success rate, stripped re-judge and
score drop per source (definitions in analysis.py).

Pointwise, an attack succeeds when the output scores strictly above its baseline; pairwise, when it
wins the position-swapped comparison (P(output wins) > 0.5). Each flagged output is judged again
with its flagged spans removed. Everything a judge sees goes to it in one batch (backends batch and
cache across sources). Reads and writes no files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from judgelab.errors import ConfigError
from judgelab.evaluate.attacks.config import AttacksConfig
from judgelab.evaluate.attacks.flagging import flags_of, rate_ci
from judgelab.evaluate.attacks.sources import Case, Source
from judgelab.evaluate.attacks.spans import strip_spans
from judgelab.evaluate.stats import bootstrap_cluster_mean_ci, mean_or_none
from judgelab.judges.aggregate import pair_outcome
from judgelab.judges.base import Judge, probe_mode_for
from judgelab.judges.types import Mode, PairwiseItem, PointwiseItem
from judgelab.progress import progress_bar

# per source: value name ("success", "drop", ...) -> prompt id -> values
Values = dict[str, dict[str, list[float]]]


@dataclass
class Planned:
    """One case as a judge sees it: its item ids start with ``base_id``."""

    source: str
    base_id: str
    case: Case
    stripped: str | None  # the output with its flagged spans removed (None: not re-judged)
    flagged: bool


def _judge_mode(judge: Judge, config: AttacksConfig) -> Mode:
    if config.mode == "auto":
        return probe_mode_for(judge)
    if config.mode not in judge.modes:
        raise ConfigError(f"judge {judge.name!r} does not answer {config.mode}", where="attacks.mode",
                          hint=f"it answers {list(judge.modes)}; use mode: auto")
    return config.mode  # type: ignore[return-value]


def _plan(sources: Sequence[Source], config: AttacksConfig) -> list[Planned]:
    out = []
    for s in sources:
        for i, c in enumerate(s.cases):
            fs = flags_of(c.output, c.prompt, config)
            stripped = strip_spans(c.output, [(f.start, f.end) for f in fs]) if (config.strip and fs) else None
            out.append(Planned(s.name, f"atk:{s.name}:{i}", c, stripped, bool(fs)))
    return out


def _items(plan: Sequence[Planned], mode: Mode) -> list[PointwiseItem | PairwiseItem]:
    """Pointwise: output, baseline and stripped output scored; pairwise: output and stripped output
    against the baseline, in both orders."""
    items: list[PointwiseItem | PairwiseItem] = []
    for p in plan:
        c = p.case
        if mode == "pointwise":
            items += [PointwiseItem(f"{p.base_id}:out", c.prompt, c.output, c.meta),
                      PointwiseItem(f"{p.base_id}:base", c.prompt, c.baseline, c.meta)]
            if p.stripped is not None:
                items.append(PointwiseItem(f"{p.base_id}:strip", c.prompt, p.stripped, c.meta))
        else:
            it = PairwiseItem(f"{p.base_id}:out", c.prompt, c.output, c.baseline, c.meta)
            items += [it, it.swapped()]
            if p.stripped is not None:
                st = PairwiseItem(f"{p.base_id}:strip", c.prompt, p.stripped, c.baseline, c.meta)
                items += [st, st.swapped()]
    return items


def _score(v: Any) -> float | None:
    return v.score if v is not None and v.ok and v.score is not None else None


def _collect(plan: Sequence[Planned], by_id: dict[str, Any], mode: Mode, config: AttacksConfig
             ) -> tuple[dict[str, Values], dict[str, dict[str, int]]]:
    """Per source: success, drop and score values per prompt, and the flagged/unusable counts.
    The value compared is the output's score (beats the baseline's) or its P(win) (beats 0.5)."""
    acc: dict[str, Values] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for p in plan:
        a, pid = acc[p.source], p.case.prompt_id
        counts[p.source]["flagged"] += p.flagged
        wins: Callable[[float], bool]
        if mode == "pointwise":
            out, base = _score(by_id.get(f"{p.base_id}:out")), _score(by_id.get(f"{p.base_id}:base"))
            if out is None or base is None:
                counts[p.source]["unusable"] += 1
                continue
            wins = (lambda x, b=base: x > b)
            a["output_score"][pid].append(out)
            a["baseline_score"][pid].append(base)
            strip = _score(by_id.get(f"{p.base_id}:strip")) if p.stripped is not None else None
        else:
            out, _, _, _ = pair_outcome(by_id.get(f"{p.base_id}:out"), by_id.get(f"{p.base_id}:out::swap"))
            if out is None:
                counts[p.source]["unusable"] += 1
                continue
            wins = (lambda x: x > 0.5)
            a["p_win"][pid].append(out)
            strip = (pair_outcome(by_id.get(f"{p.base_id}:strip"), by_id.get(f"{p.base_id}:strip::swap"))[0]
                     if p.stripped is not None else None)
        a["success"][pid].append(1.0 if wins(out) else 0.0)
        if p.stripped is not None:
            if strip is not None:
                a["drop"][pid].append(out - strip)
                a["success_stripped"][pid].append(1.0 if wins(strip) else 0.0)
                a["success_flagged"][pid].append(1.0 if wins(out) else 0.0)
                a["success_flagged_stripped"][pid].append(1.0 if wins(strip) else 0.0)
        elif config.strip:
            a["success_stripped"][pid].append(1.0 if wins(out) else 0.0)  # nothing to strip
    return acc, counts


def _cell(values: Values, counts: dict[str, int], mode: Mode, config: AttacksConfig) -> dict[str, Any]:
    """One source's cell of the matrix: rates with their CIs and counts."""
    def stat(key: str) -> tuple[float | None, list[float] | None, int]:
        groups = list(values[key].values())
        vals = [v for g in groups for v in g]
        ci = (rate_ci(groups, config) if key.startswith("success")
              else bootstrap_cluster_mean_ci(groups, config.bootstrap, 0.05, config.seed))
        return mean_or_none(vals), ci, len(vals)

    asr, asr_ci, n = stat("success")
    cell: dict[str, Any] = {"mode": mode, "n": n, "n_flagged": counts["flagged"], "unusable": counts["unusable"],
                            "asr": asr, "asr_ci": asr_ci}
    fl, fl_ci, _ = stat("success_flagged")
    cell.update({"asr_flagged": fl, "asr_flagged_ci": fl_ci})
    if config.strip:
        # asr_stripped: over all n cases (an unflagged output is judged as it is); n_stripped:
        # the flagged outputs judged again stripped, over which asr_flagged (before) and
        # asr_flagged_stripped (after) and the score drop are measured.
        st, st_ci, nst = stat("success_stripped")
        fst, fst_ci, _ = stat("success_flagged_stripped")
        drop, drop_ci, nd = stat("drop")
        cell.update({"asr_stripped": st, "asr_stripped_ci": st_ci, "n_asr_stripped": nst,
                     "asr_flagged_stripped": fst, "asr_flagged_stripped_ci": fst_ci,
                     "score_drop": drop, "score_drop_ci": drop_ci, "n_stripped": nd,
                     "drop_units": "score points" if mode == "pointwise" else "P(win vs baseline)"})
    if mode == "pointwise":
        cell["output_mean_score"], _, _ = stat("output_score")
        cell["baseline_mean_score"], _, _ = stat("baseline_score")
    return cell


def judge_sources(judge: Judge, sources: Sequence[Source], config: AttacksConfig) -> dict[str, Any]:
    """One judge on every source: ASR, stripped ASR and score drop per source (module docstring)."""
    mode = _judge_mode(judge, config)
    plan = _plan(sources, config)
    items = _items(plan, mode)
    with progress_bar(len(items), f"attacks vs {judge.name}") as advance:
        verdicts = judge.judge(items, on_result=lambda v: advance())
    by_id = {v.item_id: v for v in verdicts}
    failed = sum(1 for v in verdicts if not v.ok)
    acc, counts = _collect(plan, by_id, mode, config)
    cells = {s.name: _cell(acc[s.name], counts[s.name], mode, config) for s in sources}
    return {"judge": judge.name, "mode": mode, "scale": list(judge.scale), "cells": cells,
            "parse_failure_rate": failed / len(verdicts) if verdicts else None}
