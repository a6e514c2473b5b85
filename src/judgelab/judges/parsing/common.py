"""Shared pieces of the verdict parsers (judgelab.judges.parsing.pointwise for scores,
judgelab.judges.parsing.pairwise for preferences): the ParseResult value, answer normalisation,
echoed-option removal, JSON-object scanning, the candidate tiers, and the two outcomes both
parsers share (no candidate won; the parser itself failed).
"""

from __future__ import annotations

import logging
import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from judgelab.judges.reasoning import _split
from judgelab.judges.types import Preference

log = logging.getLogger(__name__)

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
# Separators: a comma, "/", "|", "or", "and" (", and" too), or only spaces on the same line, or
# nothing ("[[A>>B]] [[B>>A]]", "[[A]][[B]]": two verdicts side by side are no verdict either).
_OPTION_SEP = (_OPTION_GLOSS + r"""(?:["'`*\s]*(?:,|/|\||\bor\b|\band\b)["'`*\s]*(?:\b(?:or|and)\b["'`*\s]*)?"""
               r"""|["'`* \t]*)""")
_OPTION_LIST = re.compile(rf"{_OPTION_MARK}(?:{_OPTION_SEP}{_OPTION_MARK})+{_OPTION_GLOSS}", re.I)
# An echoed numbered/bulleted list of the options, one per line (Arena-Hard's "1. Assistant A is
# significantly better: [[A>>B]]" ... "5. ...: [[B>>A]]").
_OPTION_LINE = re.compile(r"^[ \t>]*(?:\d{1,2}[.)]|[-*\u2022])[ \t]+[^\n\[\]]{0,80}?(" + _OPTION_MARK + r")[^\n\[\]]{0,60}$", re.M)


# A single marker quoted as an example of the format ('e.g. "[[A]]"', 'for example: "Rating: [[5]]"',
# '"[[A]]" if assistant A is better'): the instructions echoed, not a verdict.
_EXAMPLE_INTRO = r"(?:\be\.[ \t]*g\.?|\bfor[ \t]+(?:example|instance)|\bexample(?:[ \t]+(?:output|answer))?|\bsuch[ \t]+as)"
_EXAMPLE_GLOSS = r"""["'`*]*[ \t]+(?:if|when)\b[^\n.;:]{0,60}?\b(?:better|worse|best|tie|equal(?:ly)?)\b"""
_EXAMPLE_MARK = re.compile(
    _EXAMPLE_INTRO + r"""[ \t]*[:,]?[ \t]*(?:(?P<q>["'`])[^"'`\n]{1,40}(?P=q)|[^\n\[\]]{0,24}""" + _OPTION_MARK + ")"
    + "(?:" + _EXAMPLE_GLOSS + ")?|" + _OPTION_MARK + _EXAMPLE_GLOSS,
    re.I)


def _mark_key(mark: str) -> str:
    return re.sub(r"[\[\]\s]", "", mark).upper()


def _drop_option_lists(text: str) -> str:
    """Blank out echoed option lists ("[[A]]", "[[B]]" or "[[C]]", or a numbered list of them)
    so they are not verdicts."""

    def repl(m: re.Match[str]) -> str:
        marks = re.findall(_OPTION_MARK, m.group(0))
        return " " * len(m.group(0)) if len({_mark_key(x) for x in marks}) > 1 else m.group(0)

    text = _OPTION_LIST.sub(repl, text)
    text = _EXAMPLE_MARK.sub(lambda m: " " * len(m.group(0)), text)
    # Runs of consecutive list lines holding different marks.
    lines = list(_OPTION_LINE.finditer(text))
    runs: list[list[re.Match[str]]] = []
    for m in lines:
        if runs and text[runs[-1][-1].end():m.start()].strip() == "":
            runs[-1].append(m)
        else:
            runs.append([m])
    for run in runs:
        if len(run) > 1 and len({_mark_key(m.group(1)) for m in run}) > 1:
            a, b = run[0].start(), run[-1].end()
            text = text[:a] + " " * (b - a) + text[b:]
    return text


# Only the tail of the answer is searched: verdicts come last, and the cap bounds parse time on
# degenerate (looping) generations.
MAX_ANSWER_CHARS = 20_000


# Special tokens a backend may leave in the text (JudgeLM's "6 8</s>", PandaLM's "1</s>").
_SPECIAL_TOKENS = re.compile(
    r"</s>|<s>|<unk>|<pad>|<\|(?:im_end|im_start|eot_id|end|endoftext|end_of_text|eos)\|>|<end_of_turn>")


def _normalise(text: str) -> str:
    text = text[-MAX_ANSWER_CHARS:]
    # NFKC folds fullwidth brackets/letters/digits (［［Ａ］］, ８) onto ASCII; zero-width
    # characters would otherwise split markers.
    text = unicodedata.normalize("NFKC", text)
    text = _SPECIAL_TOKENS.sub("", text)
    return re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)


def _reasoning_before(answer: str, start: int) -> str | None:
    """Text before the line holding the verdict: the reasoning of a tagless reasoning answer."""
    line_start = answer.rfind("\n", 0, start) + 1
    before = answer[:line_start].strip()
    return before or None


_JSON_MAX_STARTS = 64  # only the last few '{' / '[' are tried: verdicts come last, and it bounds the work
_JSON_MAX_CHARS = 4_000  # a verdict object is short; longer brace spans are not tried leniently
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _balanced_end(text: str, i: int) -> int:
    """Index after the bracket closing the one at ``i`` (quotes respected), or -1."""
    stack: list[str] = []
    quote = ""
    j = i
    limit = min(len(text), i + _JSON_MAX_CHARS)
    while j < limit:
        ch = text[j]
        if quote:
            if ch == "\\":
                j += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return -1
            if not stack:
                return j + 1
        j += 1
    return -1


def _lenient_load(span: str) -> Any:
    """A JSON-ish span as a value: JSON, JSON with trailing commas, or a Python literal
    ({'score': 6}, as AlpacaEval's ranking prompts ask for). None if it is none of them."""
    import ast
    import json

    for attempt in (span, _TRAILING_COMMA.sub(r"\1", span)):
        try:
            return json.loads(attempt)
        except (json.JSONDecodeError, RecursionError):
            pass
    if "'" not in span:
        return None  # without single quotes it is no Python literal that JSON did not read
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning on odd literals ("1a"): not ours to report
            return ast.literal_eval(span)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _json_objects(answer: str) -> list[tuple[int, Any]]:
    """(start, value) of every JSON object or array in the answer (fenced or bare; lenient: trailing
    commas and Python literals too), outermost only. Arrays count because several verdict objects
    in one array are read together (conflicting ones are then no verdict)."""
    import json

    dec = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"[{\[]", answer)][-_JSON_MAX_STARTS:]
    out: list[tuple[int, Any]] = []
    covered_to = -1
    for i in starts:
        if i < covered_to:
            continue  # inside an object already found
        try:
            obj, end = dec.raw_decode(answer, i)
        except (json.JSONDecodeError, RecursionError):
            end = _balanced_end(answer, i)
            obj = _lenient_load(answer[i:end]) if end > 0 else None
        if isinstance(obj, dict) or (isinstance(obj, list) and any(isinstance(x, dict) for x in obj)):
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
    final: bool = False  # stated as the answer by its form (a JSON verdict, a ranking)


# Tiers at or below this one are weak evidence (phrases, bare lines, fractions): when their
# candidates disagree there is no verdict. Above it (explicit markers and labels) the last one
# wins, because models restate and revise before they conclude.
WEAK_TIER = 2


def _best(cands: list[_Cand], key: Any = lambda v: v) -> tuple[_Cand | None, bool]:
    """(the winning candidate, conflict?): the last of the highest tier; None and conflict=True
    when that tier is weak and its candidates disagree."""
    if not cands:
        return None, False
    top = max(c.tier for c in cands)
    tier = [c for c in cands if c.tier == top]
    if top <= WEAK_TIER and len({key(c.value) for c in tier}) > 1:
        return None, True
    return max(tier, key=lambda c: c.start), False


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


def _not_found(what: str, differing: str, conflict: bool, answer: str, norm: str,
               reasoning: str | None) -> ParseResult:
    """No candidate won: weak candidates disagreed (``conflict``), or there were none, perhaps
    because only echoed option lists were there (``answer`` is ``norm`` without them)."""
    if conflict:
        return ParseResult(False, reasoning=reasoning, error=f"no {what} found (different {differing}, none stated as final)")
    echo = " (only an echoed list of options or alternatives)" if answer != norm else ""
    return ParseResult(False, reasoning=reasoning, error=f"no {what} found{echo}")


def _never_raise(mode: str, parse: Callable[[], ParseResult]) -> ParseResult:
    """``parse()``, or a failed ParseResult naming the exception: a parser bug is logged and
    counted as a parse failure, never raised into a training run."""
    try:
        return parse()
    except Exception as e:  # noqa: BLE001 - a parser bug must not kill a training run
        log.exception("%s parser failed", mode)
        return ParseResult(False, error=f"parser error: {type(e).__name__}: {e}")
