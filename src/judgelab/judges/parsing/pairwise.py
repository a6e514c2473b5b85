"""Pairwise verdict parsing: a preference ('A', 'B' or 'tie', optional strength) from a judge's
text. The tiers, the reasoning rule and the guarantees are those of judgelab.judges.parsing (see
its docstring); this module holds the patterns in text (markers, labels, phrases, first/last-line
shapes) and the rule that picks the verdict; structured verdicts (JSON, rankings) are read by
judgelab.judges.parsing.pairwise_json.
"""

from __future__ import annotations

import re

from judgelab.judges.parsing.common import (
    _NUM,
    WEAK_TIER,
    ParseResult,
    _answer_part,
    _best,
    _Cand,
    _json_objects,
    _never_raise,
    _not_found,
    _reasoning_before,
)
from judgelab.judges.parsing.pairwise_json import _OTHER, _RESP, _TIE_WORDS, _json_pair_cands, _letter_pref, _rank_cands
from judgelab.judges.reasoning import _as_text
from judgelab.judges.types import Preference


_ARENA = re.compile(r"\[\[?[ \t]*+([AB])[ \t]*+(>>|>|=|<<|<)[ \t]*+([AB])[ \t]*+\]\]?", re.I)
_BRACKET = re.compile(r"\[\[[ \t]*+(?:" + _RESP + r"[ \t]*+)?([ABC]|tie)[ \t]*+\]\]|(?<![\w\]])\[[ \t]*+([ABC])[ \t]*+\](?![ \t]*+(?!(?:is|was|wins|won)\b)[A-Za-z(])", re.I)
_PAIR_LABEL = (
    r"(?:final[ \t]+|my[ \t]+|overall[ \t]+)?"
    r"(?:verdict|answer|final[ \t]+answer|winner|decision|choice|preference|preferred|judg(?:e)?ment|result|"
    r"better[ \t]+response|preferred[ \t]+response|best[ \t]+response|conclusion)"
)
# "Answer: A well-structured reply...", "Result: A mixed picture": the article, not a verdict (a
# lowercase word follows that is not one of the words a verdict letter is followed by).
_ARTICLE_A = (r"[ \t]+(?!(?:is|was|wins|won|because|since|as|seems|appears|did|does|has|had|better|"
              r"slightly|clearly|significantly|much|overall|for|with|due|given|by|and|but|here|again|too)\b)[a-z]")
_PAIR_LABELLED = re.compile(
    rf"\b{_PAIR_LABEL}\b[ \t*]*+(?:[:=\-–—]|\bis\b)[\s*_#>(]{{0,8}}+(?:\bis\b[ \t]*+)?(?:would[ \t]+be[ \t]*+)?"
    rf"(?:(?:a|an|it'?s|it[ \t]+is)[ \t]+)?"
    rf"(?:\[\[?[ \t]*+)?(?:{_RESP}[ \t]*+(?P<n12>[12])\b(?![.,]?\d)|(?:{_RESP}[ \t]*+)?(?:(?P<ab>(?-i:[ABC]))\b(?![ \t]*+[=<>]|'s\b|-\w|{_ARTICLE_A})|(?P<ab_l>(?-i:[abc]))\b(?=[ \t]*+(?:\]|\*|\.|$|\n))|(?P<tie>{_TIE_WORDS})\b))"
    # "Verdict: A or B", "Final verdict: A/B", "Verdict: A and B": naming both is no verdict
    rf"(?![ \t]*+(?:,|/|&|\bor\b|\band\b)[ \t]*+(?:(?:{_RESP}[ \t]*+)?(?-i:[AB])|{_RESP}[ \t]*+[12])\b)",
    re.I | re.M,
)
_PAIR_HEADING = re.compile(
    rf"^[ \t]*+#+[ \t]*+{_PAIR_LABEL}[ \t]*+:?[ \t]*+\n+[ \t>*]*(?:{_RESP}[ \t]*+)?(?P<ab>(?-i:[ABC]))\b",
    re.I | re.M,
)
_BARE_LETTER = re.compile(rf"^[ \t>*_#(\[]*(?:{_RESP}[ \t]*+)?(?P<ab>[AB])[ \t]*+[)\]*_]*[ \t]*+[.!]?[ \t]*+$", re.I)
_ADV = r"(?:(?:clearly|much|slightly|significantly|far|somewhat|marginally|overall|definitely|the|a[ \t]+bit|by[ \t]+far)[ \t]+)*"
# "Response A is better", "Assistant A's answer is slightly better", "B did a better job"
_PHRASE_BETTER = re.compile(
    rf"(?:\b{_RESP}[ \t]+(?P<n>[12])|\b(?:the[ \t]+)?(?P<ord>first|second)[ \t]+(?:response|answer|output|one|assistant)"
    rf"|(?:\b{_RESP}[ \t]+)?\b(?P<ab>(?-i:[AB])))\b(?:'s[ \t]+(?:answer|response|output|reply))?[ \t]+"
    rf"(?:(?:is|was|seems|appears)[ \t]+(?:to[ \t]+be[ \t]+)?(?P<adv>{_ADV})"
    rf"(?P<word>better|superior|preferred|preferable|stronger|the[ \t]+winner|worse|inferior|weaker)\b"
    rf"|(?:did|does|do)[ \t]+(?:a[ \t]+)?(?P<adv2>{_ADV})(?P<job>better|worse)[ \t]+job\b)",
    re.I,
)
_DEGREE = {"significantly": 1.0, "much": 1.0, "far": 1.0, "slightly": 0.5, "somewhat": 0.5, "marginally": 0.5, "bit": 0.5}
_PHRASE_PREFER = re.compile(
    rf"\bI(?:'d|[ \t]+would)?[ \t]+(?:prefer|choose|pick|select|go[ \t]+with|vote[ \t]+for)[ \t]+(?:{_RESP}[ \t]+)?"
    rf"(?P<ab>(?-i:[AB]))\b", re.I
)
_PHRASE_WINS = re.compile(rf"(?:\b{_RESP}[ \t]+)?\b(?P<ab>(?-i:[AB]))\b[ \t]+wins\b", re.I)
_PHRASE_TIE = re.compile(
    r"\b(?:it'?s[ \t]+a[ \t]+tie|(?:this|that)[ \t]+is[ \t]+a[ \t]+tie|^[ \t*_]*(?:a[ \t]+)?tie[ \t*_.!]*$|"
    r"both[ \t]+(?:responses[ \t]+|answers[ \t]+|assistants[ \t]+)?(?:are[ \t]+)?(?:about[ \t]+)?equally[ \t]+\w+|"
    rf"(?:{_RESP}[ \t]+)?(?-i:A)[ \t]+and[ \t]+(?:{_RESP}[ \t]+)?(?-i:B)[ \t]+are[ \t]+(?:about[ \t]+)?(?:equally[ \t]+\w+|equal\b|of[ \t]+equal[ \t]+quality)|"
    r"(?:they|both)[ \t]+are[ \t]+(?:equally[ \t]+good|equal(?:[ \t]+in[ \t]+quality)?|of[ \t]+equal[ \t]+quality)|"
    r"neither[ \t]+(?:response[ \t]+)?is[ \t]+better)",
    re.I | re.M,
)
_CONFIDENCE = re.compile(
    r"\bconfidence\b[\"']?[ \t*]*+(?:[:=\-]|\bis\b)?[ \t*]*+(?P<num>\d+(?:\.\d+)?)[ \t]*+(?P<pct>%)?"
    r"|\bconfidence\b[\"']?[ \t*]*+(?:[:=\-]|\bis\b)?[ \t*\"']*+(?P<word>very[ \t]+high|high|medium|moderate|low)\b",
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
_FIRST_LINE_TWO_SCORES = re.compile(rf"^[ \t]*(?P<a>{_NUM})(?:[ \t]+|[ \t]*,[ \t]*)(?P<b>{_NUM})[ \t]*$")
_PANDALM_REFERENCE = re.compile(r"^[ \t]*#{2,4}[ \t]*Reference[ \t]*:", re.I | re.M)
_PANDALM_HEADER = re.compile(r"^[ \t]*#{2,4}[ \t]*Evaluation[ \t]*:[ \t]*$", re.I)
# MT-Bench's "[[rating_a,rating_b]]" output format (FastChat llm_judge/common.py): "[[8, 6]]".
_TWO_SCORES = re.compile(rf"\[\[[ \t]*+(?P<a>{_NUM})[ \t]*+,[ \t]*+(?P<b>{_NUM})[ \t]*+\]\]")
_TIE_DELTA = 0.1  # FastChat's: score pairs closer than this are a tie
# Prometheus relative grading: "[RESULT] A", "[RESULT: B]", "[Result] Response B", "... [Response B]"
_RESULT_AB = re.compile(
    rf"\[RESULT\][ \t:]*+\(?[ \t]*+(?:{_RESP}[ \t]+)?(?P<ab>[AB])\b\)?"
    rf"|\[RESULT[ \t]*+:[ \t]*+(?:{_RESP}[ \t]+)?(?P<ab2>[AB])[ \t]*+\]"
    # "[Response B]" closing a line of feedback (not a "[Response A]" header on a line of its own)
    rf"|(?<=\S[ \t])\[(?:response|assistant)[ \t]+(?P<ab3>[AB])\][ \t.]*$",
    re.I | re.M)
# AlpacaEval's classifier prompts answer with the model identifier "m" (output_1) or "M" (output_2):
# the whole answer, or the line after "Which is best, m or M?".
_ALPACA_MM = re.compile(r"(?:\A|which[ \t]+is[ \t]+best,?[ \t]+`?m`?[ \t]+or[ \t]+`?M`?[ \t]*\??[ \t]*\n)[ \t`*]*(?P<v>m|M)[ \t`*.]*\Z", re.I)
# Naming both is no verdict: "A or B", "A/B", "Response A vs Response B", "Response 1 / Response 2".
_ALTERNATIVES = re.compile(
    rf"(?:\b{_RESP}[ \t]+)?\b(?-i:[AB])\b[ \t]*+(?:/|\bor\b|\bvs\.?|\bversus\b)[ \t]*+(?:{_RESP}[ \t]+)?(?-i:[AB])\b"
    rf"|\b{_RESP}[ \t]+[12]\b[ \t]*+(?:/|\bor\b|\bvs\.?|\bversus\b)[ \t]*+{_RESP}[ \t]+[12]\b", re.I)
# Where explicit verdicts disagree, the last one counts only when it is stated as final: its line
# (or the label line just before it) says so ("My final verdict is ...", "**Final Verdict:**",
# "In conclusion"), or it stands alone on the answer's last line, or it is structured (JSON, a
# ranking). Otherwise there is no verdict: real Arena-Hard judges mark each response in turn
# ("Evaluation of Assistant A: ... My verdict is: [[A>B]]", then "... of Assistant B: ... My
# verdict is: [[B>A]]") and the last marker is not their conclusion.
_FINAL_WORDS = re.compile(r"\b(?:final(?:ly)?|conclusion|conclude|in[ \t]+summary|ultimately|overall[ \t]+verdict)\b", re.I)
_MARKS = re.compile(r"\[\[?[^\[\]\n]{1,12}\]\]?")
_WORD_CONF = {"very high": 1.0, "high": 0.9, "medium": 0.6, "moderate": 0.6, "low": 0.3}


def _stated_as_final(answer: str, c: _Cand) -> bool:
    if c.final:
        return True
    ls = answer.rfind("\n", 0, c.start) + 1
    le = answer.find("\n", c.start)
    line = answer[ls:] if le < 0 else answer[ls:le]
    # a label on the line before ("My final verdict is:\n\nTie: [[A=B]]")
    before = answer[:ls].rstrip()
    prev = before[before.rfind("\n") + 1:]
    # "Final verdict:", "**Final Verdict:**", "### Final Verdict"
    if prev.rstrip("*_ \t").endswith(":"):
        label_line = re.split(r"[.!?][ \t]", prev)[-1]  # its last sentence: "Therefore, my final verdict is:"
    else:
        label_line = prev if prev.lstrip().startswith("#") and len(prev) <= 80 else ""
    if _FINAL_WORDS.search(line) or _FINAL_WORDS.search(label_line):
        return True
    if le >= 0 and answer[le:].strip():
        return False  # not the last line
    return not re.sub(r"[\s*_#>.!`\"'()-]", "", _MARKS.sub("", line))


def _pandalm_view(answer: str) -> str:
    """PandaLM's answer without its "### Evaluation:" header and its "### Reference:" section (a
    reference answer to the task, which may itself say "The answer is B")."""
    lines = answer.lstrip().splitlines()
    if lines and _PANDALM_HEADER.match(lines[0]):
        answer = "\n".join(lines[1:])
    first = next((ln for ln in answer.splitlines() if ln.strip()), "")
    if _FIRST_LINE_12.match(first.strip()):
        m = _PANDALM_REFERENCE.search(answer)
        if m:
            answer = answer[: m.start()]
    return answer


def _pairwise_cands(answer: str) -> list[_Cand]:
    cands: list[_Cand] = []
    for m in _TWO_SCORES.finditer(answer):
        a, b = float(m.group("a")), float(m.group("b"))
        cands.append(_Cand(3, m.start(), "tie" if abs(a - b) <= _TIE_DELTA else "A" if a > b else "B"))
    for m in _RESULT_AB.finditer(answer):
        cands.append(_Cand(3, m.start(), (m.group("ab") or m.group("ab2") or m.group("ab3")).upper()))
    for c in _rank_cands(answer):
        c.final = True
        cands.append(c)
    mm = _ALPACA_MM.search(answer.strip())
    if mm:
        cands.append(_Cand(2, len(answer), "A" if mm.group("v") == "m" else "B"))
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
        if m.group("n12"):  # Auto-J / PandaLM naming: "the final decision is Response 1"
            cands.append(_Cand(3, m.start(), "A" if m.group("n12") == "1" else "B"))
        elif letter:
            cands.append(_Cand(3, m.start(), _letter_pref(letter)))
        elif m.group("tie"):
            cands.append(_Cand(3, m.start(), "tie"))
    for m in _PAIR_HEADING.finditer(answer):
        cands.append(_Cand(3, m.start(), _letter_pref(m.group("ab"))))
    for start, obj in _json_objects(answer):
        for c in _json_pair_cands(obj, start):
            c.final = True
            cands.append(c)
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
        ab = m.group("ab") or ("A" if m.group("n") == "1" or (m.group("ord") or "").lower() == "first" else "B")
        word = (m.group("word") or m.group("job")).lower()
        worse = word in ("worse", "inferior", "weaker")
        cands.append(_Cand(1, m.start(), _OTHER[ab] if worse else ab, _degree(m.group("adv") or m.group("adv2") or "")))
    for pattern in (_PHRASE_PREFER, _PHRASE_WINS):
        for m in pattern.finditer(answer):
            cands.append(_Cand(1, m.start(), m.group("ab")))
    for m in _PHRASE_TIE.finditer(answer):
        cands.append(_Cand(1, m.start(), "tie"))
    return cands


def _degree(adv: str) -> float | None:
    """Strength stated by an adverb: "significantly/much better" 1.0, "slightly better" 0.5."""
    for w in re.findall(r"[a-z]+", adv.lower()):
        if w in _DEGREE:
            return _DEGREE[w]
    return None


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
    return _never_raise("pairwise", lambda: _parse_pairwise(_as_text(text), allow_tie))


def _parse_pairwise(text: str, allow_tie: bool) -> ParseResult:
    reasoning, norm, answer, failed = _answer_part(text, "verdict")
    if failed is not None:
        return failed
    answer = _ALTERNATIVES.sub(lambda m: " " * len(m.group(0)), _pandalm_view(answer))
    cands = _pairwise_cands(answer)
    best, conflict = _best(cands)
    if best is not None and best.tier > WEAK_TIER:
        values = {c.value for c in cands if c.tier == best.tier}
        if len(values) > 1 and not _stated_as_final(answer, best):
            return ParseResult(False, reasoning=reasoning,
                               error="no verdict found (different verdicts, the last not stated as final)")
    if best is None:
        return _not_found("verdict", "preferences", conflict, answer, norm, reasoning)
    if reasoning is None:
        reasoning = _reasoning_before(norm, best.start)
    pref: Preference = best.value
    if pref == "tie":
        if not allow_tie:
            return ParseResult(False, reasoning=reasoning, error="verdict is a tie but ties are not allowed")
        return ParseResult(True, preference="tie", reasoning=reasoning)
    strength = best.strength if best.strength is not None else _confidence(answer)
    if strength is None:
        # "Verdict: Assistant B is slightly better." -- the degree stated next to the same verdict
        degrees = [c.strength for c in cands if c.tier == 1 and c.value == pref and c.strength is not None]
        strength = degrees[-1] if degrees else None
    return ParseResult(True, preference=pref, strength=strength, reasoning=reasoning)
