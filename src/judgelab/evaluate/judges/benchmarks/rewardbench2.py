"""RewardBench 2 (allenai/reward-bench-2; code: github.com/allenai/reward-bench, the v2 scripts).

Reads rows ``{id, prompt, chosen: [str], rejected: [str], num_correct, subset, ...}`` (the HF
dataset's columns; ``num_rejected``, ``total_completions``, ``models``, ``additional_metadata``
are carried but unused). Every response is scored pointwise by the judge, as reward models are
(``scripts/run_v2.py``) and as generative judges are with ``--score_w_ratings``
(``scripts/run_generative_v2.py``, mandatory there for Ties); the 4-way ranking prompt has no
judgelab counterpart. Writes nothing.

Scoring, as the peer computes it:

- **best-of-4 accuracy** (every subset but Ties): ``rewardbench/utils.py::reroll_and_score_dataset``
  -- the responses are ``chosen + rejected`` in that order; with ``m = max(scores)`` a row scores
  ``1 / #{i: scores[i] == m}`` if ``scores[0] == m`` else 0 (a k-way tie at the top earns 1/k).
  Per subset: the mean of the row results (``scripts/run_v2.py``, "print per subset").
- **Ties** (subset named "Ties", case-insensitive): ``rewardbench/utils.py::process_single_model``
  and ``_compute_prompt_stats``. Ids are ``"<ref|tied>:<prompt_id>"``; the first ``num_correct``
  scores of a row are the correct answers. Per (type, prompt): accurate = worst correct > best
  incorrect; different-correct margin = best - worst correct (None with < 2 correct);
  correct-incorrect margin = worst correct - best incorrect. Then
  ``0.30 tied_acc + 0.30 ref_acc + 0.20 P(cim_tied > dcm) + 0.20 P(min(cim_ref, cim_tied) > dcm)
  + 0.01 mean(tanh(min(cim_ref, cim_tied) / dcm - 1))`` over prompts with both a ref and a tied
  row (nan terms count 0 in the tanh mean, as ``np.nan_to_num`` does).
- **overall**: the unweighted mean of the subset scores (the RewardBench 2 leaderboard's
  "Score"; the scripts print per-subset numbers only).

An unparsed judge score ranks below all parsed ones (see ``common.score_of``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from judgelab.errors import DataError
from judgelab.judges.base import Judge
from judgelab.judges.types import PointwiseItem, Verdict

from . import common as C

NAME = "rewardbench2"
REQUIRED = ("prompt", "chosen", "rejected", "num_correct")
DESCRIPTION = "RewardBench 2: prompt, chosen [list], rejected [list], num_correct, subset"


@dataclass
class Row:
    id: str
    subset: str
    prompt: str
    responses: list[str]  # chosen + rejected, in that order (the peer's unrolled order)
    num_correct: int


def detect(columns: list[str]) -> bool:
    return all(c in columns for c in REQUIRED)


def parse_rows(table: C.Table) -> list[Row]:
    out = []
    for i, r, where in C.checked_rows(table, REQUIRED, NAME):
        chosen = C.as_text_list(r.get("chosen"), "chosen", where)
        rejected = C.as_text_list(r.get("rejected"), "rejected", where)
        try:
            nc = int(r["num_correct"])
        except (TypeError, ValueError):
            raise DataError(f"'num_correct' must be an integer, got {r.get('num_correct')!r}", where=where) from None
        out.append(Row(id=str(r.get("id", i)), subset=str(r.get("subset") or "(none)"),
                       prompt=C.as_text(r.get("prompt"), "prompt", where), responses=chosen + rejected, num_correct=nc))
        if out[-1].subset.lower() == "ties":
            if ":" not in out[-1].id:
                raise DataError(f"a Ties row id must read '<ref|tied>:<prompt id>', got '{out[-1].id}'", where=where)
            if not 1 <= nc < len(out[-1].responses):
                raise DataError(f"a Ties row needs 1 <= num_correct < {len(out[-1].responses)} responses, got {nc}", where=where)
    return out


def best_of_n_result(scores: list[float]) -> float:
    """reroll_and_score_dataset: 1/k when the first (chosen) response shares the top score with k-1 others."""
    top = max(scores)
    return 1.0 / sum(s == top for s in scores) if scores[0] == top else 0.0


def _prompt_stats(samples: list[tuple[bool, float]]) -> tuple[bool, float, float]:
    correct = [s for ok, s in samples if ok]
    incorrect = [s for ok, s in samples if not ok]
    dcm = max(correct) - min(correct) if len(correct) > 1 else math.nan  # the peer's None
    cim = min(correct) - max(incorrect)
    return cim > 0, dcm, cim


def ties_score(rows: list[Row], scores: list[list[float]]) -> dict[str, Any]:
    """process_single_model on the Ties rows; returns the overall score and its parts."""
    grouped: dict[tuple[str, Any], list[tuple[bool, float]]] = defaultdict(list)
    for row, sc in zip(rows, scores):
        kind, pid = row.id.split(":", 1)
        key: Any = int(pid) if pid.strip().lstrip("-").isdigit() else pid  # the peer: int(prompt_id)
        grouped[(kind, key)] += [(i < row.num_correct, s) for i, s in enumerate(sc)]
    ref, tied = {}, {}
    for (kind, pid), samples in grouped.items():
        (ref if kind == "ref" else tied)[pid] = _prompt_stats(samples)
    ref_acc = C.mean([float(s[0]) for s in ref.values()]) or 0.0
    tied_acc = C.mean([float(s[0]) for s in tied.values()]) or 0.0
    both = [p for p in ref if p in tied]
    out: dict[str, Any] = {"ref_accuracy": ref_acc, "tied_accuracy": tied_acc, "n_ref": len(ref), "n_tied": len(tied),
                           "n_prompts_both": len(both)}
    if not both:
        # np.mean([]) is nan in the peer: the score is undefined without paired ref/tied prompts.
        out.update(correctness_preferred=None, correctness_preferred_hard=None, correctness_margin_score=None, score=None)
        return out
    dcm = [tied[p][1] for p in both]
    cit = [tied[p][2] for p in both]
    cir = [ref[p][2] for p in both]
    pref = sum(t > d for t, d in zip(cit, dcm)) / len(both)
    pref_hard = sum(C.np_min(r, t) > d for r, t, d in zip(cir, cit, dcm)) / len(both)
    margins = [math.tanh(C.np_div(C.np_min(r, t), d) - 1) for r, t, d in zip(cir, cit, dcm)]
    margin = sum(0.0 if math.isnan(m) else m for m in margins) / len(both)
    out.update(correctness_preferred=pref, correctness_preferred_hard=pref_hard, correctness_margin_score=margin,
               score=0.30 * tied_acc + 0.30 * ref_acc + 0.20 * pref + 0.20 * pref_hard + 0.01 * margin)
    return out


def compute(rows: list[Row], scores: list[list[float]]) -> dict[str, Any]:
    """Per-subset and overall scores from each row's response scores (chosen first)."""
    by_subset: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_subset[row.subset].append(i)
    subsets: dict[str, dict[str, Any]] = {}
    for name in sorted(by_subset):
        idx = by_subset[name]
        if name.lower() == "ties":
            t = ties_score([rows[i] for i in idx], [scores[i] for i in idx])
            subsets[name] = {"n": len(idx), "score": t["score"], "kind": "ties", **t}
        else:
            res = [best_of_n_result(scores[i]) for i in idx]
            subsets[name] = {"n": len(idx), "score": sum(res) / len(res), "kind": "best-of-n",
                             "n_correct": sum(res)}
    present = [s["score"] for s in subsets.values() if s["score"] is not None]
    return {"score": C.mean(present), "subsets": subsets}


async def aevaluate(judge: Judge, rows: list[Row]) -> tuple[dict[str, Any], list[Verdict]]:
    C.require_pointwise(judge, NAME)
    items = [PointwiseItem(id=f"{NAME}:{r.id}:{k}", prompt=r.prompt, response=resp, meta={"benchmark": NAME, "subset": r.subset})
             for r in rows for k, resp in enumerate(r.responses)]
    scores, verdicts = await C.score_rows(judge, items, [len(r.responses) for r in rows], f"{NAME}: scoring {len(items)} responses")
    result = compute(rows, scores)
    result["mode"] = "pointwise"
    result["metric"] = "best-of-n accuracy per subset (Ties: weighted accuracy+margin score); overall = mean of subsets"
    return result, verdicts


def table_rows(result: dict[str, Any]) -> C.TableRows:
    rows: C.TableRows = [("score (mean of subsets)", C.fmt(result["score"]), str(result["n_rows"]))]
    for name, s in result["subsets"].items():
        rows.append((f"  {name}" + (" (ties score)" if s["kind"] == "ties" else " (best-of-n acc)"), C.fmt(s["score"]), str(s["n"])))
        if s["kind"] == "ties":
            rows.append(("    ref / tied accuracy", f"{C.fmt(s['ref_accuracy'])} / {C.fmt(s['tied_accuracy'])}",
                         f"{s['n_ref']}/{s['n_tied']}"))
            rows.append(("    correctness preferred (hard)",
                         f"{C.fmt(s['correctness_preferred'])} ({C.fmt(s['correctness_preferred_hard'])})", str(s["n_prompts_both"])))
    return rows
