"""Reasoning blocks of a judge's output: the text inside ``<think>...</think>`` (also
``<thinking>`` / ``<reasoning>``, several blocks, an orphan ``</think>`` whose opening tag was in
the prompt, an unterminated block) is the reasoning; the rest is the answer the verdict parsers
(judgelab.judges.parsing) search, so a verdict mentioned while thinking never counts.
"""

from __future__ import annotations

import re
from typing import Any


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
