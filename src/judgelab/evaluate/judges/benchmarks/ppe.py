"""PPE, Preference Proxy Evaluations (lmarena; paper arXiv:2410.14872, code github.com/lmarena/PPE).

Two kinds of PPE files, told apart by their columns:

- **human preference** (``lmarena-ai/PPE-Human-Preference-V1``, split "test"): ``question_id,
  model_a, model_b, winner, prompt, response_1, response_2, language, is_code, is_refusal,
  hard_prompt, easy_prompt, if_prompt, math_prompt, ...`` (the dataset card's features).
  ``response_1`` is model_a's answer; ``winner`` is "model_a", "model_b", "tie" or
  "tie (bothbad)". Metric: **pairwise accuracy on the non-tie rows** (ties are not judged).
  A pointwise judge is right when the winner's score is strictly higher (a score tie is wrong,
  counted in ``n_score_ties``); a pairwise judge (judgelab's ``eval_mode_for``) is asked in the
  dataset order (headline accuracy; Arena already randomised which model is A) and swapped
  (``accuracy_ba``, ``position_consistency``). Per category: the boolean tag columns
  (hard_prompt, easy_prompt, if_prompt, math_prompt, is_code) and each language.
- **correctness best-of-K** (``lmarena-ai/PPE-{MMLU-Pro,MATH,GPQA,IFEval,MBPP-Plus}-Best-of-K``):
  ``question_id, prompt, response_1 .. response_K, scores`` (one 0/1 correctness label per
  response, K = 32) and ``sampled_conflict_pairs`` (0-based index pairs of one correct and one
  incorrect response). Every response is scored pointwise. Metrics: **pairwise accuracy** over
  the sampled conflict pairs (all correct x incorrect pairs without that column): the correct
  response must score strictly higher; and the **best-of-K curve**: for k = 1..K, the expected
  correctness of the judge's top-scored response among k responses drawn uniformly without
  replacement (computed exactly, score ties broken uniformly), next to the oracle curve (the
  chance that k draws hold a correct answer). Reported: the curve, its maximum over k
  ("max achieved", the paper's best-of-K), its value at k = K, and the mean gap to the oracle.

lmarena/PPE's scoring code could not be fetched here (no snapshot), so these follow the paper's
and the datasets' definitions, not a line-by-line port; the schemas come from the dataset cards.
An unparsed judge score ranks below all parsed ones (see ``common.score_of``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from math import comb
from typing import Any

from judgelab.errors import DataError, JudgelabError
from judgelab.judges.base import Judge, eval_mode_for
from judgelab.judges.types import Mode, PairwiseItem, PointwiseItem, Verdict

from . import common as C

NAME = "ppe"
HP_REQUIRED = ("prompt", "response_1", "response_2", "winner")
CORR_REQUIRED = ("prompt", "response_1", "scores")
DESCRIPTION = ("PPE: prompt, response_1, response_2, winner (human preference) | "
               "prompt, response_1..K, scores, sampled_conflict_pairs (correctness)")
WINNERS = {"model_a": "A", "model_b": "B"}
TIES = ("tie", "tie (bothbad)")
TAGS = ("hard_prompt", "easy_prompt", "if_prompt", "math_prompt", "is_code")
_RESPONSE_COL = re.compile(r"^response_(\d+)$")


def detect(columns: list[str]) -> bool:
    return kind_of(columns) is not None


def kind_of(columns: list[str]) -> str | None:
    if all(c in columns for c in HP_REQUIRED):
        return "human-preference"
    if all(c in columns for c in CORR_REQUIRED):
        return "correctness"
    return None


# --------------------------------------------------------------------------- human preference


@dataclass
class HPRow:
    id: str
    prompt: str
    response_a: str
    response_b: str
    label: str | None  # "A" / "B"; None for a tie
    groups: list[str] = field(default_factory=list)


def parse_hp(table: C.Table) -> list[HPRow]:
    out = []
    for i, r, where in C.checked_rows(table, HP_REQUIRED, f"{NAME} human-preference", "question_id"):
        w = str(r.get("winner"))
        if w not in WINNERS and w not in TIES:
            raise DataError(f"'winner' must be model_a, model_b, tie or 'tie (bothbad)', got {r.get('winner')!r}", where=where)
        groups = [t for t in TAGS if r.get(t) is True]
        if r.get("language"):
            groups.append(f"language={r['language']}")
        out.append(HPRow(id=str(r.get("question_id", i)), prompt=C.as_text(r.get("prompt"), "prompt", where),
                         response_a=C.as_text(r.get("response_1"), "response_1", where),
                         response_b=C.as_text(r.get("response_2"), "response_2", where), label=WINNERS.get(w), groups=groups))
    return out


def hp_compute(rows: list[HPRow], correct: list[bool], correct_ba: list[bool] | None = None) -> dict[str, Any]:
    """Accuracy of the non-tie rows (``correct`` is aligned with them), overall and per group."""
    judged = [r for r in rows if r.label is not None]
    groups: dict[str, list[bool]] = defaultdict(list)
    for r, ok in zip(judged, correct):
        for g in r.groups:
            groups[g].append(ok)
    out: dict[str, Any] = {
        "kind": "human-preference", "score": C.rate(sum(correct), len(correct)), "n_non_tie": len(judged),
        "n_ties_skipped": len(rows) - len(judged),
        "categories": {g: {"n": len(v), "accuracy": sum(v) / len(v)} for g, v in sorted(groups.items())},
    }
    if correct_ba is not None:
        out["accuracy_ba"] = C.rate(sum(correct_ba), len(correct_ba))
    return out


async def _aevaluate_hp(judge: Judge, rows: list[HPRow], mode: Mode) -> tuple[dict[str, Any], list[Verdict]]:
    judged = [r for r in rows if r.label is not None]
    meta = {"benchmark": NAME}
    if mode == "pairwise":
        items = [PairwiseItem(id=f"{NAME}:{r.id}", prompt=r.prompt, response_a=r.response_a, response_b=r.response_b, meta=meta)
                 for r in judged]
        ab, ba = await C.ajudge_both_orders(judge, items, f"{NAME}: judging {len(items)} pairs, both orders")
        correct = [v.ok and v.preference == r.label for r, v in zip(judged, ab)]
        correct_ba = [C.unswapped(v) == r.label for r, v in zip(judged, ba)]
        result = hp_compute(rows, correct, correct_ba)
        both = [(x.preference, C.unswapped(y)) for x, y in zip(ab, ba) if x.ok and y.ok]
        result["position_consistency"] = C.rate(sum(a == b for a, b in both), len(both))
        result["tie_rate"] = C.rate(sum(v.ok and v.preference == "tie" for v in ab + ba), len(ab + ba))
        return result, ab + ba
    C.require_pointwise(judge, NAME)
    items = [PointwiseItem(id=f"{NAME}:{r.id}:{side}", prompt=r.prompt, response=resp, meta=meta)
             for r in judged for side, resp in (("1", r.response_a), ("2", r.response_b))]
    verdicts = await C.ascore(judge, items, f"{NAME}: scoring {len(items)} responses")
    correct, ties = [], 0
    for k, r in enumerate(judged):
        sa, sb = C.score_of(verdicts[2 * k]), C.score_of(verdicts[2 * k + 1])
        ties += sa == sb
        correct.append(sa > sb if r.label == "A" else sb > sa)
    result = hp_compute(rows, correct)
    result["n_score_ties"] = ties
    return result, verdicts


# --------------------------------------------------------------------------- correctness


@dataclass
class CorrRow:
    id: str
    prompt: str
    responses: list[str]
    labels: list[float]
    pairs: list[tuple[int, int]]  # (correct index, incorrect index)
    category: str | None


def parse_correctness(table: C.Table) -> list[CorrRow]:
    out = []
    for i, r, where in C.checked_rows(table, CORR_REQUIRED, f"{NAME} correctness", "question_id"):
        labels = r.get("scores")
        if not isinstance(labels, (list, tuple)) or not labels:
            raise DataError(f"'scores' must be a non-empty list of correctness labels, got {type(labels).__name__}", where=where)
        try:
            labels = [float(x) for x in labels]
        except (TypeError, ValueError):
            raise DataError("'scores' must hold numbers or booleans", where=where) from None
        cols = sorted((int(m.group(1)), k) for k in r if (m := _RESPONSE_COL.match(k)))
        if [n for n, _ in cols][:len(labels)] != list(range(1, len(labels) + 1)):
            raise DataError(f"'scores' has {len(labels)} labels but the row lacks response_1..response_{len(labels)}", where=where)
        responses = [C.as_text(r[k], k, where) for _, k in cols[:len(labels)]]
        raw_pairs = r.get("sampled_conflict_pairs")
        pairs: list[tuple[int, int]] = []
        if raw_pairs is None:
            pairs = [(a, b) for a in range(len(labels)) for b in range(len(labels)) if labels[a] > labels[b]]
        else:
            for p in raw_pairs:
                if not (isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < len(labels) for x in p)):
                    raise DataError(f"bad sampled_conflict_pairs entry {p!r} (need [i, j], 0 <= i, j < {len(labels)})", where=where)
                a, b = int(p[0]), int(p[1])
                if labels[a] != labels[b]:  # a pair of equal labels has no right answer
                    pairs.append((a, b) if labels[a] > labels[b] else (b, a))
        cat = r.get("category")
        out.append(CorrRow(id=str(r.get("question_id", i)), prompt=C.as_text(r.get("prompt"), "prompt", where),
                           responses=responses, labels=labels, pairs=pairs, category=str(cat) if cat is not None else None))
    return out


def best_of_k_curve(scores: list[float], labels: list[float]) -> list[float]:
    """E[label of the top-scored response among k uniform draws without replacement], k = 1..n.
    Groups of equal scores: the draw's top group is g with probability
    (C(n - above_g, k) - C(n - above_g - size_g, k)) / C(n, k); within it every member is equally
    likely to be picked, so the expected label is the group's mean label."""
    n = len(scores)
    order: dict[float, list[float]] = defaultdict(list)
    for s, y in zip(scores, labels):
        order[s].append(y)
    groups = [(len(v), sum(v) / len(v)) for _, v in sorted(order.items(), key=lambda kv: -kv[0])]
    curve = []
    for k in range(1, n + 1):
        total, above, e = comb(n, k), 0, 0.0
        for size, mean_label in groups:
            e += (comb(n - above, k) - comb(n - above - size, k)) / total * mean_label
            above += size
        curve.append(e)
    return curve


def corr_compute(rows: list[CorrRow], scores: list[list[float]]) -> dict[str, Any]:
    pair_ok = [scores[k][a] > scores[k][b] for k, r in enumerate(rows) for a, b in r.pairs]
    n = min(len(r.labels) for r in rows) if rows else 0
    # Rows of unequal K: the curve over the first min-K responses of each row keeps k comparable.
    curves = [best_of_k_curve(s[:n], r.labels[:n]) for r, s in zip(rows, scores)]
    oracle = [best_of_k_curve(r.labels[:n], r.labels[:n]) for r in rows]
    curve = [sum(c[k] for c in curves) / len(curves) for k in range(n)] if rows else []
    oracle_curve = [sum(c[k] for c in oracle) / len(oracle) for k in range(n)] if rows else []
    cats: dict[str, list[int]] = defaultdict(list)
    for k, r in enumerate(rows):
        if r.category is not None:
            cats[r.category].append(k)
    categories = {}
    for name, idx in sorted(cats.items()):
        ok = [scores[k][a] > scores[k][b] for k in idx for a, b in rows[k].pairs]
        categories[name] = {"n": len(idx), "pairwise_accuracy": C.rate(sum(ok), len(ok)),
                            "best_of_k_max": max(sum(curves[k][j] for k in idx) / len(idx) for j in range(n)) if n else None}
    return {
        "kind": "correctness", "score": C.rate(sum(pair_ok), len(pair_ok)), "pairwise_accuracy": C.rate(sum(pair_ok), len(pair_ok)),
        "n_pairs": len(pair_ok), "k": n,
        "best_of_k_max": max(curve) if curve else None, "best_of_k_at_K": curve[-1] if curve else None,
        "best_of_k_curve": curve, "oracle_curve": oracle_curve,
        "mean_gap_to_oracle": C.mean([o - c for o, c in zip(oracle_curve, curve)]),
        "categories": categories,
    }


async def _aevaluate_corr(judge: Judge, rows: list[CorrRow]) -> tuple[dict[str, Any], list[Verdict]]:
    C.require_pointwise(judge, f"{NAME} correctness")
    items = [PointwiseItem(id=f"{NAME}:{r.id}:{k + 1}", prompt=r.prompt, response=t, meta={"benchmark": NAME})
             for r in rows for k, t in enumerate(r.responses)]
    scores, verdicts = await C.score_rows(judge, items, [len(r.responses) for r in rows], f"{NAME}: scoring {len(items)} responses")
    return corr_compute(rows, scores), verdicts


# --------------------------------------------------------------------------- entry points


def parse_rows(table: C.Table) -> tuple[str, list[Any]]:
    kind = kind_of(table.columns)
    if kind is None:
        raise DataError(f"not in {NAME} format: need {', '.join(HP_REQUIRED)} (human preference) or "
                        f"{', '.join(CORR_REQUIRED)} (correctness)", where=table.where,
                        hint=f"columns found: {', '.join(table.columns) or 'none'}")
    return kind, parse_hp(table) if kind == "human-preference" else parse_correctness(table)


async def aevaluate(judge: Judge, parsed: tuple[str, list[Any]], mode: Mode | None = None) -> tuple[dict[str, Any], list[Verdict]]:
    kind, rows = parsed
    if kind == "human-preference":
        mode = mode or eval_mode_for(judge)
        result, verdicts = await _aevaluate_hp(judge, rows, mode)
        result["metric"] = "pairwise accuracy vs human preference (non-tie rows)"
    else:
        if mode == "pairwise":
            raise JudgelabError("PPE correctness ranks K responses by their scores; --mode pairwise does not apply",
                                where="--mode", hint="drop --mode or use pointwise")
        mode = "pointwise"
        result, verdicts = await _aevaluate_corr(judge, rows)
        result["metric"] = "correctness: pairwise accuracy on conflict pairs; best-of-K curve"
    result["mode"] = mode
    return result, verdicts


def table_rows(result: dict[str, Any]) -> C.TableRows:
    if result["kind"] == "human-preference":
        rows: C.TableRows = [("accuracy vs human preference (non-tie)", C.fmt(result["score"]), str(result["n_non_tie"]))]
        for name, g in result["categories"].items():
            rows.append((f"  {name}", C.fmt(g["accuracy"]), str(g["n"])))
        rows.append(("tie rows (not judged)", str(result["n_ties_skipped"]), ""))
        if "accuracy_ba" in result:
            rows.append(("accuracy (swapped order)", C.fmt(result["accuracy_ba"]), ""))
            rows.append(("position consistency", C.fmt(result["position_consistency"]), ""))
        else:
            rows.append(("score ties (counted wrong)", str(result["n_score_ties"]), ""))
        return rows
    rows = [("pairwise accuracy (correct vs incorrect)", C.fmt(result["pairwise_accuracy"]), str(result["n_pairs"])),
            ("best-of-K: max over k", C.fmt(result["best_of_k_max"]), f"K={result['k']}"),
            (f"best-of-K at k={result['k']} (oracle)",
             f"{C.fmt(result['best_of_k_at_K'])} ({C.fmt(result['oracle_curve'][-1] if result['oracle_curve'] else None)})", ""),
            ("mean gap to oracle curve", C.fmt(result["mean_gap_to_oracle"]), "")]
    for name, g in result["categories"].items():
        rows.append((f"  {name}: pairwise acc / best-of-K max", f"{C.fmt(g['pairwise_accuracy'])} / {C.fmt(g['best_of_k_max'])}", str(g["n"])))
    return rows
