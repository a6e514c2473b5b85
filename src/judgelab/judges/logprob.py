"""Logprob verdicts: read a judge's verdict from the probabilities of its verdict token instead of
from its text (G-Eval, Liu et al. 2023; AlpacaEval's ``logprob_parser``).

A judge configured with ``verdict_from: logprobs`` asks its backend for each generated token's
logprob and top alternatives (``SamplingParams.top_logprobs``; the local transformers backend and
OpenAI-compatible servers that return ``logprobs``, such as vLLM, OpenAI and ``judgelab serve``).
This module then finds the *verdict position* -- the token where the verdict is emitted after its
marker -- and reads the distribution there:

- pointwise: the score token after the last ``Score:`` / ``Rating:`` / ``[RESULT]`` / ``[[``
  marker (or, with no marker, a score as the answer's first token, as G-Eval's "- Coherence:"
  prompts are answered). Every alternative at that position that is a score on the judge's scale
  gets its probability; they are renormalised over the valid score tokens and the verdict's
  ``score`` is the expectation, sum(s * p(s)). A two-digit "10" written as the tokens "1" "0"
  (tokenizers that split digits) is handled where it can be: when "1" is the emitted token, the
  next position says how much of its mass continued to "10". When "1" is only an alternative
  and no single "10" token is offered, its continuation is unknown (P("1") = P(1) + P(10)): it is
  dropped when under 5% of the valid mass, else the reading is ``parsed=False`` (counting it as 1
  would read a judge torn between 9 and 10 as a 5).
- pairwise: the verdict letter after the last ``[[`` / ``[`` / ``Verdict:`` / ``Winner:`` /
  ``[RESULT]`` marker (or the answer's first token): renormalised over A, B and (when ties are
  allowed) C / "tie"; or AlpacaEval's ``m`` / ``M`` where the judge answered with one of those. The verdict carries ``p_a`` = P(A) + P(tie) / 2, the expected outcome of A
  (smooth, for rewards), ``preference`` = the most likely option and ``strength`` = its probability.

Only text outside reasoning blocks counts (the verdict after ``</think>``), as in the text parsers.
No verdict position, or no valid option among the alternatives there, is ``parsed=False`` with the
reason. ``LogprobReading.emitted`` is the option the judge actually wrote at the position; the
judge (judgelab.judges.llm) accepts a reading only where the text parser finds the same verdict in
the text, so a number that merely starts the answer ("1. Keep a fixed wake-up time") or an echoed
"[Response A]" header is never read as a verdict. Five-level Arena labels (``[[A>>B]]``) have no single
verdict token, so they are not read here (the text parser reads them).

Pure functions over ``judgelab.lm.types.TokenLogprob`` lists; they read and write nothing.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from typing import Any

from judgelab.lm.types import TokenLogprob

_CLOSE_THINK = re.compile(r"<\s*/\s*(?:think|thinking|reasoning)\s*>", re.I)
_OPEN_THINK = re.compile(r"<\s*(?:think|thinking|reasoning)\s*>", re.I)
# Markers after which the verdict token comes; the verdict is the first score/letter token that
# starts within a few characters after the marker's end.
_SCORE_MARKER = re.compile(
    r"(?:\b(?:final[ \t]+)?(?:score|rating|grade|result)\b[ \t*]*(?:\([^()\n]{0,12}\))?[ \t*]*[:=]?|\[(?:RESULT|SCORE)\][ \t:]*|\[\[)",
    re.I)
_PAIR_MARKER = re.compile(
    r"(?:\b(?:final[ \t]+)?(?:verdict|winner|answer|decision|choice|result)\b[ \t*]*[:=]|\[RESULT\][ \t:]*|\[\[?)", re.I)
_MAX_MARKERS = 64
_MAX_GAP = 12  # characters allowed between a marker's end and the verdict token (spaces, '**', '[[')
_SCORE_TOKEN = re.compile(r"[\s\[\]*:(\"'`_]*(\d{1,2})[\s\]*).\"'`_,]*")
_LETTER_TOKEN = re.compile(r"[\s\[\]*:(\"'`_]*(A|B|C|tie|Tie|TIE|m|M)[\s\]*).\"'`_,]*")
# AlpacaEval's classifier prompts name the outputs "m" (output_1) and "M" (output_2); those count
# only where the judge wrote one of them (its logprob_parser: P(m) / (P(m) + P(M))).
_ALPACA_IDS = {"m": "A", "M": "B"}
# Largest share of the valid mass an ambiguous "1" (1 or the first digit of 10) may have and be dropped.
_AMBIGUOUS_MAX = 0.05


@dataclass
class LogprobReading:
    """What the verdict token's distribution says. ``probs``: the renormalised distribution over
    the valid options (score values as strings, or "A"/"B"/"tie"); ``mass``: their total
    probability before renormalising (how much of the judge's belief went to a valid verdict)."""

    parsed: bool
    score: float | None = None
    preference: str | None = None
    strength: float | None = None
    p_a: float | None = None
    probs: dict[str, float] = field(default_factory=dict)
    mass: float = 0.0
    position: int | None = None
    emitted: str | None = None  # the option the judge actually wrote there ("7", "10", "A", "tie")
    error: str | None = None


def _offsets(tokens: list[TokenLogprob]) -> tuple[str, list[int]]:
    """The text the tokens spell and each token's start offset in it."""
    starts, pos = [], 0
    for t in tokens:
        starts.append(pos)
        pos += len(t.token)
    return "".join(t.token for t in tokens), starts


def _answer_start(text: str) -> tuple[int, str | None]:
    """Offset where the answer (outside reasoning) begins, or an error for an unterminated block."""
    closes = list(_CLOSE_THINK.finditer(text))
    opens = list(_OPEN_THINK.finditer(text))
    last_close = closes[-1].end() if closes else 0
    if opens and opens[-1].start() >= last_close:
        return -1, "unterminated <think> block: no verdict after it"
    return last_close, None


def _alternatives(tok: TokenLogprob) -> dict[str, float]:
    """Token text -> logprob at this position: the top alternatives plus the emitted token (values
    that are not finite logprobs -- NaN, +inf, > 0 from a faulty backend -- are left out)."""
    alts: dict[str, float] = {}
    for t, lp in tok.top:
        if isinstance(lp, (int, float)) and math.isfinite(lp) and lp <= 0:
            # two token ids may decode to the same text (SentencePiece "7" and "▁7"): their
            # probabilities add up; a later (less likely) one must not replace an earlier one
            alts[t] = float(lp) if t not in alts else math.log(math.exp(alts[t]) + math.exp(lp))
    if isinstance(tok.logprob, (int, float)) and math.isfinite(tok.logprob) and tok.logprob <= 0:
        alts.setdefault(tok.token, tok.logprob)
    return alts


_FILLER = re.compile(r"[\s\[*:(\"'`_#>-]*")
_RESP_FILLER = re.compile(r"[\s\[*:(\"'`_#>-]*(?:response|assistant|output|answer|model|option)?[\s*]*", re.I)


def _position(tokens: list[TokenLogprob], marker: re.Pattern[str], valid: re.Pattern[str],
              filler: re.Pattern[str] = _FILLER) -> tuple[int | None, str | None]:
    """Index of the verdict token: the first token matching ``valid`` after the last marker in
    the answer that is followed by one (only filler -- spaces, '**', '[[' -- in between, at most
    _MAX_GAP characters); with no marker, the answer's first non-filler token if it matches."""
    text, starts = _offsets(tokens)
    begin, err = _answer_start(text)
    if err:
        return None, err
    marks = list(marker.finditer(text, begin))[-_MAX_MARKERS:]  # verdicts come last; bounds the work
    ends = [m.end() for m in reversed(marks)] if marks else [begin]
    tok_ends = [st + len(t.token) for st, t in zip(starts, tokens)]
    for end in ends:
        i = bisect.bisect_right(tok_ends, end)  # the first token reaching past the marker
        while i < len(tokens) and starts[i] < end + _MAX_GAP:
            if valid.fullmatch(tokens[i].token):
                return i, None
            if not filler.fullmatch(tokens[i].token):
                break  # something else comes first: no verdict token after this marker
            i += 1
    what = ("no verdict marker is followed by a verdict token" if marks
            else "no verdict marker, and the answer does not start with a verdict token")
    return None, f"no verdict position in the logprobs: {what}"


def read_score(tokens: list[TokenLogprob] | None, scale: tuple[float, float]) -> LogprobReading:
    """Expected score over the score token's probabilities (G-Eval); never raises."""
    try:
        return _read_score(tokens, (int(scale[0]), int(scale[1])))
    except Exception as e:  # noqa: BLE001 - a reader bug must not kill a training run
        return LogprobReading(False, error=f"logprob reader error: {type(e).__name__}: {e}")


def _read_score(tokens: list[TokenLogprob] | None, scale: tuple[int, int]) -> LogprobReading:
    if not tokens:
        return LogprobReading(False, error="the backend returned no logprobs")
    lo, hi = scale
    i, err = _position(tokens, _SCORE_MARKER, _SCORE_TOKEN)
    if i is None:
        return LogprobReading(False, error=err)
    probs: dict[int, float] = {}
    split_ten = hi >= 10 and 1 >= lo
    for text, lp in _alternatives(tokens[i]).items():
        m = _SCORE_TOKEN.fullmatch(text)
        if m is None or not math.isfinite(lp):
            continue
        v = int(m.group(1))
        if lo <= v <= hi:
            probs[v] = probs.get(v, 0.0) + math.exp(lp)
    emitted = _SCORE_TOKEN.fullmatch(tokens[i].token)
    wrote = emitted.group(1) if emitted else None
    if wrote == "1" and i + 1 < len(tokens) and tokens[i + 1].token.startswith("0"):
        wrote = "10"
    if split_ten and 1 in probs and emitted and emitted.group(1) == "1" and i + 1 < len(tokens):
        # "10" spelled "1" "0": the next position says how much of "1"'s mass continued with "0".
        p0 = sum(math.exp(lp) for t, lp in _alternatives(tokens[i + 1]).items() if t.startswith("0"))
        p0 = min(max(p0, 0.0), 1.0)
        probs[10] = probs.get(10, 0.0) + probs[1] * p0
        probs[1] *= 1.0 - p0
    elif split_ten and 1 in probs and 10 not in probs:
        # "1" is only an alternative and no single "10" token was offered: a tokenizer that splits
        # digits (SmolLM2, Qwen, Llama 2, Mistral), so P("1") is P(1) + P(10) in unknown shares.
        # Counting it as 1 turns a 9-or-10 judge into a 5; drop it when small, else no reading.
        ambiguous = probs.pop(1)
        if ambiguous > _AMBIGUOUS_MAX * (ambiguous + sum(probs.values())):
            return LogprobReading(False, position=i, emitted=wrote, error=(
                f"P('1') = {ambiguous:.2f} at the verdict position is 1 or the start of 10 (this tokenizer splits "
                f"digits); use a scale within 0-9 (e.g. 1-5) for logprob verdicts with it"))
    mass = sum(probs.values())
    if not mass > 0:
        return LogprobReading(False, position=i, emitted=wrote,
                              error=f"no score on the scale {lo}-{hi} among the alternatives at the verdict position")
    dist = {str(k): v / mass for k, v in sorted(probs.items())}
    score = sum(int(k) * p for k, p in dist.items())
    return LogprobReading(True, score=min(max(score, lo), hi), probs=dist, mass=mass, position=i, emitted=wrote)


def read_preference(tokens: list[TokenLogprob] | None, allow_tie: bool = True) -> LogprobReading:
    """P(A) from the verdict letter's probabilities; never raises."""
    try:
        return _read_preference(tokens, allow_tie)
    except Exception as e:  # noqa: BLE001
        return LogprobReading(False, error=f"logprob reader error: {type(e).__name__}: {e}")


def _read_preference(tokens: list[TokenLogprob] | None, allow_tie: bool) -> LogprobReading:
    if not tokens:
        return LogprobReading(False, error="the backend returned no logprobs")
    i, err = _position(tokens, _PAIR_MARKER, _LETTER_TOKEN, _RESP_FILLER)
    if i is None:
        return LogprobReading(False, error=err)
    text, starts = _offsets(tokens)
    after = text[starts[i] + len(tokens[i].token):].lstrip()
    if after[:1] in (">", "<", "="):
        return LogprobReading(False, position=i, error="a five-level Arena label ([[A>>B]]...) has no single verdict "
                              "token; use a template answered with [[A]] / [[B]] / [[C]] for logprob verdicts")
    em = _LETTER_TOKEN.fullmatch(tokens[i].token)
    alpaca = bool(em) and em.group(1) in _ALPACA_IDS  # type: ignore[union-attr]

    def option(letter: str) -> str | None:
        if (letter in _ALPACA_IDS) != alpaca:
            return None  # the other naming scheme: not an answer to this prompt
        return _ALPACA_IDS.get(letter) or {"A": "A", "B": "B"}.get(letter, "tie")

    wrote = option(em.group(1)) if em else None
    probs: dict[str, float] = {}
    for t, lp in _alternatives(tokens[i]).items():
        m = _LETTER_TOKEN.fullmatch(t)
        if m is None or not math.isfinite(lp):
            continue
        opt = option(m.group(1))
        if opt is None:
            continue
        if opt == "tie" and not allow_tie:
            continue
        probs[opt] = probs.get(opt, 0.0) + math.exp(lp)
    mass = sum(probs.values())
    if not mass > 0:
        return LogprobReading(False, position=i, emitted=wrote, error="no verdict option among the alternatives at the verdict position")
    dist = {k: probs.get(k, 0.0) / mass for k in (("A", "B", "tie") if allow_tie else ("A", "B"))}
    p_a = dist["A"] + 0.5 * dist.get("tie", 0.0)
    pref = max(dist, key=lambda k: dist[k])
    return LogprobReading(True, preference=pref, strength=dist[pref], p_a=p_a, probs=dist, mass=mass, position=i,
                          emitted=wrote)


def verdict_schema(mode: str, scale: tuple[int, int], allow_tie: bool) -> dict[str, Any]:
    """OpenAI ``response_format`` asking for a JSON verdict whose keys the text parsers read
    (``score`` / ``winner``, see judgelab.judges.parsing), with a short reasoning first."""
    if mode == "pointwise":
        props: dict[str, Any] = {"score": {"type": "integer", "minimum": scale[0], "maximum": scale[1]}}
        key = "score"
    else:
        props = {"winner": {"type": "string", "enum": ["A", "B", "tie"] if allow_tie else ["A", "B"]}}
        key = "winner"
    schema = {
        "type": "object",
        "properties": {"reasoning": {"type": "string"}, **props},
        "required": ["reasoning", key],
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": f"{mode}_verdict", "schema": schema, "strict": True}}
