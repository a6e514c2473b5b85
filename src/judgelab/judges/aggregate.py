"""Aggregating several verdicts into one: position-swapped pairwise judging, self-consistency
(k samples, vote). Reads and writes nothing itself; every
verdict comes from ``judge.ajudge`` (so a judge's store caches each underlying call).

Rules, chosen once and documented here:

Position swap (``judge_swapped``). Each pair is judged as (A, B) and as (B, A); the second
verdict is mapped back to the original positions. Both orders agree -> that preference,
``consistent=True`` (two ties agree too). They disagree -> ``'tie'``, ``consistent=False``. One
order failed (backend error or unparsed) -> by default ``preference=None`` (``on_partial='none'``):
half a swap carries exactly the position bias swapping exists to remove, so it is not passed
off as a result. ``on_partial='other'`` uses the parsed order's preference instead, with
``consistent=False``. Both failed -> ``None``.

Self-consistency (``judge_self_consistent``). k samples per item with ``sample_index`` 0..k-1
(so seeds differ; with temperature 0 they are identical, which is logged). Pairwise: plurality
vote over parsed samples; if the top count is shared by several labels the result is ``'tie'``.
Pointwise: mean (the score), median and population std of parsed scores. No parsed sample ->
unparsed.
(Weighted ensembles of judges: judgelab.judges.ensemble.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from judgelab.errors import ConfigError
from judgelab.judges.base import Judge, item_mode
from judgelab.lm.aio import run_sync
from judgelab.judges.types import Item, Mode, PairwiseItem, Preference, Verdict
from judgelab.judges.types import FLIP as _FLIP

log = logging.getLogger(__name__)



# ------------------------------------------------------------------------------ position swap


@dataclass
class SwapResult:
    """A pair judged in both orders. ``verdict_ba`` is the verdict on the swapped item as the
    judge gave it (its 'A' is the original B); ``pref_ab``/``pref_ba`` are both in the original
    positions (None when that order failed)."""

    item_id: str
    preference: Preference | None
    consistent: bool
    verdict_ab: Verdict
    verdict_ba: Verdict
    pref_ab: Preference | None = None
    pref_ba: Preference | None = None
    strength: float | None = None

    @property
    def complete(self) -> bool:
        """Both orders gave a parsed verdict."""
        return self.pref_ab is not None and self.pref_ba is not None


def reconcile_swap(
    item_id: str, ab: Verdict, ba: Verdict, on_partial: Literal["none", "other"] = "none"
) -> SwapResult:
    """One pair's two verdicts (``ba`` on the swapped item) -> the label in original positions:
    the orders' common preference, 'tie' when they disagree; with one order missing, None
    (``on_partial='none'``) or the other order's preference (``'other'``)."""
    pref_ab = ab.preference if ab.ok else None
    pref_ba = _FLIP[ba.preference] if ba.ok and ba.preference is not None else None
    strength = None
    if pref_ab is not None and pref_ba is not None:
        consistent = pref_ab == pref_ba
        preference: Preference | None = pref_ab if consistent else "tie"
        if consistent and preference != "tie":
            known = [s for s in (ab.strength, ba.strength) if s is not None]
            strength = sum(known) / len(known) if known else None
    else:
        consistent = False
        one = pref_ab if pref_ab is not None else pref_ba
        preference = one if on_partial == "other" else None
    return SwapResult(item_id, preference, consistent, ab, ba, pref_ab, pref_ba, strength)


# Arena-Hard-Auto counts a strong verdict ([[A>>B]]) as this many battles (show_result.py,
# ``weight=3``); the parsers give such a verdict strength 1.0 (a plain ``>`` gets 0.5).
STRONG_WEIGHT = 3.0
STRONG_THRESHOLD = 1.0


def verdict_outcome(v: Verdict | None, first_is_a: bool, *, strong_weight: float = 1.0,
                    strong_threshold: float = STRONG_THRESHOLD) -> tuple[float, float] | None:
    """(P(the first response wins), weight) from one order's verdict; None when it failed.
    A decisive verdict with ``strength >= strong_threshold`` weighs ``strong_weight`` (the
    parsers: ``>>`` or "significantly better" -> 1.0; a stated "Confidence: 100%" also reaches it;
    an ensemble's unanimous vote too, since its strength is |vote|)."""
    if v is None or not v.ok or v.preference is None:
        return None
    if getattr(v, "p_a", None) is not None:  # a logprob verdict: the expected outcome itself, not its argmax
        return (v.p_a if first_is_a else 1.0 - v.p_a), 1.0
    if v.preference == "tie":
        return 0.5, 1.0
    won = (v.preference == "A") == first_is_a
    # a logprob verdict's strength is a probability, not a stated degree: never 'strong'
    strong = v.strength is not None and v.strength >= strong_threshold and getattr(v, "verdict_probs", None) is None
    return (1.0 if won else 0.0), (strong_weight if strong else 1.0)


def pair_outcome(v_ab: Verdict | None, v_ba: Verdict | None, *,
                 strong_weight: float = 1.0) -> tuple[float | None, int, int, int]:
    """P(first response wins) from its AB-order and (swapped) BA-order verdicts: the mean over the
    parsed orders, each weighted ``strong_weight`` when strong (1.0: strength ignored; Arena-Hard
    uses ``STRONG_WEIGHT``).

    Returns (p or None if neither order parsed, orders_parsed, orders_failed, ties).
    """
    vals: list[tuple[float, float]] = []
    failed = ties = 0
    for v, first_is_a in ((v_ab, True), (v_ba, False)):
        if v is None:
            continue
        o = verdict_outcome(v, first_is_a, strong_weight=strong_weight)
        if o is None:
            failed += 1
            continue
        ties += v.preference == "tie"
        vals.append(o)
    total = sum(w for _, w in vals)
    return (sum(p * w for p, w in vals) / total if vals else None), len(vals), failed, ties


def arena_outcomes(v_ab: Verdict | None, v_ba: Verdict | None, *, strong_weight: float = STRONG_WEIGHT,
                   strong_threshold: float = STRONG_THRESHOLD,
                   on_partial: Literal["none", "other"] = "none") -> list[tuple[float, float]]:
    """Arena-Hard's battle rows for one pair judged in both orders: one (P(first wins), weight) per
    order, as separate battles. With one order failed: no rows (``'none'``, the default, as
    Arena-Hard drops the pair: half a swap keeps the position bias) or the parsed order alone."""
    rows = [verdict_outcome(v, first, strong_weight=strong_weight, strong_threshold=strong_threshold)
            for v, first in ((v_ab, True), (v_ba, False))]
    if any(r is None for r in rows) and on_partial == "none":
        return []
    return [r for r in rows if r is not None]


async def judge_swapped(
    judge: Judge,
    items: Sequence[PairwiseItem],
    *,
    sample_index: int = 0,
    on_partial: Literal["none", "other"] = "none",
) -> list[SwapResult]:
    """Judge every pair in both orders (concurrently) and reconcile the two verdicts."""
    if on_partial not in ("none", "other"):
        raise ConfigError(f"unknown on_partial '{on_partial}'", hint="use 'none' or 'other'")
    for it in items:
        if not isinstance(it, PairwiseItem):
            raise TypeError(f"judge_swapped needs PairwiseItems, got {type(it).__name__} ({getattr(it, 'id', '?')})")
    both = list(items) + [it.swapped() for it in items]
    verdicts = await judge.ajudge(both, sample_index=sample_index)
    n = len(items)
    return [reconcile_swap(it.id, verdicts[i], verdicts[n + i], on_partial) for i, it in enumerate(items)]


def judge_swapped_sync(
    judge: Judge, items: Sequence[PairwiseItem], *, sample_index: int = 0,
    on_partial: Literal["none", "other"] = "none",
) -> list[SwapResult]:
    """Synchronous form of ``judge_swapped``."""
    return run_sync(judge_swapped(judge, items, sample_index=sample_index, on_partial=on_partial))


@dataclass
class SwapSummary:
    """Reliability figures over a set of SwapResults (rates are NaN when undefined).

    disagreement_rate: among pairs with both orders parsed, the fraction whose two verdicts
      differ (position inconsistency).
    tie_rate: fraction of pairs with a result whose final preference is 'tie'.
    first_position_rate: among all parsed non-tie verdicts (both orders), the fraction that
      chose whatever was shown first. 0.5 = no position bias, 1.0 = always picks A.
    parse_failure_rate: fraction of the 2n individual verdicts that failed (unparsed or error).
    """

    n: int
    n_complete: int
    disagreement_rate: float
    tie_rate: float
    first_position_rate: float
    parse_failure_rate: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _rate(num: int, den: int) -> float:
    return num / den if den else math.nan


def summarize_swaps(results: Sequence[SwapResult]) -> SwapSummary:
    complete = [r for r in results if r.complete]
    decided = [r for r in results if r.preference is not None]
    shown_first = [
        v.preference for r in results for v in (r.verdict_ab, r.verdict_ba) if v.ok and v.preference in ("A", "B")
    ]
    failures = sum(not v.ok for r in results for v in (r.verdict_ab, r.verdict_ba))
    return SwapSummary(
        n=len(results),
        n_complete=len(complete),
        disagreement_rate=_rate(sum(not r.consistent for r in complete), len(complete)),
        tie_rate=_rate(sum(r.preference == "tie" for r in decided), len(decided)),
        first_position_rate=_rate(sum(p == "A" for p in shown_first), len(shown_first)),
        parse_failure_rate=_rate(failures, 2 * len(results)),
    )


# ------------------------------------------------------------------------------ self-consistency


@dataclass
class ConsensusResult:
    """k sampled verdicts on one item and their consensus.

    Pairwise: ``preference`` (plurality; shared top -> 'tie'), ``agreement`` = top count / parsed
    votes, ``votes``. Pointwise: ``score`` (= mean), ``median``, ``std`` (population).
    """

    item_id: str
    mode: Mode
    verdicts: list[Verdict]
    n_ok: int
    preference: Preference | None = None
    agreement: float | None = None
    votes: dict[str, int] = field(default_factory=dict)
    score: float | None = None
    median: float | None = None
    std: float | None = None

    @property
    def parsed(self) -> bool:
        return self.n_ok > 0

    def to_verdict(self, judge_name: str = "") -> Verdict:
        """The consensus as one Verdict (strength = vote agreement for pairwise)."""
        errors = [v.error for v in self.verdicts if v.error]
        failed = not self.parsed
        return Verdict(
            item_id=self.item_id,
            mode=self.mode,
            parsed=not failed,
            score=self.score,
            preference=self.preference,
            strength=self.agreement if self.preference in ("A", "B") else None,
            raw=json.dumps({"votes": self.votes} if self.mode == "pairwise" else
                           {"scores": [v.score for v in self.verdicts if v.ok]}),
            parse_error=f"none of {len(self.verdicts)} samples parsed" if failed else None,
            error=errors[0] if failed and len(errors) == len(self.verdicts) else None,
            judge=judge_name,
            latency_s=sum(v.latency_s for v in self.verdicts),
            prompt_tokens=sum(v.prompt_tokens for v in self.verdicts),
            completion_tokens=sum(v.completion_tokens for v in self.verdicts),
        )


def majority_vote(prefs: Sequence[Preference]) -> tuple[Preference | None, float | None, dict[str, int]]:
    """(winner, agreement, counts): plurality; a shared top count gives 'tie'; empty -> None."""
    counts = Counter(prefs)
    if not counts:
        return None, None, {}
    top = max(counts.values())
    leaders = [p for p, c in counts.items() if c == top]
    winner: Preference = leaders[0] if len(leaders) == 1 else "tie"
    return winner, top / len(prefs), dict(sorted(counts.items()))


def consensus(item_id: str, mode: Mode, verdicts: list[Verdict]) -> ConsensusResult:
    ok = [v for v in verdicts if v.ok]
    r = ConsensusResult(item_id=item_id, mode=mode, verdicts=verdicts, n_ok=len(ok))
    if mode == "pairwise":
        r.preference, r.agreement, r.votes = majority_vote([v.preference for v in ok if v.preference])
    else:
        scores = [float(v.score) for v in ok if v.score is not None]
        if scores:
            r.score = statistics.fmean(scores)
            r.median = statistics.median(scores)
            r.std = statistics.pstdev(scores)
    return r


async def judge_self_consistent(judge: Judge, items: Sequence[Item], k: int) -> list[ConsensusResult]:
    """Judge every item k times (sample_index 0..k-1, so seeds differ) and take the consensus."""
    if k < 1:
        raise ConfigError(f"self-consistency needs k >= 1, got {k}")
    temperature = getattr(judge, "temperature", None)
    if k > 1 and temperature == 0:
        log.warning("self-consistency with k=%d at temperature 0: greedy samples will mostly be identical", k)
    runs = await asyncio.gather(*(judge.ajudge(items, sample_index=s) for s in range(k)))
    return [consensus(it.id, item_mode(it), [runs[s][i] for s in range(k)]) for i, it in enumerate(items)]


def judge_self_consistent_sync(judge: Judge, items: Sequence[Item], k: int) -> list[ConsensusResult]:
    """Synchronous form of ``judge_self_consistent``."""
    return run_sync(judge_self_consistent(judge, items, k))
