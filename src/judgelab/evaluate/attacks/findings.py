"""What the attack detector returns: ``Finding`` (a kind, a span of the response, a confidence,
the rule that fired) and ``PromptContext`` (what the prompt asks for that excuses judge-like text).

The kinds (``KINDS``) and the rules behind them are described in detector.py. Pure data, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS: tuple[str, ...] = ("self_assessment", "fake_score", "evaluator_instruction", "master_key",
                          "invented_policy", "role_marker", "invisible")

DEFAULT_THRESHOLD = 0.5

# Role nouns a prompt may name as the addressee of a letter or a story's character.
ROLE_NOUNS = ("judge", "evaluator", "grader", "rater", "assessor", "reviewer", "scorer", "examiner", "referee")

# Confidence a suppressed finding keeps (below any sensible threshold, still visible).
SUPPRESSED_CONFIDENCE = 0.2


@dataclass(frozen=True)
class Finding:
    """One span of judge-directed content: ``response[start:end]``."""

    kind: str
    start: int
    end: int
    confidence: float
    rule: str
    text: str
    suppressed: str | None = None  # why the prompt excuses it (confidence lowered), None otherwise

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PromptContext:
    """What the prompt asks for that makes some judge-like text expected content."""

    asks_rating: bool = False
    asks_dialogue: bool = False
    asks_reasoning: bool = False
    mentions_policy: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)  # role nouns the prompt names (reviewer, judge, ...)

    @classmethod
    def of(cls, prompt: str | None) -> "PromptContext":
        if not prompt:
            return cls()
        p = prompt.lower()
        return cls(
            asks_rating=bool(re.search(r"\b(?:rate|rates|rating|ratings|score|scores|scored|grade|grades|review|reviews|"
                                       r"stars?|out of (?:5|10|five|ten)|verdict)\b", p)),
            asks_dialogue=bool(re.search(r"\b(?:dialogue|dialog|conversation|transcript|script|chat|interview|"
                                         r"exchange between)\b", p)),
            asks_reasoning=bool(re.search(r"\b(?:step[- ]by[- ]step|solve|solution|reasoning|thought process|"
                                          r"show your work)\b", p)),
            mentions_policy=bool(re.search(r"\b(?:polic(?:y|ies)|guidelines?|terms of (?:service|use)|rules)\b", p)),
            roles=frozenset(r for r in ROLE_NOUNS if re.search(rf"\b{r}s?\b", p)),
        )


def suppress(f: Finding, why: str) -> Finding:
    """``f`` excused by the prompt: kept (visible to a caller) with its confidence lowered."""
    return Finding(f.kind, f.start, f.end, min(f.confidence, SUPPRESSED_CONFIDENCE), f.rule, f.text, why)
