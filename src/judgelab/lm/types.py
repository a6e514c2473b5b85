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

    def key(self) -> tuple:
        return (self.max_new_tokens, self.temperature, self.top_p, self.seed)


@dataclass
class GenerationRequest:
    """One chat completion to produce: the messages and how to sample. Nothing else: a backend
    reads text, never the structured thing a caller is judging."""

    messages: Messages
    params: SamplingParams = field(default_factory=SamplingParams)


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
