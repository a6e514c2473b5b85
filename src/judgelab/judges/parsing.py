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
     JSON verdicts (fenced or bare: ``{"winner": "A"}``, ``"preference": "Response B"``,
     ``"verdict": "tie"``, ``model_a``...; conflicting keys are no verdict), a line that is only an
     Arena verdict without brackets (``A>>B``, ``My final verdict is: B>A``), ``Output (a)``;
  2. a final line that is only a letter (``A``, ``**B**``, ``(A).``); PandaLM's first line
     ``1`` / ``2`` / ``Tie`` followed by its reason; JudgeLM's first line of two scores (``8 9``);
  1. phrases: ``Response A is better``, ``I prefer B``, ``B wins``, ``both are equally good``,
     ``it's a tie``, ``A is worse`` (-> B).
  ``strength`` is 1.0 for ``>>``, 0.5 for ``>``, or a stated ``Confidence: 0.8`` / ``80%``;
  None when the model states nothing (and for ties).

Pointwise
  3. labelled scores: ``Score: 7``, ``**Rating:** 8.5``, ``Final score: [[6]]``,
     ``Score: 7/10``, ``Rating - 4 out of 5``, ``Score: seven``; Prometheus ``[RESULT] 4``; JSON
     (``{"score": 7}``, ``"rating"``, ``"overall_score"``..., nested too; several different scores
     are no score);
  2. unlabelled fractions and MT-Bench brackets: ``7/10``, ``7 out of 10``, ``[[7]]``;
  1. a final line that is only a number (``7``, ``**7**``, ``7.``); score sentences
     (``I would rate this a 7``, ``I'd give it an 8``, ``it deserves a 6``).

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

from judgelab.judges.parsing_common import (  # noqa: F401 (ParseResult re-exported)
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
from judgelab.judges.parsing_pairwise import parse_pairwise  # noqa: F401 (re-exported)
from judgelab.judges.reasoning import split_reasoning  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- pointwise

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
# Prometheus: "Feedback: ... [RESULT] 4"
_SCORE_RESULT = re.compile(rf"\[RESULT\][ \t:]*+\[?[ \t]*+(?P<num>{_NUM})[ \t]*+\]?{_DENOM}", re.I)
# Everyday English: "I would rate this response a 7", "I'd give it an 8.", "it deserves a 6"
_SCORE_SENTENCE = re.compile(
    rf"\b(?:rate|rated|rating|give|giving|gave|deserves?|award|assign|score)\b[ \t]+(?:it|this|the[ \t]+\w+|this[ \t]+\w+)?[ \t]*+"
    rf"(?:(?:a|an|at)[ \t]+)?(?:solid[ \t]+|strong[ \t]+|low[ \t]+|high[ \t]+)?(?P<num>{_NUM}|{_WORDNUM}){_DENOM}{_NOT_RANGE}"
    rf"(?![ \t]*+(?:points?[ \t]+(?:for|in|on)|of[ \t]+the|reasons?|times|words|lines|things|items|ways))",
    re.I,
)
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
    for tier, pattern in ((3, _SCORE_LABELLED), (3, _SCORE_HEADING), (3, _SCORE_RESULT), (2, _SCORE_BRACKET),
                          (2, _SCORE_FRACTION), (1, _SCORE_SENTENCE)):
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
