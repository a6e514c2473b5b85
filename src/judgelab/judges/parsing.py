"""Verdict parsers. They never raise on model output: every outcome is a ParseResult with
``parsed`` set and, when False, ``error`` saying why.

(Minimal first version; robustness work and property tests live in tests/judges/test_parsing.py.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from judgelab.judges.types import Preference


@dataclass
class ParseResult:
    parsed: bool
    score: float | None = None
    preference: Preference | None = None
    strength: float | None = None
    reasoning: str | None = None
    error: str | None = None


_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.S | re.I)


def split_reasoning(text: str) -> tuple[str | None, str]:
    """Return (reasoning, rest): the text inside <think>...</think> and what follows it."""
    m = _THINK.search(text)
    if not m:
        return None, text
    return m.group(1).strip(), text[m.end():]


_SCORE = re.compile(r"score\s*[:=]?\s*\**\s*(-?\d+(?:\.\d+)?)", re.I)


def parse_pointwise(text: str, scale: tuple[int, int] = (1, 10)) -> ParseResult:
    reasoning, rest = split_reasoning(text or "")
    matches = _SCORE.findall(rest) or re.findall(r"(?<![\d.])(-?\d+(?:\.\d+)?)(?![\d.])", rest.strip()[:12])
    if not matches:
        return ParseResult(False, reasoning=reasoning, error="no score found")
    score = float(matches[-1])
    if not scale[0] <= score <= scale[1]:
        return ParseResult(False, reasoning=reasoning, error=f"score {score:g} outside {scale[0]}-{scale[1]}")
    return ParseResult(True, score=score, reasoning=reasoning)


_PAIR = re.compile(r"\[\[\s*([ABC])\s*\]\]", re.I)


def parse_pairwise(text: str, allow_tie: bool = True) -> ParseResult:
    reasoning, rest = split_reasoning(text or "")
    matches = _PAIR.findall(rest)
    if not matches:
        return ParseResult(False, reasoning=reasoning, error="no verdict found")
    v = matches[-1].upper()
    pref: Preference = {"A": "A", "B": "B", "C": "tie"}[v]  # type: ignore[assignment]
    if pref == "tie" and not allow_tie:
        return ParseResult(False, reasoning=reasoning, error="tie not allowed")
    return ParseResult(True, preference=pref, reasoning=reasoning)
