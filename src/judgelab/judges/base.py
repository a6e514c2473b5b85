"""The Judge protocol: what every judge is to the rest of judgelab.

A judge has a ``name``, the ``modes`` it answers in (pointwise scores, pairwise preferences, or
both), the ``scale`` its pointwise scores live on, an ``identity()`` (everything that determines
its verdicts, for cache keys) and ``ajudge(items)`` -> one Verdict per item, in order, never
raising for a per-item failure. Implementations: ``LLMJudge`` (prompt template + parser + text
backend; the rubric is one, with a programmatic backend), ``RewardModelJudge`` (a scalar reward
model, verdicts directly), ``EnsembleJudge``; ``CachedJudge`` wraps any of them with the judgment
store. Rewards, evaluation, annotation and the adversarial probes accept any Judge.

``JudgeBase`` gives implementations the shared conveniences (sync ``judge``/``close``, mode rules).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from judgelab.judges.types import Item, Mode, PairwiseItem, PointwiseItem, Verdict
from judgelab.lm.aio import run_sync

OnResult = Callable[[Verdict], None]
BOTH: tuple[Mode, ...] = ("pointwise", "pairwise")


def item_mode(item: Item) -> Mode:
    if isinstance(item, PointwiseItem):
        return "pointwise"
    if isinstance(item, PairwiseItem):
        return "pairwise"
    raise TypeError(f"not a judge item: {type(item).__name__}")


@runtime_checkable
class Judge(Protocol):
    name: str

    @property
    def modes(self) -> tuple[Mode, ...]: ...

    @property
    def scale(self) -> tuple[float, float]: ...

    def identity(self) -> dict[str, Any]: ...

    async def ajudge(self, items: Sequence[Item], *, sample_index: int = 0,
                     on_result: OnResult | None = None) -> list[Verdict]: ...

    def judge(self, items: Sequence[Item], *, sample_index: int = 0,
              on_result: OnResult | None = None) -> list[Verdict]: ...

    async def aclose(self) -> None: ...

    def close(self) -> None: ...


def _modes(judge: Any) -> tuple[Mode, ...]:
    return tuple(judge) if isinstance(judge, (tuple, list)) else tuple(judge.modes)


# The three rules below are the only places a judge's modes turn into how it is used. Each takes
# a Judge or its modes (for a judge not loaded yet).

def reward_mode_for(judge: Any) -> str:
    """How a judge becomes a GRPO reward by default: scored where it scores, else compared
    against a reference response."""
    return "pointwise" if "pointwise" in _modes(judge) else "pairwise-reference"


def eval_mode_for(judge: Any) -> Mode:
    """How judge reliability is measured: pairwise where it compares (position bias, consistency),
    else from its pointwise scores."""
    return "pairwise" if "pairwise" in _modes(judge) else "pointwise"


def probe_mode_for(judge: Any) -> Mode:
    """How adversarial probes address a judge: pointwise where it scores, else pairwise."""
    return "pointwise" if "pointwise" in _modes(judge) else "pairwise"


class JudgeBase:
    """Shared parts of judge implementations. Subclasses set ``name``, ``modes``, ``scale`` and
    implement ``ajudge_one`` (or override ``ajudge`` for batch-native judges) and ``identity``."""

    name: str = "judge"
    modes: tuple[Mode, ...] = BOTH
    scale: tuple[float, float] = (1.0, 10.0)
    temperature: float = 0.0
    backend_calls: int = 0

    def identity(self) -> dict[str, Any]:  # pragma: no cover - every implementation overrides it
        raise NotImplementedError

    def spec(self) -> dict[str, Any] | None:
        """A JSON-able spec ``load_judge`` rebuilds this judge from (None: in-memory only)."""
        return None

    def with_temperature(self, temperature: float) -> "JudgeBase":
        """The same judge sampling at ``temperature`` (deterministic judges: itself)."""
        return self

    async def ajudge_one(self, item: Item, sample_index: int = 0) -> Verdict:
        return (await self.ajudge([item], sample_index=sample_index))[0]

    async def ajudge(self, items: Sequence[Item], *, sample_index: int = 0,
                     on_result: OnResult | None = None) -> list[Verdict]:
        """Judge all items concurrently; results come back in input order."""

        async def one(it: Item) -> Verdict:
            v = await self.ajudge_one(it, sample_index)
            if on_result is not None:
                on_result(v)
            return v

        return list(await asyncio.gather(*(one(it) for it in items)))

    def judge(self, items: Sequence[Item], *, sample_index: int = 0, on_result: OnResult | None = None) -> list[Verdict]:
        """Synchronous form of ``ajudge`` (runs on judgelab's background event loop)."""
        return run_sync(self.ajudge(items, sample_index=sample_index, on_result=on_result))

    async def aclose(self) -> None:
        return None

    def close(self) -> None:
        run_sync(self.aclose())
