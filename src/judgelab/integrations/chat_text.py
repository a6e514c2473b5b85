"""Decoded RL-framework text -> what a judge sees: the request (the last user turn of a
chat-templated prompt) and the response (the query after its prompt, end-of-turn tokens removed).

The one home of this split: the OpenRLHF adapter (judgelab.integrations.openrlhf), verl's
(judgelab.integrations.verl, the request only) and ``judgelab serve --reward``'s ``/get_reward``
(judgelab.serve.reward) all call it, so one judge gives one query the same reward in process and
over HTTP. Five template families are recognised (ChatML, Llama 3, Gemma, Phi-3/Zephyr, Llama 2/
Mistral). Pure string functions: reads and writes nothing.
"""

from __future__ import annotations

import bisect
import logging
import re

log = logging.getLogger(__name__)

# The last user turn of a chat-templated prompt, for the common template families: (where a user
# turn's text starts, where it ends). Matched separately (a lazy ``start(.*?)end`` over the whole
# text is quadratic on a prompt repeating the start marker without an end marker).
_USER_TURN = [
    (re.compile(r"<\|im_start\|>user\s*\n"), re.compile(r"<\|im_end\|>")),  # ChatML (Qwen, SmolLM2)
    (re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\s*"), re.compile(r"<\|eot_id\|>")),  # Llama 3
    (re.compile(r"<start_of_turn>user\s*\n"), re.compile(r"<end_of_turn>")),  # Gemma
    (re.compile(r"<\|user\|>\s*"), re.compile(r"<\|end\|>|</s>|<\|assistant\|>")),  # Phi-3, Zephyr
    (re.compile(r"\[INST\]"), re.compile(r"\[/INST\]")),  # Llama 2, Mistral
]
# Where the assistant's turn starts, when the prompt text cannot be found verbatim in the query.
_ASSISTANT_START = [
    re.compile(r"<\|im_start\|>assistant\s*\n"),
    re.compile(r"<\|start_header_id\|>assistant<\|end_header_id\|>\s*"),
    re.compile(r"<start_of_turn>model\s*\n"),
    re.compile(r"<\|assistant\|>\s*"),
    re.compile(r"\[/INST\]"),
]
# One end-of-turn / end-of-text marker a decode with skip_special_tokens=False leaves at the end
# (DeepSeek's are written with full-width bars: <｜end▁of▁sentence｜>). Matched only against the
# last _MARKER_SPAN characters, so peeling markers off the end stays linear in the text.
_TRAILING_MARKER = re.compile(r"(?:<\|[A-Za-z0-9_]{1,40}\|>|<｜[^｜<>]{1,40}｜>|</s>|<eos>|<end_of_turn>|<pad>)\Z")
_MARKER_SPAN = 48  # the longest marker above is 44 characters


def _last_turn(text: str, start: re.Pattern[str], end: re.Pattern[str]) -> str | None:
    """The text of the last ``start ... end`` turn, turns taken left to right without overlap (what
    ``re.findall(start + "(.*?)" + end)`` gives, in linear time), or None without one."""
    starts = [(m.start(), m.end()) for m in start.finditer(text)]
    ends = [(m.start(), m.end()) for m in end.finditer(text)]
    end_at = [a for a, _ in ends]
    last, pos = None, 0
    i = bisect.bisect_left(starts, (pos, -1))
    while i < len(starts):
        body = starts[i][1]
        j = bisect.bisect_left(end_at, body)
        if j == len(ends):
            break  # no end marker after this start, so none after any later one either
        last, pos = text[body:end_at[j]], ends[j][1]
        i = bisect.bisect_left(starts, (pos, -1))
    return last


def user_request(prompt: str) -> str:
    """The request the judge should see: the last user turn of a chat-templated prompt, else the
    prompt itself."""
    for start, end in _USER_TURN:
        turn = _last_turn(prompt, start, end)
        if turn is not None:
            return turn.strip()
    return prompt.strip()


def _rstrip_to(text: str, end: int) -> int:
    while end > 0 and text[end - 1].isspace():
        end -= 1
    return end


def strip_trailing_special(text: str) -> str:
    """``text`` without the end markers at its end (and the whitespace around them); unchanged,
    trailing whitespace included, when it does not end with a marker."""
    end, cut = len(text), None
    while True:
        at = _rstrip_to(text, end)
        m = _TRAILING_MARKER.search(text, max(0, at - _MARKER_SPAN), at)
        if m is None:
            break
        end = cut = m.start()
    return text if cut is None else text[:_rstrip_to(text, cut)]


def response_after_prompt(query: str, prompt: str) -> str:
    """The response part of ``query`` (prompt + response as one decoded text).

    The prompt is found verbatim (normally at the start); failing that (a decode that does not
    round-trip the prompt exactly, a truncated prompt), the text after the last assistant-turn
    marker; failing that, the whole query (logged, since the judge then sees the prompt too).
    """
    if prompt:
        k = query.find(prompt)
        if k >= 0:
            return strip_trailing_special(query[k + len(prompt):]).strip()
    ends = [m.end() for pat in _ASSISTANT_START for m in pat.finditer(query)]
    if ends:
        return strip_trailing_special(query[max(ends):]).strip()
    log.warning("reward: prompt not found in the query text; judging the whole query as the response")
    return strip_trailing_special(query).strip()


def split_query(query: str, prompt: str, *, unwrap: bool = True) -> tuple[str, str]:
    """OpenRLHF's ``query`` (prompt + response, decoded) and ``prompt`` -> (request, response) for
    the judge. ``unwrap=False`` keeps the prompt as sent instead of its last user turn."""
    return (user_request(prompt) if unwrap else prompt), response_after_prompt(query, prompt)
