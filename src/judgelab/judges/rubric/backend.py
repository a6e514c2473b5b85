"""The rubric backend: a programmatic judge backend (the controlled gold judge of the CPU quickstart).

It does not read the chat messages. It reads the structured item of the JudgeRequest ``request.item`` (PointwiseItem or PairwiseItem,
whose ``meta`` carries the prompt's ``family`` and ``constraints``; without them only generic
criteria apply) and writes the text a reasoning judge would: a ``<think>`` trace, then ``Score: N``
(pointwise, N on 1-10 -- configure the judge with ``scale: [1, 10]``) or ``[[A]]`` / ``[[B]]`` /
``[[C]]`` (pairwise; C = tie when the two scores are within the rubric's tie margin). The trace is
compact with ``rubric: gold`` (only the criteria that cost points / that differ between A and B,
one short line each, ~75 / ~95 SmolLM2 tokens on real samples, so small judges can distil and
generate it) and lists every criterion with ``rubric: gold-verbose``; both give the same scores.
The same text is produced for style "direct" and "reasoning", since the parsers skip the trace.
Deterministic; never raises per request.
"""

from __future__ import annotations

import random
import time
import zlib
from typing import Any

from judgelab.judges.config import RubricBackendConfig
from judgelab.judges.rubric import get_rubric
from judgelab.judges.rubric.gold import SCALE, Rubric, render_pairwise, render_pointwise
from judgelab.judges.types import JudgeRequest, PairwiseItem, PointwiseItem
from judgelab.lm.types import Generation


class RubricBackend:
    name = "rubric"
    reads_items = True  # LLMJudge sends it JudgeRequests (the item), not text-only requests

    def __init__(self, rubric: Rubric, noise: float = 0.0, noise_seed: int = 0):
        self.rubric = rubric
        self.noise, self.noise_seed = noise, noise_seed

    @classmethod
    def from_config(cls, cfg: RubricBackendConfig) -> "RubricBackend":
        return cls(get_rubric(cfg.rubric), cfg.noise, cfg.noise_seed)

    def _score(self, meta: Any, prompt: str, response: str) -> tuple[float, Any]:
        """The rubric's score, plus the fixed noise of (seed, prompt, response) when configured."""
        score, trace = self.rubric.score(meta, response)
        if self.noise > 0:
            rng = random.Random(zlib.crc32(f"{self.noise_seed}\x00{prompt}\x00{response}".encode()))
            score = round(min(SCALE[1], max(SCALE[0], score + rng.gauss(0.0, self.noise))), 2)
        return score, trace

    def text_for(self, item: PointwiseItem | PairwiseItem) -> str:
        if isinstance(item, PointwiseItem):
            score, trace = self._score(item.meta, item.prompt, item.response)
            return render_pointwise(score, trace, self.rubric)
        sa, ta = self._score(item.meta, item.prompt, item.response_a)
        sb, tb = self._score(item.meta, item.prompt, item.response_b)
        return render_pairwise(sa, ta, sb, tb, self.rubric)

    async def generate(self, request: JudgeRequest) -> Generation:
        t0 = time.perf_counter()
        item = getattr(request, "item", None)
        if not isinstance(item, (PointwiseItem, PairwiseItem)):
            return Generation(text="", error="the rubric backend needs a JudgeRequest holding a PointwiseItem or PairwiseItem")
        try:
            text = self.text_for(item)
        except Exception as exc:  # a rubric bug on one odd input must not kill a training run
            return Generation(text="", error=f"rubric {self.rubric.name} failed: {type(exc).__name__}: {exc}")
        return Generation(text=text, latency_s=time.perf_counter() - t0, finish_reason="stop")

    def identity(self) -> dict[str, Any]:
        noise = {"noise": self.noise, "noise_seed": self.noise_seed} if self.noise > 0 else {}
        return {"type": "rubric", **self.rubric.identity(), **noise}

    async def aclose(self) -> None:
        return None
