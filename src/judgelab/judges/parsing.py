"""Verdict parsers: turn a judge model's text into a score (pointwise) or a preference
(pairwise). Pure functions; they read nothing and write nothing.

They never raise on model output: every outcome is a ParseResult with ``parsed`` set and, when
False, ``error`` saying why. Real model output is messy, so the parsers accept, in order of
trust ("tiers"; the highest tier present wins, and within a tier the *last* match wins, because
models restate and revise before they conclude):

Pairwise
  3. explicit markers: ``[[A]]``, ``[A]``, ``[[C]]`` (tie), Arena-Hard ``[[A>>B]]`` /
     ``[[A>B]]`` / ``[[A=B]]`` / ``[[B>A]]`` / ``[[B>>A]]``, and labelled answers such as
     ``Verdict: A``, ``**Final answer:** Response B``, ``## Verdict`` + ``A``, ``Winner: tie``;
  2. a final line that is only a letter (``A``, ``**B**``, ``(A).``);
  1. phrases: ``Response A is better``, ``I prefer B``, ``B wins``, ``both are equally good``,
     ``it's a tie``, ``A is worse`` (-> B).
  ``strength`` is 1.0 for ``>>``, 0.5 for ``>``, or a stated ``Confidence: 0.8`` / ``80%``;
  None when the model states nothing (and for ties).

Pointwise
  3. labelled scores: ``Score: 7``, ``**Rating:** 8.5``, ``Final score: [[6]]``,
     ``Score: 7/10``, ``Rating - 4 out of 5``, ``Score: seven``;
  2. unlabelled fractions and MT-Bench brackets: ``7/10``, ``7 out of 10``, ``[[7]]``;
  1. a final line that is only a number (``7``, ``**7**``, ``7.``).

Reasoning: the text inside ``<think>...</think>`` (also ``<thinking>``/``<reasoning>``, several
blocks, an orphan ``</think>`` whose opening tag was in the prompt, and an unterminated block)
is the reasoning; only text *outside* it is searched for the verdict, so a verdict mentioned
while thinking never counts. An unterminated block (a truncated generation) therefore yields
``parsed=False``. Without think tags, a reasoning-style answer ("...analysis...\nScore: 7") gets
``reasoning`` = the text before the verdict's line.

Only the last 20,000 characters of the answer are searched (verdicts come last; the cap bounds
parse time on degenerate, looping generations).

Echoed instructions: a run of different markers joined by commas/"or" (``"[[A]]", "[[B]]" or
"[[C]]"``) is the model repeating the instructions, not a verdict, and is ignored.

Scale choice (documented): a score stated on another scale than the one asked for (``8/10`` or
``80%`` when the scale is 1-5) is *rejected* by default (``parsed=False`` and the error names
both scales), because mapping it needs a guess of the implied minimum and a judge ignoring the
asked scale is a failure worth counting. ``rescale=True`` maps it linearly instead: ``N/M`` from
[0, M] and ``P%`` from [0, 100] onto the asked scale. Scores outside the scale are rejected.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from judgelab.judges.types import Preference

log = logging.getLogger(__name__)


@dataclass
class ParseResult:
    parsed: bool
    score: float | None = None
    preference: Preference | None = None
    strength: float | None = None
    reasoning: str | None = None
    error: str | None = None


# --------------------------------------------------------------------------- reasoning blocks

_OPEN = re.compile(r"<\s*(think|thinking|reasoning)\s*>", re.I)
_CLOSE = re.compile(r"<\s*/\s*(think|thinking|reasoning)\s*>", re.I)


def _as_text(text: Any) -> str:
    """Model output as a str; None and non-str inputs are tolerated, never rejected."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return str(text)
    return text


def _split(text: str) -> tuple[str | None, str, bool]:
    """(reasoning, answer text outside reasoning blocks, unterminated?)."""
    reasoning: list[str] = []
    outside: list[str] = []
    pos = 0
    unterminated = False
    # An orphan closing tag before any opening one: the opening tag was part of the prompt
    # (Qwen3 / R1 chat templates), so everything before it is reasoning.
    first_open = _OPEN.search(text)
    first_close = _CLOSE.search(text)
    if first_close and (first_open is None or first_close.start() < first_open.start()):
        reasoning.append(text[: first_close.start()])
        pos = first_close.end()
    while True:
        m = _OPEN.search(text, pos)
        if m is None:
            outside.append(text[pos:])
            break
        outside.append(text[pos : m.start()])
        c = _CLOSE.search(text, m.end())
        if c is None:
            reasoning.append(text[m.end() :])
            unterminated = True
            break
        reasoning.append(text[m.end() : c.start()])
        pos = c.end()
    joined = "\n\n".join(r.strip() for r in reasoning if r.strip())
    return (joined or None) if reasoning else None, "\n".join(p for p in outside if p), unterminated


def split_reasoning(text: str) -> tuple[str | None, str]:
    """Return (reasoning, rest): the text inside <think>...</think> blocks and the text outside
    them (the answer). An unterminated block is all reasoning; rest is then what came before it."""
    reasoning, rest, _ = _split(_as_text(text))
    return reasoning, rest


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


# --------------------------------------------------------------------------- pointwise

_NUM = r"[-+]?\d+(?:\.\d+)?"
_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}
# A number word counts only where the sentence ends ("Score: seven."), not in "one of the best".
_WORDNUM = r"(?:" + "|".join(_WORDS) + r")\b(?=[ \t]*+(?:\n|$|[.,;:!)*\]/]|out\b|of\b))"
# "/ 10", "out of 10", "%"; horizontal whitespace only, so a denominator never spans lines.
_DENOM = r"(?:[ \t]*+(?:/|out[ \t]+of|of)[ \t]*+(?P<den>\d+(?:\.\d+)?)|[ \t]*+(?P<pct>%))?"
_NOT_RANGE = r"(?![ \t]*+(?:-|–|to)[ \t]*+\d)"  # "1-10" / "1 to 10" is a range, not a score
_LABEL = (
    r"(?:final[ \t]+|overall[ \t]+|total[ \t]+|my[ \t]+)?"
    r"(?:score|rating|grade|verdict|final[ \t]+answer|evaluation)"
)
_SCORE_LABELLED = re.compile(
    rf"\b{_LABEL}\b[ \t*]*+(?:\([^)\n]{{0,20}}\))?[ \t*]*+"
    rf"[ \t]*+(?:[:=\-–—]|\bis\b|\bof\b)?[ \t]*+(?:\n[ \t#>*]*+)?[\s*_]{{0,3}}+(?:\bis\b[ \t]*+)?"
    rf"\[{{0,2}}[ \t]*+(?P<num>{_NUM}|{_WORDNUM})[ \t]*+\]{{0,2}}{_DENOM}{_NOT_RANGE}",
    re.I,
)
_SCORE_HEADING = re.compile(
    rf"^[ \t]*+#+[ \t]*+{_LABEL}[ \t]*+:?[ \t]*+\n+[ \t>*]*\[{{0,2}}(?P<num>{_NUM})\]{{0,2}}{_DENOM}",
    re.I | re.M,
)
_SCORE_BRACKET = re.compile(rf"\[\[[ \t]*+(?P<num>{_NUM})[ \t]*+\]\]{_DENOM}")
_SCORE_FRACTION = re.compile(
    rf"(?<![\w.\-/])(?P<num>{_NUM})[ \t]*+(?:/|out[ \t]+of)[ \t]*+(?P<den>\d+(?:\.\d+)?)(?![\d./])(?P<pct>)",
    re.I,
)
_SCORE_BARE_LINE = re.compile(rf"^[ \t>*_#(\[]*(?P<num>{_NUM})[ \t]*+(?P<pct>%)?[ \t]*+[)\]*_]*[ \t]*+\.?[ \t]*+$")


def _to_float(s: str) -> float | None:
    s = s.strip().lower()
    if s in _WORDS:
        return float(_WORDS[s])
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _pointwise_cands(answer: str) -> list[_Cand]:
    cands: list[_Cand] = []
    for tier, pattern in ((3, _SCORE_LABELLED), (3, _SCORE_HEADING), (2, _SCORE_BRACKET), (2, _SCORE_FRACTION)):
        for m in pattern.finditer(answer):
            num = _to_float(m.group("num"))
            if num is None:
                continue
            den = _to_float(m.group("den")) if m.group("den") else None
            pct = bool(m.group("pct"))
            cands.append(_Cand(tier, m.start(), (num, den, pct)))
    lines = [ln for ln in answer.splitlines() if ln.strip()]
    if lines:
        m = _SCORE_BARE_LINE.match(lines[-1].strip())
        if m:
            num = _to_float(m.group("num"))
            if num is not None:
                cands.append(_Cand(1, answer.rfind(lines[-1]), (num, None, bool(m.group("pct")))))
    return cands


def parse_pointwise(text: str, scale: tuple[int, int] = (1, 10), *, rescale: bool = False) -> ParseResult:
    """Parse a score on ``scale`` (inclusive) from judge output; never raises."""
    try:
        return _parse_pointwise(_as_text(text), (float(scale[0]), float(scale[1])), rescale)
    except Exception as e:  # noqa: BLE001 - a parser bug must not kill a training run
        log.exception("pointwise parser failed")
        return ParseResult(False, error=f"parser error: {type(e).__name__}: {e}")


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


def _parse_pointwise(text: str, scale: tuple[float, float], rescale: bool) -> ParseResult:
    lo, hi = scale
    reasoning, norm, answer, failed = _answer_part(text, "score")
    if failed is not None:
        return failed
    best = _best(_pointwise_cands(answer))
    if best is None:
        echo = " (only an echoed list of options)" if answer != norm else ""
        return ParseResult(False, reasoning=reasoning, error=f"no score found{echo}")
    if reasoning is None:
        reasoning = _reasoning_before(norm, best.start)
    num, den, pct = best.value
    shown = f"{num:g}" + (f"/{den:g}" if den is not None else "%" if pct else "")
    if pct and (lo, hi) == (0.0, 100.0):
        pct = False  # a percentage on a 0-100 scale is already on the scale
    if pct or (den is not None and den != hi):
        top = 100.0 if pct else den
        if not rescale:
            return ParseResult(
                False,
                reasoning=reasoning,
                error=f"score {shown} is not on the asked scale {lo:g}-{hi:g} (pass rescale=True to map it)",
            )
        if not top or not 0 <= num <= top:
            return ParseResult(False, reasoning=reasoning, error=f"score {shown} cannot be rescaled")
        num = lo + (hi - lo) * num / top
    if not lo <= num <= hi:
        return ParseResult(False, reasoning=reasoning, error=f"score {shown} outside {lo:g}-{hi:g}")
    return ParseResult(True, score=float(num), reasoning=reasoning)


# --------------------------------------------------------------------------- pairwise

_RESP = r"(?:response|assistant|answer|output|model|option|candidate|text|completion)"
_ARENA = re.compile(r"\[\[?[ \t]*+([AB])[ \t]*+(>>|>|=|<<|<)[ \t]*+([AB])[ \t]*+\]\]?", re.I)
_BRACKET = re.compile(r"\[\[[ \t]*+(?:" + _RESP + r"[ \t]*+)?([ABC]|tie)[ \t]*+\]\]|\[[ \t]*+([ABC])[ \t]*+\]", re.I)
_PAIR_LABEL = (
    r"(?:final[ \t]+|my[ \t]+|overall[ \t]+)?"
    r"(?:verdict|answer|final[ \t]+answer|winner|decision|choice|preference|judg(?:e)?ment|result|"
    r"better[ \t]+response|preferred[ \t]+response|best[ \t]+response|conclusion)"
)
_TIE_WORDS = r"(?:tie|draw|tied|equal|equally[ \t]+good|neither)"
_PAIR_LABELLED = re.compile(
    rf"\b{_PAIR_LABEL}\b[ \t*]*+(?:[:=\-–—]|\bis\b)[\s*_#>]{{0,8}}+(?:\bis\b[ \t]*+)?(?:would[ \t]+be[ \t]*+)?"
    rf"(?:(?:a|an|it'?s|it[ \t]+is)[ \t]+)?"
    rf"(?:\[\[?[ \t]*+)?(?:{_RESP}[ \t]*+)?(?:(?P<ab>(?-i:[ABC]))\b(?![ \t]*+[=<>])|(?P<ab_l>(?-i:[abc]))\b(?=[ \t]*+(?:\]|\*|\.|$|\n))|(?P<tie>{_TIE_WORDS})\b)",
    re.I | re.M,
)
_PAIR_HEADING = re.compile(
    rf"^[ \t]*+#+[ \t]*+{_PAIR_LABEL}[ \t]*+:?[ \t]*+\n+[ \t>*]*(?:{_RESP}[ \t]*+)?(?P<ab>(?-i:[ABC]))\b",
    re.I | re.M,
)
_BARE_LETTER = re.compile(rf"^[ \t>*_#(\[]*(?:{_RESP}[ \t]*+)?(?P<ab>[AB])[ \t]*+[)\]*_]*[ \t]*+[.!]?[ \t]*+$", re.I)
_ADV = r"(?:(?:clearly|much|slightly|significantly|far|somewhat|marginally|overall|definitely|the|a[ \t]+bit|by[ \t]+far)[ \t]+)*"
_PHRASE_BETTER = re.compile(
    rf"(?:\b{_RESP}[ \t]+)?\b(?P<ab>(?-i:[AB]))\b[ \t]+(?:is|was|seems|appears)[ \t]+(?:to[ \t]+be[ \t]+)?{_ADV}"
    rf"(?P<word>better|superior|preferred|preferable|stronger|the[ \t]+winner|worse|inferior|weaker)\b",
    re.I,
)
_PHRASE_PREFER = re.compile(
    rf"\bI[ \t]+(?:would[ \t]+)?(?:prefer|choose|pick|select)[ \t]+(?:{_RESP}[ \t]+)?(?P<ab>(?-i:[AB]))\b", re.I
)
_PHRASE_WINS = re.compile(rf"(?:\b{_RESP}[ \t]+)?\b(?P<ab>(?-i:[AB]))\b[ \t]+wins\b", re.I)
_PHRASE_TIE = re.compile(
    r"\b(?:it'?s[ \t]+a[ \t]+tie|(?:this|that)[ \t]+is[ \t]+a[ \t]+tie|^[ \t*_]*(?:a[ \t]+)?tie[ \t*_.!]*$|"
    r"both[ \t]+(?:responses[ \t]+|answers[ \t]+)?(?:are[ \t]+)?(?:about[ \t]+)?equally[ \t]+(?:good|bad|strong|weak|valid)|"
    r"(?:they|both)[ \t]+are[ \t]+(?:equally[ \t]+good|equal(?:[ \t]+in[ \t]+quality)?|of[ \t]+equal[ \t]+quality)|"
    r"neither[ \t]+(?:response[ \t]+)?is[ \t]+better)",
    re.I | re.M,
)
_CONFIDENCE = re.compile(
    r"\bconfidence\b[ \t*]*+(?:[:=\-]|\bis\b)?[ \t*]*+(?P<num>\d+(?:\.\d+)?)[ \t]*+(?P<pct>%)?"
    r"|\bconfidence\b[ \t*]*+(?:[:=\-]|\bis\b)?[ \t*]*+(?P<word>very[ \t]+high|high|medium|moderate|low)\b",
    re.I,
)
_OTHER = {"A": "B", "B": "A"}
_WORD_CONF = {"very high": 1.0, "high": 0.9, "medium": 0.6, "moderate": 0.6, "low": 0.3}


def _letter_pref(letter: str) -> Preference:
    letter = letter.strip().upper()
    return "tie" if letter in ("C", "TIE") else letter  # type: ignore[return-value]


def _pairwise_cands(answer: str) -> list[_Cand]:
    cands: list[_Cand] = []
    for m in _ARENA.finditer(answer):
        x, op, y = m.group(1).upper(), m.group(2), m.group(3).upper()
        if x == y:
            if op == "=":
                cands.append(_Cand(3, m.start(), "tie"))
            continue
        if op == "=":
            cands.append(_Cand(3, m.start(), "tie"))
            continue
        winner = x if op.startswith(">") else y
        cands.append(_Cand(3, m.start(), winner, 1.0 if len(op) == 2 else 0.5))
    for m in _BRACKET.finditer(answer):
        cands.append(_Cand(3, m.start(), _letter_pref(m.group(1) or m.group(2))))
    for m in _PAIR_LABELLED.finditer(answer):
        letter = m.group("ab") or m.group("ab_l")
        if letter:
            cands.append(_Cand(3, m.start(), _letter_pref(letter)))
        elif m.group("tie"):
            cands.append(_Cand(3, m.start(), "tie"))
    for m in _PAIR_HEADING.finditer(answer):
        cands.append(_Cand(3, m.start(), _letter_pref(m.group("ab"))))
    lines = [ln for ln in answer.splitlines() if ln.strip()]
    if lines:
        m = _BARE_LETTER.match(lines[-1].strip())
        if m:
            cands.append(_Cand(2, answer.rfind(lines[-1]), _letter_pref(m.group("ab"))))
    for m in _PHRASE_BETTER.finditer(answer):
        ab = m.group("ab")
        worse = m.group("word").lower() in ("worse", "inferior", "weaker")
        cands.append(_Cand(1, m.start(), _OTHER[ab] if worse else ab))
    for pattern in (_PHRASE_PREFER, _PHRASE_WINS):
        for m in pattern.finditer(answer):
            cands.append(_Cand(1, m.start(), m.group("ab")))
    for m in _PHRASE_TIE.finditer(answer):
        cands.append(_Cand(1, m.start(), "tie"))
    return cands


def _confidence(answer: str) -> float | None:
    found = list(_CONFIDENCE.finditer(answer))
    if not found:
        return None
    m = found[-1]
    if m.group("word"):
        return _WORD_CONF[re.sub(r"\s+", " ", m.group("word").lower())]
    v = float(m.group("num"))
    if m.group("pct") or v > 1:
        v /= 100.0
    return v if 0.0 <= v <= 1.0 else None


def parse_pairwise(text: str, allow_tie: bool = True) -> ParseResult:
    """Parse a preference ('A', 'B' or 'tie') from judge output; never raises."""
    try:
        return _parse_pairwise(_as_text(text), allow_tie)
    except Exception as e:  # noqa: BLE001 - a parser bug must not kill a training run
        log.exception("pairwise parser failed")
        return ParseResult(False, error=f"parser error: {type(e).__name__}: {e}")


def _parse_pairwise(text: str, allow_tie: bool) -> ParseResult:
    reasoning, norm, answer, failed = _answer_part(text, "verdict")
    if failed is not None:
        return failed
    best = _best(_pairwise_cands(answer))
    if best is None:
        echo = " (only an echoed list of options)" if answer != norm else ""
        return ParseResult(False, reasoning=reasoning, error=f"no verdict found{echo}")
    if reasoning is None:
        reasoning = _reasoning_before(norm, best.start)
    pref: Preference = best.value
    if pref == "tie":
        if not allow_tie:
            return ParseResult(False, reasoning=reasoning, error="verdict is a tie but ties are not allowed")
        return ParseResult(True, preference="tie", reasoning=reasoning)
    strength = best.strength if best.strength is not None else _confidence(answer)
    return ParseResult(True, preference=pref, strength=strength, reasoning=reasoning)
