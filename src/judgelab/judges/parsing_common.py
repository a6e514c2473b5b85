"""Shared pieces of the verdict parsers (judgelab.judges.parsing for scores,
judgelab.judges.parsing_pairwise for preferences): the ParseResult value, answer normalisation,
echoed-option removal, JSON-object scanning and the candidate tiers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from judgelab.judges.reasoning import _as_text, _split  # noqa: F401 (used by both parsers)
from judgelab.judges.types import Preference

_NUM = r"[-+]?\d+(?:\.\d+)?"


@dataclass
class ParseResult:
    parsed: bool
    score: float | None = None
    preference: Preference | None = None
    strength: float | None = None
    reasoning: str | None = None
    error: str | None = None


# --------------------------------------------------------------------------- shared helpers

_OPTION_MARK = r"\[\[?[^\[\]\n]{1,8}\]\]?"
# Between echoed options there may be a short gloss: '"[[A]]" if A is better, ...' or
# '[[A>B]] (A is slightly better), ...'.
_OPTION_GLOSS = r"""(?:["'`*]*+[ \t]*+(?:\([^()\n]{0,60}\)|\b(?:if|when|for)\b[^\[\],\n]{0,40}))?"""
_OPTION_SEP = _OPTION_GLOSS + r"""["'`*\s]*(?:,|/|\||\bor\b|\band\b)["'`*\s]*(?:\bor\b["'`*\s]*)?"""
_OPTION_LIST = re.compile(rf"{_OPTION_MARK}(?:{_OPTION_SEP}{_OPTION_MARK})+{_OPTION_GLOSS}", re.I)


def _drop_option_lists(text: str) -> str:
    """Blank out echoed option lists ("[[A]]", "[[B]]" or "[[C]]") so they are not verdicts."""

    def repl(m: re.Match[str]) -> str:
        marks = re.findall(_OPTION_MARK, m.group(0))
        norm = {re.sub(r"[\[\]\s]", "", x).upper() for x in marks}
        return " " * len(m.group(0)) if len(norm) > 1 else m.group(0)

    return _OPTION_LIST.sub(repl, text)


# Only the tail of the answer is searched: verdicts come last, and the cap bounds parse time on
# degenerate (looping) generations.
MAX_ANSWER_CHARS = 20_000


def _normalise(text: str) -> str:
    text = text[-MAX_ANSWER_CHARS:]
    # NFKC folds fullwidth brackets/letters/digits (［［Ａ］］, ８) onto ASCII; zero-width
    # characters would otherwise split markers.
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)


def _reasoning_before(answer: str, start: int) -> str | None:
    """Text before the line holding the verdict: the reasoning of a tagless reasoning answer."""
    line_start = answer.rfind("\n", 0, start) + 1
    before = answer[:line_start].strip()
    return before or None


_JSON_MAX_STARTS = 64  # only the last few '{' are tried: verdicts come last, and it bounds the work


def _json_objects(answer: str) -> list[tuple[int, dict[str, Any]]]:
    """(start, object) of every JSON object in the answer (fenced or bare), outermost only."""
    import json

    dec = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"\{", answer)][-_JSON_MAX_STARTS:]
    out: list[tuple[int, dict[str, Any]]] = []
    covered_to = -1
    for i in starts:
        if i < covered_to:
            continue  # inside an object already found
        try:
            obj, end = dec.raw_decode(answer, i)
        except (json.JSONDecodeError, RecursionError):
            continue
        if isinstance(obj, dict):
            out.append((i, obj))
            covered_to = end
    return out


def _json_values(obj: Any, keys: tuple[str, ...]) -> list[Any]:
    """Values under any of ``keys`` (case/space/underscore-insensitive), searched depth-first."""
    norm = {re.sub(r"[\s_\-]", "", k.lower()) for k in keys}
    found: list[Any] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(k, str) and re.sub(r"[\s_\-]", "", k.lower()) in norm and not isinstance(v, (dict, list)):
                found.append(v)
            elif isinstance(v, (dict, list)):
                found += _json_values(v, keys)
    elif isinstance(obj, list):
        for v in obj:
            found += _json_values(v, keys)
    return found


@dataclass
class _Cand:
    tier: int
    start: int
    value: Any
    strength: float | None = None


def _best(cands: list[_Cand]) -> _Cand | None:
    if not cands:
        return None
    top = max(c.tier for c in cands)
    return max((c for c in cands if c.tier == top), key=lambda c: c.start)


def _answer_part(text: str, what: str) -> tuple[str | None, str, str, ParseResult | None]:
    """Split off reasoning and normalise: (reasoning, normalised rest, rest without echoed option
    lists, failure). ``failure`` is set when nothing follows the reasoning; ``what`` names the
    missing verdict ("score" / "verdict") in its error."""
    reasoning, rest, unterminated = _split(text)
    norm = _normalise(rest)
    answer = _drop_option_lists(norm)
    if norm.strip():
        return reasoning, norm, answer, None
    if unterminated:
        return reasoning, norm, answer, ParseResult(
            False, reasoning=reasoning, error=f"unterminated <think> block and no {what} before it")
    if reasoning:
        return reasoning, norm, answer, ParseResult(False, reasoning=reasoning, error=f"no {what} after the reasoning block")
    return reasoning, norm, answer, ParseResult(False, error="empty output")
