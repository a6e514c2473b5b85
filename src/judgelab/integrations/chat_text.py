"""Decoded RL-framework text -> what a judge sees: the request (the last user turn of a
chat-templated prompt) and the response (the query after its prompt, end-of-turn tokens removed).

The one home of this split: the OpenRLHF adapter (judgelab.integrations.openrlhf), verl's
(judgelab.integrations.verl, the request only) and ``judgelab serve --reward``'s ``/get_reward``
(judgelab.serve.reward) all call it, so one judge gives one query the same reward in process and
over HTTP. Five template families are recognised (ChatML, Llama 3, Gemma, Phi-3/Zephyr, Llama 2/
Mistral). Pure string functions: reads and writes nothing.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

# The last user turn of a chat-templated prompt, for the common template families.
_USER_TURN = [
    re.compile(r"<\|im_start\|>user\s*\n(.*?)<\|im_end\|>", re.S),  # ChatML (Qwen, SmolLM2)
    re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\s*(.*?)<\|eot_id\|>", re.S),  # Llama 3
    re.compile(r"<start_of_turn>user\s*\n(.*?)<end_of_turn>", re.S),  # Gemma
    re.compile(r"<\|user\|>\s*(.*?)(?:<\|end\|>|</s>|<\|assistant\|>)", re.S),  # Phi-3, Zephyr
    re.compile(r"\[INST\](.*?)\[/INST\]", re.S),  # Llama 2, Mistral
]
# Where the assistant's turn starts, when the prompt text cannot be found verbatim in the query.
_ASSISTANT_START = [
    re.compile(r"<\|im_start\|>assistant\s*\n"),
    re.compile(r"<\|start_header_id\|>assistant<\|end_header_id\|>\s*"),
    re.compile(r"<start_of_turn>model\s*\n"),
    re.compile(r"<\|assistant\|>\s*"),
    re.compile(r"\[/INST\]"),
]
# End-of-turn / end-of-text markers a decode with skip_special_tokens=False leaves at the end
# (DeepSeek's are written with full-width bars: <｜end▁of▁sentence｜>).
_TRAILING_SPECIAL = re.compile(
    r"(?:\s*(?:<\|[A-Za-z0-9_]{1,40}\|>|<｜[^｜<>]{1,40}｜>|</s>|<eos>|<end_of_turn>|<pad>))+\s*$")


def user_request(prompt: str) -> str:
    """The request the judge should see: the last user turn of a chat-templated prompt, else the
    prompt itself."""
    for pat in _USER_TURN:
        turns = pat.findall(prompt)
        if turns:
            return turns[-1].strip()
    return prompt.strip()


def strip_trailing_special(text: str) -> str:
    return _TRAILING_SPECIAL.sub("", text)


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
