"""Values that flow through judging: items to judge, verdicts, and the request a programmatic
judge backend receives. (Text generation values live in ``judgelab.lm``.)

A parse failure is a value (``Verdict.parsed = False``), never an exception; a backend failure
after retries is a value too (``Verdict.error``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from judgelab.lm.types import SamplingParams

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

    Verdicts read from the verdict token's probabilities (a judge with ``verdict_from: logprobs``,
    judgelab.judges.logprob) also carry ``verdict_probs`` (the renormalised distribution over the
    options: score values as strings, or "A"/"B"/"tie"); their ``score`` is the expectation over it
    (fractional), and pairwise ones carry ``p_a`` = P(A) + P(tie)/2, the expected outcome of
    response A, a smooth preference where ``preference`` is only its argmax.
    """

    item_id: str
    mode: Mode
    parsed: bool
    score: float | None = None
    preference: Preference | None = None
    strength: float | None = None
    p_a: float | None = None
    verdict_probs: dict[str, float] | None = None
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
class JudgeRequest:
    """What a programmatic judge backend (the rubric, a Python function) is asked: the structured
    item itself, next to the messages an LLM judge would have been sent. Text backends never see
    this type: they get a ``judgelab.lm.types.GenerationRequest`` (messages + sampling only)."""

    item: Item
    mode: Mode
    style: Style
    messages: list[dict[str, str]] = field(default_factory=list)
    params: SamplingParams = field(default_factory=SamplingParams)


def unit_score(score: float | None, scale: tuple[float, float]) -> float | None:
    """A pointwise score on [0, 1] through the judge's scale (``(score - low) / (high - low)``, clamped):
    the one mapping rewards, the gold monitor and best-of-N use. None stays None."""
    if score is None:
        return None
    lo, hi = scale
    return min(1.0, max(0.0, (score - lo) / (hi - lo)))

