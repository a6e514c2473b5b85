"""A weighted ensemble of judges, itself a Judge (usable as a reward, in evaluation, in the arena).

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
import math
from collections.abc import Sequence
from typing import Any

from judgelab.errors import ConfigError
from judgelab.judges.base import JudgeBase, item_mode
from judgelab.judges.types import Item, Mode, Verdict


def _scale_of(judge: Any) -> tuple[float, float]:
    lo, hi = judge.scale
    return float(lo), float(hi)




class EnsembleJudge(JudgeBase):
    """Weighted ensemble of judges (any Judge implementations, other ensembles included)."""

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
    def name(self) -> str:  # type: ignore[override]
        return self._name

    @property
    def scale(self) -> tuple[float, float]:  # type: ignore[override]
        """Pointwise scores are reported on the first member's scale."""
        return _scale_of(self.judges[0])

    @property
    def modes(self) -> tuple[Mode, ...]:  # type: ignore[override]
        """The modes every member answers in."""
        return tuple(m for m in ("pointwise", "pairwise") if all(m in j.modes for j in self.judges))  # type: ignore[misc]

    @property
    def backend_calls(self) -> int:  # type: ignore[override]
        return sum(getattr(j, "backend_calls", 0) for j in self.judges)

    def identity(self) -> dict[str, Any]:
        return {"ensemble": [j.identity() for j in self.judges], "weights": self.weights, "tie_margin": self.tie_margin}

    def spec(self) -> dict[str, Any] | None:
        members = [j.spec() for j in self.judges]
        if any(m is None for m in members):
            return None
        return {"name": self.name, "members": members, "weights": self.weights, "tie_margin": self.tie_margin}

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

    def combine(self, item: Item, verdicts: Sequence[Verdict]) -> Verdict:
        """One ensemble Verdict from the members' verdicts on ``item`` (same order as judges)."""
        mode = item_mode(item)
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

