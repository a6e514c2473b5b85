"""The prompted judge: prompt template + verdict parser + backend.

``LLMJudge.ajudge(items)`` renders each PointwiseItem / PairwiseItem with the judge's template,
asks the backend, and parses the text into a Verdict (a parse failure is a value). The backend is
a text backend (judgelab.lm: a local model, an OpenAI-compatible server, a registered one), which
sees only messages and sampling parameters, or a programmatic backend (``reads_items = True``:
the rubric, a Python function in tests) that receives the structured item as a JudgeRequest and
writes the text a judge would. Caching is not its business: wrap it in ``CachedJudge``.

``verdict_from: logprobs`` reads the verdict from the verdict token's probabilities instead of the
text (judgelab.judges.logprob: expected score, P(A)); ``response_format: json`` asks the backend for
a JSON verdict (schema: judgelab.judges.logprob.verdict_schema) and defaults to the JSON templates.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from judgelab.judges.base import BOTH, JudgeBase, item_mode
from judgelab.judges.config import JudgeConfig
from judgelab.judges.logprob import read_preference, read_score, verdict_schema
from judgelab.judges.parsing.pairwise import parse_pairwise
from judgelab.judges.parsing.pointwise import parse_pointwise
from judgelab.judges.templates import Template, load_template
from judgelab.judges.types import Item, JudgeRequest, Mode, Verdict
from judgelab.lm.types import GenerationRequest, SamplingParams, TokenLogprob


class LLMJudge(JudgeBase):
    def __init__(self, config: JudgeConfig, backend: Any = None):
        from judgelab import lm

        self.config = config
        self.backend = backend if backend is not None else lm.make_backend(config.backend)
        self.backend_calls = 0
        json_out = config.response_format == "json"
        self._templates: dict[Mode, Template] = {
            "pointwise": load_template(config.pointwise_template or ("pointwise_json" if json_out else None),
                                       "pointwise", config.style),
            "pairwise": load_template(config.pairwise_template or ("pairwise_json" if json_out else None),
                                      "pairwise", config.style),
        }
        self._sem: asyncio.Semaphore | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.config.name

    @property
    def modes(self) -> tuple[Mode, ...]:  # type: ignore[override]
        return (self.config.mode,) if self.config.mode else BOTH

    @property
    def scale(self) -> tuple[float, float]:  # type: ignore[override]
        return float(self.config.scale[0]), float(self.config.scale[1])

    @property
    def temperature(self) -> float:  # type: ignore[override]
        return self.config.sampling.temperature

    def identity(self) -> dict[str, Any]:
        """Everything that determines a verdict apart from the item and the sample index."""
        s = self.config.sampling
        return {
            "backend": self.backend.identity(),
            "style": self.config.style,
            "scale": list(self.config.scale),
            "allow_tie": self.config.allow_tie,
            "sampling": {"max_new_tokens": s.max_new_tokens, "temperature": s.temperature, "top_p": s.top_p,
                         "seed": s.seed},
            "templates": {m: t.text for m, t in self._templates.items()},
        } | self._reading_identity()

    def _reading_identity(self) -> dict[str, Any]:
        """How verdicts are read, when not the default (so existing text judges keep their cache keys)."""
        out: dict[str, Any] = {}
        if self.config.verdict_from != "text":
            out["verdict_from"] = self.config.verdict_from
            out["top_logprobs"] = self.config.top_logprobs
        if self.config.response_format != "text":
            out["response_format"] = self.config.response_format
        return out

    def spec(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    def with_temperature(self, temperature: float) -> "LLMJudge":
        if temperature == self.config.sampling.temperature:
            return self
        cfg = self.config.model_copy(deep=True)
        cfg.sampling.temperature = temperature
        return LLMJudge(cfg, backend=self.backend)  # same backend: no second model load

    def template(self, mode: Mode) -> Template:
        return self._templates[mode]

    def params(self, sample_index: int = 0, mode: Mode = "pointwise") -> SamplingParams:
        s = self.config.sampling
        return SamplingParams(
            max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p, seed=s.seed + sample_index,
            top_logprobs=self.config.top_logprobs if self.config.verdict_from == "logprobs" else 0,
            response_format=(verdict_schema(mode, tuple(self.config.scale), self.config.allow_tie)  # type: ignore[arg-type]
                             if self.config.response_format == "json" else None),
        )

    def parse(self, mode: Mode, text: str, logprobs: list[TokenLogprob] | None = None) -> Verdict:
        """Parse model output into a Verdict (never raises): the text, or with ``verdict_from:
        logprobs`` the verdict token's probabilities (the text is still kept as ``raw``, and its
        reasoning as ``reasoning``)."""
        if self.config.verdict_from == "logprobs":
            return self._from_logprobs(mode, text, logprobs)
        return self._parse_text(mode, text)

    def _parse_text(self, mode: Mode, text: str) -> Verdict:
        if mode == "pointwise":
            r = parse_pointwise(text, tuple(self.config.scale))  # type: ignore[arg-type]
        else:
            r = parse_pairwise(text, self.config.allow_tie)
        return Verdict(
            item_id="", mode=mode, parsed=r.parsed, score=r.score, preference=r.preference, strength=r.strength,
            reasoning=r.reasoning, raw=text, parse_error=r.error, judge=self.name,
        )

    def _from_logprobs(self, mode: Mode, text: str, logprobs: list[TokenLogprob] | None) -> Verdict:
        """The verdict token's distribution, where the text holds that same verdict: the text parser
        must find a verdict, and the token read must be the one the judge wrote for it (no reading
        of a list number or an echoed header as a verdict)."""
        written = self._parse_text(mode, text)
        if not written.parsed:
            written.parse_error = f"no verdict in the text to read probabilities at ({written.parse_error})"
            return written
        if mode == "pointwise":
            r = read_score(logprobs, (float(self.config.scale[0]), float(self.config.scale[1])))
            said = f"{written.score:g}"
        else:
            r = read_preference(logprobs, self.config.allow_tie)
            said = str(written.preference)
        if r.parsed and r.emitted != said:
            r.parsed, r.error = False, (f"the token at the verdict position ({r.emitted!r}) is not the written verdict "
                                        f"({said!r})")
        return Verdict(
            item_id="", mode=mode, parsed=r.parsed, score=r.score if r.parsed else None,
            preference=r.preference if r.parsed else None, strength=r.strength if r.parsed else None,  # type: ignore[arg-type]
            p_a=r.p_a if r.parsed else None, verdict_probs=(r.probs or None) if r.parsed else None,
            reasoning=written.reasoning, raw=text, parse_error=None if r.parsed else r.error, judge=self.name,
        )

    async def ajudge_one(self, item: Item, sample_index: int = 0) -> Verdict:
        mode = item_mode(item)
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.config.concurrency)
        messages = self._templates[mode].render(item, tuple(self.config.scale), self.config.allow_tie)  # type: ignore[arg-type]
        params = self.params(sample_index, mode)
        request: Any = (JudgeRequest(item=item, mode=mode, style=self.config.style, messages=messages, params=params)
                        if getattr(self.backend, "reads_items", False) else GenerationRequest(messages, params))
        t0 = time.perf_counter()
        async with self._sem:
            self.backend_calls += 1
            gen = await self.backend.generate(request)
        if gen.error is not None:
            return Verdict(item_id=item.id, mode=mode, parsed=False, error=gen.error, judge=self.name,
                           latency_s=time.perf_counter() - t0)
        v = self.parse(mode, gen.text, getattr(gen, "logprobs", None))
        v.item_id = item.id
        v.latency_s = gen.latency_s or (time.perf_counter() - t0)
        v.prompt_tokens, v.completion_tokens = gen.prompt_tokens, gen.completion_tokens
        return v

    async def aclose(self) -> None:
        await self.backend.aclose()
