"""JudgeBench (ScalerLab/JudgeBench; code: github.com/ScalerLab/JudgeBench).

Reads rows ``{pair_id, original_id, source, question, response_model, response_A, response_B,
label}`` with ``label`` "A>B" or "B>A" (``data/dataset=judgebench,response_model=*.jsonl``, or the
HF dataset's splits). Writes nothing.

Scoring, as the peer computes it (``run_judge.py``, ``utils/metrics.py::compute_final_metrics``):

- a **pairwise** judge (judgelab's ``eval_mode_for``) sees every pair twice, (A, B) and (B, A);
  the second decision is flipped back (``flip_judgment``). Per pair a counter adds +1 for each
  decision equal to the label and -1 for each equal to the flipped label (ties "A=B" and
  unparsed decisions add 0): counter > 0 is correct, < 0 incorrect, 0 a tie. So right+wrong
  (inconsistent) is not correct, right+tie or right+unparsed is correct, tie+tie is not.
  Accuracy = correct / all pairs.
- a **pointwise** judge (a reward model: the peer's ``--single_game``) decides once from the two
  scores: "A>B" if score(A) > score(B) else "B>A" (``utils/judges.py`` reward-model judges: a
  score tie goes to "B>A"); accuracy = decisions equal to the label / pairs. A pair with an
  unparsed score gets no decision (wrong).
- per category: the peer's ``source.startswith`` prefixes ``mmlu-pro`` (Knowledge),
  ``livebench-reasoning`` (Reasoning), ``livebench-math`` (Math), ``livecodebench`` (Coding),
  and Overall (all pairs). Sources matching none of them count in Overall only, as in the peer;
  judgelab also lists them under "other".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from judgelab.errors import DataError
from judgelab.judges.base import Judge, eval_mode_for
from judgelab.judges.types import Mode, PairwiseItem, PointwiseItem, Verdict

from . import common as C

NAME = "judgebench"
REQUIRED = ("question", "response_A", "response_B", "label")
DESCRIPTION = "JudgeBench: pair_id, question, response_A, response_B, label (A>B|B>A), source"
LABELS = ("A>B", "B>A")
# (prefix, JudgeBench's name for it), in run_judge.py's order.
CATEGORIES = (("mmlu-pro", "knowledge"), ("livebench-reasoning", "reasoning"), ("livebench-math", "math"),
              ("livecodebench", "coding"))


@dataclass
class Row:
    pair_id: str
    source: str
    question: str
    response_a: str
    response_b: str
    label: str


def detect(columns: list[str]) -> bool:
    return all(c in columns for c in REQUIRED)


def parse_rows(table: C.Table) -> list[Row]:
    out = []
    for i, r, where in C.checked_rows(table, REQUIRED, NAME, "pair_id"):
        label = str(r.get("label", "")).strip()
        if label not in LABELS:
            raise DataError(f"'label' must be one of {', '.join(LABELS)}, got {r.get('label')!r}", where=where)
        out.append(Row(pair_id=str(r.get("pair_id", i)), source=str(r.get("source") or ""),
                       question=C.as_text(r["question"], "question", where),
                       response_a=C.as_text(r["response_A"], "response_A", where),
                       response_b=C.as_text(r["response_B"], "response_B", where), label=label))
    return out


def flip_judgment(decision: str | None) -> str | None:
    return {"A>B": "B>A", "B>A": "A>B"}.get(decision, decision) if decision is not None else None


def decision_of(pref: str | None) -> str | None:
    """A judgelab preference as a JudgeBench decision string."""
    return {"A": "A>B", "B": "B>A", "tie": "A=B"}.get(pref) if pref else None


def pair_outcome(label: str, d1: str | None, d2_flipped: str | None) -> int:
    """compute_final_metrics' per-pair counter (both orders): +1 correct, -1 incorrect, 0 tie."""
    counter = 0
    for d in (d1, d2_flipped):
        if d == label:
            counter += 1
        elif d == flip_judgment(label):
            counter -= 1
    return (counter > 0) - (counter < 0)


def compute(rows: list[Row], decisions: list[tuple[str | None, str | None]] | list[str | None], reverse_order: bool) -> dict[str, Any]:
    """Accuracy overall and per category. ``decisions``: (order-1 decision, flipped order-2
    decision) per pair with ``reverse_order``, else one decision per pair."""
    correct: list[bool] = []
    stats = {"n_correct": 0, "n_incorrect": 0, "n_tie": 0, "n_inconsistent": 0, "n_nulls": 0}
    for row, d in zip(rows, decisions):
        if reverse_order:
            d1, d2 = d  # type: ignore[misc]
            o = pair_outcome(row.label, d1, d2)
            stats["n_correct" if o > 0 else "n_incorrect" if o < 0 else "n_tie"] += 1
            stats["n_inconsistent"] += d1 != d2
            stats["n_nulls"] += d1 is None or d2 is None
            correct.append(o > 0)
        else:
            ok = d == row.label
            stats["n_correct" if ok else "n_incorrect"] += 1
            stats["n_nulls"] += d is None
            correct.append(ok)
    groups: dict[str, dict[str, Any]] = {}
    for prefix, label in CATEGORIES:
        idx = [i for i, r in enumerate(rows) if r.source.startswith(prefix)]
        if idx:
            groups[f"{label} ({prefix})"] = {"n": len(idx), "accuracy": sum(correct[i] for i in idx) / len(idx)}
    other = [i for i, r in enumerate(rows) if not any(r.source.startswith(p) for p, _ in CATEGORIES)]
    if other and len(other) < len(rows):
        groups["other"] = {"n": len(other), "accuracy": sum(correct[i] for i in other) / len(other)}
    return {"score": C.rate(sum(correct), len(rows)), "categories": groups, "reverse_order": reverse_order, **stats}


async def aevaluate(judge: Judge, rows: list[Row], mode: Mode | None = None) -> tuple[dict[str, Any], list[Verdict]]:
    mode = mode or eval_mode_for(judge)
    meta = {"benchmark": NAME}
    if mode == "pairwise":
        items = [PairwiseItem(id=f"{NAME}:{r.pair_id}", prompt=r.question, response_a=r.response_a,
                              response_b=r.response_b, meta={**meta, "source": r.source}) for r in rows]
        ab, ba = await C.ajudge_both_orders(judge, items, f"{NAME}: judging {len(items)} pairs, both orders")
        decisions: list[Any] = [(decision_of(x.preference if x.ok else None), flip_judgment(decision_of(y.preference if y.ok else None)))
                                for x, y in zip(ab, ba)]
        result = compute(rows, decisions, reverse_order=True)
        verdicts = ab + ba
    else:
        C.require_pointwise(judge, NAME)
        items = [PointwiseItem(id=f"{NAME}:{r.pair_id}:{side}", prompt=r.question, response=resp, meta={**meta, "source": r.source})
                 for r in rows for side, resp in (("A", r.response_a), ("B", r.response_b))]
        verdicts = await C.ascore(judge, items, f"{NAME}: scoring {len(items)} responses")
        decisions = []
        ties = 0
        for k in range(len(rows)):
            va, vb = verdicts[2 * k], verdicts[2 * k + 1]
            if not (va.ok and vb.ok and va.score is not None and vb.score is not None):
                decisions.append(None)
                continue
            ties += va.score == vb.score
            decisions.append("A>B" if va.score > vb.score else "B>A")
        result = compute(rows, decisions, reverse_order=False)
        result["n_score_ties"] = ties
    result["mode"] = mode
    result["metric"] = ("accuracy, both orders aggregated (JudgeBench compute_final_metrics)" if mode == "pairwise"
                        else "accuracy, single game from scores (JudgeBench reward-model rule)")
    return result, verdicts


def table_rows(result: dict[str, Any]) -> C.TableRows:
    rows: C.TableRows = [("accuracy (overall)", C.fmt(result["score"]), str(result["n_rows"]))]
    for name, g in result["categories"].items():
        rows.append((f"  {name}", C.fmt(g["accuracy"]), str(g["n"])))
    if result["reverse_order"]:
        rows.append(("pairs correct / incorrect / tie", f"{result['n_correct']} / {result['n_incorrect']} / {result['n_tie']}", ""))
        rows.append(("inconsistent pairs (orders disagree)", str(result["n_inconsistent"]), ""))
    else:
        rows.append(("score ties (counted B>A)", str(result.get("n_score_ties", 0)), ""))
    rows.append(("pairs with an unparsed verdict", str(result["n_nulls"]), ""))
    return rows
