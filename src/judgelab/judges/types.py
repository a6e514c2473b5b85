"""Values that flow through judging: items to judge, verdicts, generation requests/results,
and the Backend protocol every text-producing backend implements.

A parse failure is a value (``Verdict.parsed = False``), never an exception; a backend failure
after retries is a value too (``Generation.error`` / ``Verdict.error``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Mode = Literal["pointwise", "pairwise"]
Style = Literal["direct", "reasoning"]
Preference = Literal["A", "B", "tie"]

# A pairwise preference seen from the other order (A and B swapped).
FLIP: dict[str, Preference] = {"A": "B", "B": "A", "tie": "tie"}


@dataclass
class PointwiseItem:
    """Judge one response to one prompt."""

    id: str
    prompt: str
    response: str
    # Structured extras (task family, constraints...). Programmatic judges (rubric) read them;
    # text judges ignore them. Part of the cache key.
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class PairwiseItem:
    """Judge which of two responses to one prompt is better (A is shown first)."""

    id: str
    prompt: str
    response_a: str
    response_b: str
    meta: dict[str, Any] = field(default_factory=dict)

    def swapped(self) -> "PairwiseItem":
        return PairwiseItem(
            id=self.id + "::swap",
            prompt=self.prompt,
            response_a=self.response_b,
            response_b=self.response_a,
            meta=dict(self.meta),
        )


Item = PointwiseItem | PairwiseItem


@dataclass
class Verdict:
    """What a judge said about one item.

    Pointwise verdicts carry ``score``; pairwise verdicts carry ``preference`` (and optional
    ``strength`` in [0, 1]). ``parsed`` is always set; when False, ``parse_error`` says why and
    ``raw`` keeps the model's text. ``error`` is set when the backend failed permanently (no text).
    """

    item_id: str
    mode: Mode
    parsed: bool
    score: float | None = None
    preference: Preference | None = None
    strength: float | None = None
    reasoning: str | None = None
    raw: str = ""
    parse_error: str | None = None
    error: str | None = None
    judge: str = ""
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.parsed and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class SamplingParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None

    def key(self) -> tuple:
        return (self.max_new_tokens, self.temperature, self.top_p, self.seed)


@dataclass
class GenerationRequest:
    """One chat completion to produce. ``item`` is the structured thing being judged, for
    programmatic backends (rubric) that do not read text prompts."""

    messages: list[dict[str, str]]
    params: SamplingParams = field(default_factory=SamplingParams)
    item: Item | None = None
    mode: Mode | None = None
    style: Style | None = None


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: str | None = None
    error: str | None = None  # permanent failure after retries; text is "" then
    attempts: int = 1


@runtime_checkable
class Backend(Protocol):
    """Produces text for chat messages. Implementations: transformers, openai, rubric.

    ``generate`` is called concurrently (one coroutine per request); implementations batch
    (transformers: a dynamic batcher) or bound concurrency (openai: a semaphore) themselves.
    It never raises for a per-request failure: it returns ``Generation(error=...)``.
    """

    name: str

    async def generate(self, request: GenerationRequest) -> Generation: ...

    def identity(self) -> dict[str, Any]:
        """What determines the output (model, endpoint model name...), for cache keys."""
        ...

    async def aclose(self) -> None: ...
