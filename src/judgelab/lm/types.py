"""Values of the text layer: sampling parameters, a generation request and its result, and the
TextBackend protocol every text-producing backend implements (local transformers, any
OpenAI-compatible HTTP server, or one a user registers).

A backend failure after retries is a value (``Generation.error``), never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Messages = list[dict[str, str]]


@dataclass
class SamplingParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    # Per-token log-probabilities of the output: 0 = none; k >= 1 = each generated token's own
    # logprob plus the k most likely alternatives at that position (OpenAI's ``top_logprobs``).
    top_logprobs: int = 0
    # Structured output, OpenAI's ``response_format`` (``{"type": "json_object"}`` or
    # ``{"type": "json_schema", "json_schema": {...}}``); None = free text. Backends that cannot
    # honour it say so in ``Generation.error`` rather than ignoring it.
    response_format: dict[str, Any] | None = None

    def key(self) -> tuple:
        rf = repr(sorted(self.response_format.items())) if self.response_format else None
        return (self.max_new_tokens, self.temperature, self.top_p, self.seed, self.top_logprobs, rf)


@dataclass
class GenerationRequest:
    """One chat completion to produce: the messages and how to sample. Nothing else: a backend
    reads text, never the structured thing a caller is judging."""

    messages: Messages
    params: SamplingParams = field(default_factory=SamplingParams)


@dataclass
class TokenLogprob:
    """One generated token: its text, its logprob, and the ``top`` most likely alternatives at
    that position as (token text, logprob), most likely first (the token itself may be among them).
    ``id`` is the token's vocabulary id where the backend knows it (local models; None over HTTP)."""

    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)
    id: int | None = None


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: str | None = None
    error: str | None = None  # permanent failure after retries; text is "" then
    attempts: int = 1
    # One entry per generated token when the request asked for ``top_logprobs`` (None otherwise,
    # or when the backend could not provide them: then ``error`` says why).
    logprobs: list[TokenLogprob] | None = None


@runtime_checkable
class TextBackend(Protocol):
    """Produces text for chat messages. Implementations: transformers, openai, user-registered.

    ``generate`` is called concurrently (one coroutine per request); implementations batch
    (transformers: the dynamic batcher) or bound concurrency (openai: a semaphore) themselves.
    It never raises for a per-request failure: it returns ``Generation(error=...)``.
    """

    name: str

    async def generate(self, request: GenerationRequest) -> Generation: ...

    def identity(self) -> dict[str, Any]:
        """What determines the output (model, endpoint model name...), for cache keys."""
        ...

    async def aclose(self) -> None: ...
