"""The Judge: prompt template + verdict parser + backend (+ optional judgment store).

``Judge.ajudge(items)`` turns PointwiseItems into scored Verdicts and PairwiseItems into
preferences. Every verdict is written to the store the moment it exists, so a killed run loses
only what was in flight, and a repeated request never reaches the backend again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from judgelab.data.store import JudgmentStore, stable_hash
from judgelab.judges.aio import run_sync
from judgelab.judges.backends import make_backend
from judgelab.judges.config import JudgeConfig
from judgelab.judges.parsing import parse_pairwise, parse_pointwise
from judgelab.judges.templates import Template, load_template
from judgelab.judges.types import (
    Backend,
    GenerationRequest,
    Item,
    Mode,
    PairwiseItem,
    PointwiseItem,
    SamplingParams,
    Verdict,
)

OnResult = Callable[[Verdict], None]


def item_mode(item: Item) -> Mode:
    if isinstance(item, PointwiseItem):
        return "pointwise"
    if isinstance(item, PairwiseItem):
        return "pairwise"
    raise TypeError(f"not a judge item: {type(item).__name__}")


class Judge:
    def __init__(self, config: JudgeConfig, backend: Backend | None = None, store: JudgmentStore | None = None):
        self.config = config
        self.backend = backend if backend is not None else make_backend(config.backend)
        self.store = store
        self.backend_calls = 0
        self._templates: dict[Mode, Template] = {
            "pointwise": load_template(config.pointwise_template, "pointwise", config.style),
            "pairwise": load_template(config.pairwise_template, "pairwise", config.style),
        }
        self._sem: asyncio.Semaphore | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def identity(self) -> dict[str, Any]:
        """Everything that determines a verdict apart from the item and the sample index."""
        s = self.config.sampling
        return {
            "backend": self.backend.identity(),
            "style": self.config.style,
            "scale": list(self.config.scale),
            "allow_tie": self.config.allow_tie,
            "sampling": {"max_new_tokens": s.max_new_tokens, "temperature": s.temperature, "top_p": s.top_p},
        }

    def template(self, mode: Mode) -> Template:
        return self._templates[mode]

    def params(self, sample_index: int = 0) -> SamplingParams:
        s = self.config.sampling
        return SamplingParams(
            max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p, seed=s.seed + sample_index
        )

    def key(self, item: Item, sample_index: int = 0) -> str:
        mode = item_mode(item)
        if mode == "pointwise":
            inputs: dict[str, Any] = {"prompt": item.prompt, "response": item.response}  # type: ignore[union-attr]
        else:
            inputs = {"prompt": item.prompt, "a": item.response_a, "b": item.response_b}  # type: ignore[union-attr]
        return stable_hash(
            {
                "judge": self.identity(),
                "template": self._templates[mode].text,
                "mode": mode,
                "inputs": inputs,
                "meta": item.meta,
                "seed": self.params(sample_index).seed,
                "sample": sample_index,
            }
        )

    def parse(self, mode: Mode, text: str) -> Verdict:
        """Parse model text into a Verdict (never raises)."""
        if mode == "pointwise":
            r = parse_pointwise(text, tuple(self.config.scale))  # type: ignore[arg-type]
        else:
            r = parse_pairwise(text, self.config.allow_tie)
        return Verdict(
            item_id="",
            mode=mode,
            parsed=r.parsed,
            score=r.score,
            preference=r.preference,
            strength=r.strength,
            reasoning=r.reasoning,
            raw=text,
            parse_error=r.error,
            judge=self.name,
        )

    async def ajudge_one(self, item: Item, sample_index: int = 0) -> Verdict:
        mode = item_mode(item)
        key = self.key(item, sample_index) if self.store is not None else None
        if key is not None:
            hit = self.store.get(key)  # type: ignore[union-attr]
            if hit is not None:
                v = Verdict.from_dict(hit)
                v.item_id, v.cached = item.id, True
                return v
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.config.concurrency)
        request = GenerationRequest(
            messages=self._templates[mode].render(item, tuple(self.config.scale), self.config.allow_tie),  # type: ignore[arg-type]
            params=self.params(sample_index),
            item=item,
            mode=mode,
            style=self.config.style,
        )
        t0 = time.perf_counter()
        async with self._sem:
            self.backend_calls += 1
            gen = await self.backend.generate(request)
        if gen.error is not None:
            # A permanent backend failure is recorded on the item and NOT stored, so a rerun retries it.
            return Verdict(
                item_id=item.id, mode=mode, parsed=False, error=gen.error, judge=self.name,
                latency_s=time.perf_counter() - t0,
            )
        v = self.parse(mode, gen.text)
        v.item_id = item.id
        v.latency_s = gen.latency_s or (time.perf_counter() - t0)
        v.prompt_tokens, v.completion_tokens = gen.prompt_tokens, gen.completion_tokens
        if key is not None:
            self.store.put(key, v.to_dict(), judge=self.name, mode=mode, item_id=item.id)  # type: ignore[union-attr]
        return v

    async def ajudge(
        self, items: Sequence[Item], *, sample_index: int = 0, on_result: OnResult | None = None
    ) -> list[Verdict]:
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
        await self.backend.aclose()

    def close(self) -> None:
        run_sync(self.aclose())


def make_judge(config: JudgeConfig | dict[str, Any], store: JudgmentStore | None = None) -> Judge:
    if isinstance(config, dict):
        config = JudgeConfig.model_validate(config)
    return Judge(config, store=store)
