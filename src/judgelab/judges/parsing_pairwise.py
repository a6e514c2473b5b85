"""Pairwise verdict parsing: a preference ('A', 'B' or 'tie', optional strength) from a judge's
text. The tiers, the reasoning rule and the guarantees are those of judgelab.judges.parsing (see
its docstring); this module holds the pairwise patterns.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from judgelab.judges.parsing_common import (
    _NUM,
    ParseResult,
    _answer_part,
    _as_text,
    _best,
    _Cand,
    _json_objects,
    _json_values,
    _reasoning_before,
)
from judgelab.judges.types import Preference

log = logging.getLogger(__name__)


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
# A line that is only an Arena-Hard verdict without its brackets: "A>>B", "**B>A**", "Final verdict: A=B".
_ARENA_LINE = re.compile(
    rf"^[ \t>*_#-]*(?:(?:(?:my|the|final|overall)[ \t]+)*{_PAIR_LABEL}[ \t*]*+(?:\bis\b)?[ \t*]*+[:=\-–—]?[ \t*]*+)?(?P<x>[AB])[ \t]*+(?P<op>>>|>|=|<<|<)[ \t]*+(?P<y>[AB])[ \t*_.!]*$",
    re.I | re.M)
# AlpacaEval-style references to the outputs: "Output (a)", "Output (b) is better"
_OUTPUT_PAREN = re.compile(r"^[ \t>*_#-]*(?:best[ \t]+|better[ \t]+|winner[ \t:]*)?output[ \t]*+\((?P<ab>[ab])\)[ \t*_.!]*$", re.I | re.M)
# PandaLM: the first line is "1", "2" or "Tie" (then the reason); JudgeLM: the first line is two scores "8 9".
_FIRST_LINE_12 = re.compile(r"^[ \t*_]*(?P<v>1|2|tie)[ \t*_.]*$", re.I)
_FIRST_LINE_TWO_SCORES = re.compile(rf"^[ \t]*(?P<a>{_NUM})[ \t]+(?P<b>{_NUM})[ \t]*$")
PAIR_KEYS = ("winner", "preference", "preferred", "verdict", "choice", "better", "better_response", "best_response",
             "preferred_response", "decision", "final_verdict", "final_answer", "answer", "result", "label")
_JSON_PREF = re.compile(
    rf"^[ \t]*(?:(?:{_RESP}|model)[ \t_]*+)?\(?(?P<ab>[abc])\)?[ \t]*$|^[ \t]*(?P<tie>{_TIE_WORDS}|both|none)[ \t]*$", re.I)
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
    for start, obj in _json_objects(answer):
        prefs = {_json_pref(v) for v in _json_values(obj, PAIR_KEYS)} - {None}
        if len(prefs) == 1:  # one verdict; conflicting ones: no guess
            cands.append(_Cand(3, start, prefs.pop()))
    for m in _ARENA_LINE.finditer(answer):
        x, op, y = m.group("x").upper(), m.group("op"), m.group("y").upper()
        if op == "=" or x == y:
            cands.append(_Cand(3, m.start(), "tie"))
        else:
            cands.append(_Cand(3, m.start(), x if op.startswith(">") else y, 1.0 if len(op) == 2 else 0.5))
    for m in _OUTPUT_PAREN.finditer(answer):
        cands.append(_Cand(3, m.start(), m.group("ab").upper()))
    lines = [ln for ln in answer.splitlines() if ln.strip()]
    if lines:
        first = lines[0].strip()
        m12 = _FIRST_LINE_12.match(first)
        if m12 and len(lines) > 1:  # PandaLM's shape: the verdict line, then the reason
            v = m12.group("v").lower()
            cands.append(_Cand(2, answer.find(lines[0]), "tie" if v == "tie" else "A" if v == "1" else "B"))
        m2 = _FIRST_LINE_TWO_SCORES.match(first)
        if m2:  # JudgeLM's shape: "score_1 score_2" on the first line
            a, b = float(m2.group("a")), float(m2.group("b"))
            cands.append(_Cand(2, answer.find(lines[0]), "A" if a > b else "B" if b > a else "tie"))
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


def _json_pref(v: Any) -> Preference | None:
    if not isinstance(v, str):
        return None
    m = _JSON_PREF.match(v.replace("model_", "").replace("_", " "))
    if m is None:
        return None
    if m.group("tie"):
        return "tie"
    return _letter_pref(m.group("ab"))


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
