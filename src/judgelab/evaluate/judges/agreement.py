"""Agreement of a judge's verdicts with the gold's labels: per-pair credit with ties as half
(Arena-Hard's convention), tie-adjusted agreement with an interval that holds at small n, non-tie
and strict accuracy, and paired comparisons between judges. Pure computation over verdicts and
pair annotations (judge_eval and judge_scaling call it; the report compares judges with it);
reads and writes nothing.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from judgelab.data.records import PairAnnotation
from judgelab.judges.types import FLIP, Verdict


def bootstrap_ci(values: list[float], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean (judgelab.evaluate.stats.bootstrap_mean_ci, as a tuple)."""
    from judgelab.evaluate.stats import bootstrap_mean_ci

    ci = bootstrap_mean_ci(values, n_boot=n_boot, alpha=alpha, seed=seed)
    return (ci[0], ci[1]) if ci is not None else None


def rate(num: int, den: int) -> float | None:
    return num / den if den else None


def credit(v: Verdict | None, label: str, *, swapped: bool = False) -> float | None:
    """Agreement credit of one verdict with a non-tie gold label (Arena-Hard's convention): 1 for the
    gold's choice, 0.5 for a tie, 0 for the other; None when the verdict did not parse (parse
    failures are counted apart, not scored). ``swapped``: the verdict was given in BA order."""
    if v is None or not v.ok or v.preference is None:
        return None
    pref = FLIP.get(v.preference, v.preference) if swapped else v.preference
    return 1.0 if pref == label else 0.5 if pref == "tie" else 0.0


def order_credits(pairs: list[PairAnnotation], ab: list[Verdict], ba: list[Verdict] | None) -> dict[str, list[float]]:
    """Pair id -> the credits of its orders (AB, then BA when the judge saw both), for the pairs whose
    gold label is not a tie; empty when a verdict did not parse. When the judge saw both orders, a
    pair counts only if both parsed, as Arena-Hard-Auto drops a battle with a failed game (and
    judgelab.judges.aggregate.arena_outcomes): half a swap keeps the position bias it exists to
    cancel (a judge that always answers "A" and fails to parse the BA order of the pairs whose gold is
    A would otherwise score their AB credit alone, 1, instead of 0.5)."""
    out: dict[str, list[float]] = {}
    for i, (p, v) in enumerate(zip(pairs, ab)):
        if p.label in ("A", "B"):
            cs = [credit(v, p.label)] + ([credit(ba[i], p.label, swapped=True)] if ba is not None else [])
            out[p.id] = [c for c in cs if c is not None] if all(c is not None for c in cs) else []
    return out


def pair_credits(pairs: list[PairAnnotation], ab: list[Verdict], ba: list[Verdict] | None) -> dict[str, float | None]:
    """Pair id -> tie-adjusted credit (mean over its orders; None when a verdict did not parse), for
    the pairs whose gold label is not a tie."""
    return {pid: sum(cs) / len(cs) if cs else None for pid, cs in order_credits(pairs, ab, ba).items()}


def agreement_metrics(credits: dict[str, float | None], n_boot: int, seed: int) -> dict[str, Any]:
    """Tie-adjusted agreement (mean credit) with an interval that holds at small n (t below 30
    values, BCa above; ``evaluate.stats.mean_ci``), its n and how the interval was made."""
    from judgelab.evaluate.stats import mean_ci

    ci = mean_ci(list(credits.values()), n_boot=max(n_boot, 1), seed=seed, bounds=(0.0, 1.0))
    return {"agreement": ci.mean if ci else None, "agreement_ci95": ci.ci if ci else None,
            "agreement_ci_method": ci.method if ci else None, "n_agreement": ci.n if ci else 0}


def accuracy_metrics(pairs: list[PairAnnotation], ab: list[Verdict], ba: list[Verdict] | None, n_boot: int,
              seed: int) -> tuple[dict[str, Any], dict[str, dict[str, float | None]]]:
    """Agreement with the gold on its non-tie labels: tie-adjusted (ties half; both orders averaged
    when the judge saw both), non-tie accuracy (over decided verdicts), tie, parse-failure and
    position-consistency rates, and the strict AB-order accuracy of v1 files (ties and failures
    count wrong). Returns (metrics, family -> pair id -> credit); ``metrics["credits"]`` holds the
    per-pair credits (for paired comparisons)."""
    correct: list[float] = []
    by_family: dict[str, dict[str, float | None]] = defaultdict(dict)
    per_order = order_credits(pairs, ab, ba)
    credits = {pid: sum(cs) / len(cs) if cs else None for pid, cs in per_order.items()}
    for p, v in zip(pairs, ab):
        if p.label in ("A", "B"):
            correct.append(float(v.ok and v.preference == p.label))
            by_family[p.family or "(none)"][p.id] = credits[p.id]
    ci = bootstrap_ci(correct, n_boot, seed)
    issued = list(ab) + list(ba or [])
    parsed = [v for v in issued if v.ok]
    decided = [c for cs in per_order.values() for c in cs if c != 0.5]
    metrics: dict[str, Any] = {
        "n_pairs": len(pairs),
        "n_gold_non_tie": len(correct),
        "accuracy": rate(int(sum(correct)), len(correct)),
        "accuracy_ci95": list(ci) if ci else None,
        **agreement_metrics(credits, n_boot, seed),
        "non_tie_accuracy": rate(int(sum(decided)), len(decided)),
        "n_decided": len(decided),
        "n_unparsed_pairs": sum(c is None for c in credits.values()),
        "tie_rate": rate(sum(v.preference == "tie" for v in parsed), len(parsed)),
        "parse_failure_rate": rate(sum(not v.ok for v in issued), len(issued)),
        "position_consistency": None,
        "n_position_checked": 0,
        "accuracy_ba": None,
        "credits": credits,
    }
    if ba is not None:
        both = [(x, y) for x, y in zip(ab, ba) if x.ok and y.ok and x.preference is not None and y.preference is not None]
        metrics["position_consistency"] = rate(sum(x.preference == FLIP.get(y.preference, y.preference)  # type: ignore[arg-type]
                                                   for x, y in both), len(both))
        metrics["n_position_checked"] = len(both)
        correct_ba = [float(y.ok and FLIP.get(y.preference or "", "") == p.label)
                      for p, y in zip(pairs, ba) if p.label in ("A", "B")]
        metrics["accuracy_ba"] = rate(int(sum(correct_ba)), len(correct_ba))
    return metrics, by_family


def family_agreement(credits: dict[str, float | None], pairs: list[PairAnnotation], ab: list[Verdict], n_boot: int,
            seed: int) -> dict[str, Any]:
    """One family's strict accuracy (AB order, v1's metric) and tie-adjusted agreement."""
    strict = [float(v.ok and v.preference == p.label) for p, v in zip(pairs, ab) if p.id in credits]
    return {"n": len(strict), "accuracy": sum(strict) / len(strict), "ci95": bootstrap_ci(strict, n_boot, seed),
            **agreement_metrics(credits, n_boot, seed)}


def compare_judges(credits: dict[str, dict[str, float | None]], *, n_boot: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """Every pair of judges (name -> pair id -> credit, from ``JudgeEvalResult.credits``) compared
    on the pairs both judged: the difference of their tie-adjusted agreement, paired by pair, with
    its interval (``evaluate.stats.paired_difference``). Judges without shared pairs are skipped."""
    from judgelab.evaluate.stats import paired_difference

    out = []
    for a, b in itertools.combinations(sorted(credits), 2):
        d = paired_difference(credits[a], credits[b], n_boot=n_boot, seed=seed, bounds=(-1.0, 1.0))
        if d is not None:
            out.append({"judge": a, "minus": b, **d.to_dict()})
    return out
