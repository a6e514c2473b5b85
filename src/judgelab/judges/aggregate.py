"""Aggregating several verdicts into one: position-swapped pairwise judging, self-consistency
(k samples, vote), and weighted ensembles of judges. Reads and writes nothing itself; every
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

Ensembles (``EnsembleJudge``). Pointwise: each member's score is normalised to [0, 1] on that
member's scale, combined by weighted mean, and reported on the *first* member's scale (so an
ensemble drops in where its first judge was). Pairwise: weighted vote A=+1, B=-1, tie=0 divided
by the weights of the members that answered; |vote| <= ``tie_margin`` -> tie, else the sign
decides and ``strength`` = |vote|. Failed members are skipped and weights renormalised over the
rest; all failed -> an unparsed Verdict (``error`` set when every member failed in its backend).
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
from typing import Any, Literal, Protocol

from judgelab.errors import ConfigError
from judgelab.judges.aio import run_sync
from judgelab.judges.types import Item, Mode, PairwiseItem, PointwiseItem, Preference, Verdict
from judgelab.judges.types import FLIP as _FLIP

log = logging.getLogger(__name__)



class SupportsJudge(Protocol):
    """What aggregation needs of a judge: Judge and EnsembleJudge both fit."""

    @property
    def name(self) -> str: ...

    async def ajudge(self, items: Sequence[Item], *, sample_index: int = 0) -> list[Verdict]: ...


def _mode(item: Item) -> Mode:
    return "pointwise" if isinstance(item, PointwiseItem) else "pairwise"


def _scale_of(judge: Any) -> tuple[float, float]:
    scale = getattr(judge, "scale", None)
    if scale is None:
        scale = judge.config.scale
    return float(scale[0]), float(scale[1])


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


def pair_outcome(v_ab: Verdict | None, v_ba: Verdict | None) -> tuple[float | None, int, int, int]:
    """P(first response wins) from its AB-order and (swapped) BA-order verdicts.

    Returns (p or None if neither order parsed, orders_parsed, orders_failed, ties).
    """
    vals: list[float] = []
    failed = ties = 0
    for v, first_is_a in ((v_ab, True), (v_ba, False)):
        if v is None:
            continue
        if not v.ok or v.preference is None:
            failed += 1
            continue
        if v.preference == "tie":
            ties += 1
            vals.append(0.5)
        else:
            won = (v.preference == "A") == first_is_a
            vals.append(1.0 if won else 0.0)
    return (sum(vals) / len(vals) if vals else None), len(vals), failed, ties


async def judge_swapped(
    judge: SupportsJudge,
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
    judge: SupportsJudge, items: Sequence[PairwiseItem], *, sample_index: int = 0,
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


async def judge_self_consistent(judge: SupportsJudge, items: Sequence[Item], k: int) -> list[ConsensusResult]:
    """Judge every item k times (sample_index 0..k-1, so seeds differ) and take the consensus."""
    if k < 1:
        raise ConfigError(f"self-consistency needs k >= 1, got {k}")
    temperature = getattr(getattr(getattr(judge, "config", None), "sampling", None), "temperature", None)
    if k > 1 and temperature == 0:
        log.warning("self-consistency with k=%d at temperature 0: greedy samples will mostly be identical", k)
    runs = await asyncio.gather(*(judge.ajudge(items, sample_index=s) for s in range(k)))
    return [consensus(it.id, _mode(it), [runs[s][i] for s in range(k)]) for i, it in enumerate(items)]


def judge_self_consistent_sync(judge: SupportsJudge, items: Sequence[Item], k: int) -> list[ConsensusResult]:
    """Synchronous form of ``judge_self_consistent``."""
    return run_sync(judge_self_consistent(judge, items, k))


# ------------------------------------------------------------------------------ ensembles


class EnsembleJudge:
    """Weighted ensemble of judges with the Judge calling convention (``ajudge``/``judge``)."""

    def __init__(
        self,
        judges: Sequence[Any],
        weights: Sequence[float] | None = None,
        *,
        tie_margin: float = 0.1,
        name: str | None = None,
    ):
        if not judges:
            raise ConfigError("an ensemble needs at least one judge")
        weights = [1.0] * len(judges) if weights is None else [float(w) for w in weights]
        if len(weights) != len(judges):
            raise ConfigError(f"{len(judges)} judges but {len(weights)} weights", hint="give one weight per judge")
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise ConfigError(f"ensemble weights must be finite, >= 0 and not all 0, got {weights}")
        if not 0 <= tie_margin < 1:
            raise ConfigError(f"tie_margin must be in [0, 1), got {tie_margin}")
        self.judges = list(judges)
        self.weights = weights
        self.tie_margin = tie_margin
        self._name = name or "ensemble(" + ",".join(j.name for j in self.judges) + ")"

    @property
    def name(self) -> str:
        return self._name

    @property
    def scale(self) -> tuple[float, float]:
        """Pointwise scores are reported on the first member's scale."""
        return _scale_of(self.judges[0])

    async def ajudge_one(self, item: Item, sample_index: int = 0) -> Verdict:
        members = await asyncio.gather(*(j.ajudge([item], sample_index=sample_index) for j in self.judges))
        return self.combine(item, [m[0] for m in members])

    async def ajudge(self, items: Sequence[Item], *, sample_index: int = 0, on_result: Any = None) -> list[Verdict]:
        """Judge all items with every member (concurrently) and combine per item."""
        runs = await asyncio.gather(*(j.ajudge(items, sample_index=sample_index) for j in self.judges))
        out = []
        for i, it in enumerate(items):
            v = self.combine(it, [run[i] for run in runs])
            if on_result is not None:
                on_result(v)
            out.append(v)
        return out

    def judge(self, items: Sequence[Item], *, sample_index: int = 0, on_result: Any = None) -> list[Verdict]:
        """Synchronous form of ``ajudge``."""
        return run_sync(self.ajudge(items, sample_index=sample_index, on_result=on_result))

    def combine(self, item: Item, verdicts: Sequence[Verdict]) -> Verdict:
        """One ensemble Verdict from the members' verdicts on ``item`` (same order as judges)."""
        mode = _mode(item)
        used = [(j, w, v) for j, w, v in zip(self.judges, self.weights, verdicts) if v.ok and w > 0]
        members = [
            {"judge": v.judge or j.name, "ok": v.ok, "score": v.score, "preference": v.preference}
            for j, v in zip(self.judges, verdicts)
        ]
        base = Verdict(
            item_id=item.id, mode=mode, parsed=False, raw=json.dumps({"members": members}), judge=self.name,
            latency_s=max((v.latency_s for v in verdicts), default=0.0),
            prompt_tokens=sum(v.prompt_tokens for v in verdicts),
            completion_tokens=sum(v.completion_tokens for v in verdicts),
            cached=all(v.cached for v in verdicts),
        )
        if mode == "pointwise":
            used = [(j, w, v) for j, w, v in used if v.score is not None]
        else:
            used = [(j, w, v) for j, w, v in used if v.preference is not None]
        if not used:
            why = "; ".join(f"{j.name}: {v.error or v.parse_error or 'no weight'}" for j, v in zip(self.judges, verdicts))
            base.parse_error = f"all {len(verdicts)} ensemble members failed ({why})"
            if all(v.error for v in verdicts):
                base.error = base.parse_error
            return base
        total = sum(w for _, w, _ in used)
        base.parsed = True
        if mode == "pointwise":
            x = 0.0
            for j, w, v in used:
                lo, hi = _scale_of(j)
                x += w * (float(v.score) - lo) / (hi - lo)  # type: ignore[arg-type]
            lo0, hi0 = self.scale
            base.score = lo0 + (hi0 - lo0) * (x / total)
        else:
            vote = sum(w * {"A": 1.0, "B": -1.0, "tie": 0.0}[v.preference] for _, w, v in used) / total  # type: ignore[index]
            if abs(vote) <= self.tie_margin + 1e-12:
                base.preference = "tie"
            else:
                base.preference = "A" if vote > 0 else "B"
                base.strength = abs(vote)
        return base

    async def aclose(self) -> None:
        await asyncio.gather(*(j.aclose() for j in self.judges if hasattr(j, "aclose")))

    def close(self) -> None:
        run_sync(self.aclose())
