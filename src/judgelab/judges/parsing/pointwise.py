"""Pointwise verdict parsing: a score on the asked scale from a judge's text. The tiers, the
reasoning rule, the scale choice and the guarantees are those of judgelab.judges.parsing (see its
docstring); this module holds the score patterns.
"""

from __future__ import annotations

import math
import re

from judgelab.judges.parsing.common import (
    _NUM,
    ParseResult,
    _answer_part,
    _best,
    _Cand,
    _json_objects,
    _json_values,
    _never_raise,
    _not_found,
    _reasoning_before,
)
from judgelab.judges.reasoning import _as_text

# --------------------------------------------------------------------------- pointwise

_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}
# A number word counts only where the sentence ends ("Score: seven."), not in "one of the best".
_WORDNUM = r"(?:" + "|".join(_WORDS) + r")\b(?=[ \t]*+(?:\n|$|[.,;:!)*\]/]|out\b|of\b))"
# "/ 10", "out of 10", "%"; horizontal whitespace only, so a denominator never spans lines.
# "(out of 5)" too: a score on another scale must be seen as one, not read as a score on this one.
_DENOM = r"(?:[ \t]*+(?:/|out[ \t]+of|of|\([ \t]*+out[ \t]+of)[ \t]*+(?P<den>\d+(?:\.\d+)?)\)?|[ \t]*+(?P<pct>%))?"
_NOT_RANGE = r"(?![ \t]*+(?:-|–|to)[ \t]*+\d)"  # "1-10" / "1 to 10" is a range, not a score
_LABEL = (
    r"(?:final[ \t]+|overall[ \t]+|total[ \t]+|my[ \t]+)?"
    r"(?:score|rating|grade|verdict|final[ \t]+answer|evaluation|result)"
)
# "Score: 7", "My rating would be 8", "[Score 4]", "[SCORE] 3", "Rating: [[5]]", "(Score 5)"
_SCORE_LABELLED = re.compile(
    rf"\b{_LABEL}\b\]?[ \t*]*+(?:\([^)\n]{{0,20}}\))?[ \t*]*+"
    rf"[ \t]*+(?:[:=\-–—]|\bis\b|\bof\b|\bwould[ \t]+be\b|\bwill[ \t]+be\b)?[ \t]*+(?:\n[ \t#>*]*+)?[\s*_]{{0,3}}+(?:\bis\b[ \t]*+)?"
    rf"[\[(]{{0,2}}[ \t]*+(?P<num>{_NUM}|{_WORDNUM})[ \t]*+[\])]{{0,2}}{_DENOM}{_NOT_RANGE}",
    re.I,
)
# "Overall: 8/10" (a bare "overall" counts as a label only with its colon)
_SCORE_OVERALL = re.compile(rf"\boverall\b[ \t*]*+:[ \t*]*+\[{{0,2}}(?P<num>{_NUM})\]{{0,2}}{_DENOM}{_NOT_RANGE}", re.I)
_SCORE_HEADING = re.compile(
    rf"^[ \t]*+#+[ \t]*+{_LABEL}[ \t]*+:?[ \t]*+\n+[ \t>*]*\[{{0,2}}(?P<num>{_NUM})\]{{0,2}}{_DENOM}",
    re.I | re.M,
)
_SCORE_BRACKET = re.compile(rf"\[\[[ \t]*+(?P<num>{_NUM})[ \t]*+\]\]{_DENOM}")
_SCORE_FRACTION = re.compile(
    rf"(?<![\w.\-/])(?P<num>{_NUM})[ \t]*+(?:/|out[ \t]+of)[ \t]*+(?P<den>\d+(?:\.\d+)?)(?![\d/]|\.\d)(?P<pct>)",
    re.I,
)
_SCORE_BARE_LINE = re.compile(rf"^[ \t>*_#(\[]*(?P<num>{_NUM})[ \t]*+(?P<pct>%)?[ \t]*+[)\]*_]*[ \t]*+\.?[ \t]*+$")
# Prometheus: "Feedback: ... [RESULT] 4"
_SCORE_RESULT = re.compile(
    rf"\[(?:RESULT|SCORE)\][ \t:]*+(?:(?:result|score)[ \t]*+:?[ \t]*+)?[\[(]?[ \t]*+(?P<num>{_NUM})[ \t]*+[\])]?{_DENOM}", re.I)
# Everyday English: "I would rate this response a 7", "I'd give it an 8.", "it deserves a 6"
_SCORE_SENTENCE = re.compile(
    rf"\b(?:rate|rated|rating|give|giving|gave|deserves?|award|assign|score|scores|scored|earns?|earned|merits?|warrants?|gets|receives?)\b"
    rf"[ \t]+(?:it|this|the[ \t]+\w+|this[ \t]+\w+)?[ \t]*+"
    rf"(?:(?:a|an|at)[ \t]+)?(?:solid[ \t]+|strong[ \t]+|low[ \t]+|high[ \t]+)?(?P<num>{_NUM}|{_WORDNUM}){_DENOM}{_NOT_RANGE}"
    rf"(?![ \t]*+(?:points?[ \t]+(?:for|in|on)|of[ \t]+the|reasons?|times|words|lines|things|items|ways))",
    re.I,
)
# "I'd say it's a 7.", "That's an 8/10": only where the sentence ends after the number.
_SCORE_ITS = re.compile(
    rf"\b(?:it'?s|it[ \t]+is|this[ \t]+is|that'?s)[ \t]+(?:a|an)[ \t]+(?:solid[ \t]+|strong[ \t]+|weak[ \t]+)?"
    rf"(?P<num>\d+(?:\.\d+)?){_DENOM}(?=[ \t]*+(?:[.!,;]|$))",
    re.I | re.M,
)
# JudgeLM's pointwise shape: the first line is only the score, the explanation follows; G-Eval's
# answers to "- Coherence:" start with the score ("4 - The summary is ...").
_SCORE_FIRST_LINE = re.compile(rf"^[ \t*_]*+(?P<num>{_NUM})[ \t*_]*(?:$|[ \t]+[-–—:][ \t]+\S)")
# A one-line answer "Criterion: N" (G-Eval's "- Coherence: 4", "Fluency (1-3): 2").
_SCORE_ONE_LINE = re.compile(
    rf"^[ \t>*_#-]*+(?!.*\b(?:is|are|was|be)\b)[A-Za-z][\w-]*(?:[ \t]+[A-Za-z][\w-]*){{0,2}}[ \t]*(?:\([^()\n]{{0,12}}\))?"
    rf"[ \t*]*:[ \t*]*(?P<num>{_NUM}){_DENOM}[ \t*_.]*$", re.I)
# RewardBench's ratings prompt ("do not put any text after your final rating"): a number right
# after the last sentence, at the very end ("... lacks depth. 6").
_SCORE_TRAILING = re.compile(rf"(?<=[.!?)])[ \t]+(?P<num>{_NUM})[ \t]*+\Z")
# Alternatives are no score: "Score 3 or Score 4", "Score: 7 or 8".
_SCORE_ALTERNATIVES = re.compile(
    rf"\b(?:score|rating|grade)\b[^\n\d]{{0,12}}{_NUM}[ \t]*+\bor\b[ \t]*+(?:(?:score|rating|grade)\b[ \t:]*+)?{_NUM}",
    re.I)
SCORE_KEYS = ("score", "rating", "overall_score", "final_score", "overall_rating", "overall", "grade", "result")


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
    for start, obj in _json_objects(answer):
        vals = [v for v in _json_values(obj, SCORE_KEYS) if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
        nums = [_to_float(str(v)) for v in vals]
        nums = [n for n in nums if n is not None]
        if len(set(nums)) == 1:  # one score (or the same one restated); several different ones: no guess
            cands.append(_Cand(3, start, (nums[0], None, False)))
    for tier, pattern in ((3, _SCORE_LABELLED), (3, _SCORE_OVERALL), (3, _SCORE_HEADING), (3, _SCORE_RESULT),
                          (2, _SCORE_BRACKET), (2, _SCORE_FRACTION), (1, _SCORE_SENTENCE), (1, _SCORE_ITS)):
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
            # "1. ...\n2" is a numbered list cut off (a truncated generation), not a score
            if num is not None and num == int(num) and any(re.match(rf"[ \t]*{int(num) - 1}[.)][ \t]", ln) for ln in lines[:-1]):
                num = None
            if num is not None:
                cands.append(_Cand(1, answer.rfind(lines[-1]), (num, None, bool(m.group("pct")))))
        m = _SCORE_ONE_LINE.match(lines[0].strip())
        if m and len(lines) == 1:
            num = _to_float(m.group("num"))
            den = _to_float(m.group("den")) if m.group("den") else None
            if num is not None:
                cands.append(_Cand(1, answer.find(lines[0]), (num, den, bool(m.group("pct")))))
        m = _SCORE_FIRST_LINE.match(lines[0])
        if m and (len(lines) > 1 or m.group(0).rstrip() != m.group("num")):
            num = _to_float(m.group("num"))
            if num is not None:
                cands.append(_Cand(1, answer.find(lines[0]), (num, None, False)))
    m = _SCORE_TRAILING.search(answer.rstrip())
    if m:
        num = _to_float(m.group("num"))
        if num is not None:
            cands.append(_Cand(1, m.start("num"), (num, None, False)))
    return cands


def _blank(pattern: re.Pattern[str], text: str) -> str:
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def parse_pointwise(text: str, scale: tuple[int, int] = (1, 10), *, rescale: bool = False) -> ParseResult:
    """Parse a score on ``scale`` (inclusive) from judge output; never raises."""
    return _never_raise("pointwise", lambda: _parse_pointwise(_as_text(text), (float(scale[0]), float(scale[1])), rescale))


def _parse_pointwise(text: str, scale: tuple[float, float], rescale: bool) -> ParseResult:
    lo, hi = scale
    reasoning, norm, answer, failed = _answer_part(text, "score")
    if failed is not None:
        return failed
    answer = _blank(_SCORE_ALTERNATIVES, answer)
    best, conflict = _best(_pointwise_cands(answer), key=lambda v: (v[0], v[1], v[2]))
    if best is None:
        return _not_found("score", "scores", conflict, answer, norm, reasoning)
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
