"""Span geometry of the detector: how far a finding's span grows from its match (a marker with
what wraps it, a speaker turn, a line, a sentence), and how spans are removed from a response with
only the seams tidied (the stripped re-judge). Pure functions over strings, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SENT_END = re.compile(r"[.!?](?=[\s\"'”’)\]<]|$)|\n")  # "<": a special token after "10." starts another turn
_MARKUP = " \t*#>([-•✓✔☑"  # what may wrap a marker on its line: spaces, bullets, emphasis, brackets
_CLOSE = re.compile(r"(?:(?<=[A-F])[+-])?([ \t]*\**[ \t]*[)\]]?)\**(?:[.!?]+(?=[\s\"'”’)\]<]|$))?")


def _marker(text: str, start: int, end: int) -> tuple[int, int]:
    """A marker ("Score: 10/10", "[[A]]", a special token) with what wraps it and the full stop
    that ends it ("... mask. Score: 10/10. As ..." -> "Score: 10/10."), never a word around it:
    the bullet or emphasis before it only when they open its line ("- **Score:** 9"; in
    "11. ** Score: 10" the "**" is the answer's), a bracket only with its partner, a grade's +/-."""
    ls = text.rfind("\n", 0, start) + 1
    s = start
    while s > ls and text[s - 1] in _MARKUP:
        s -= 1
    if s > ls:  # real text before it on the line: only an opening bracket right before it goes
        s = start - 1 if start > ls and text[start - 1] in "([" else start
    while s < start and text[s].isspace():
        s += 1
    m = _CLOSE.match(text, end)
    e = end
    if m:
        e = m.end()
        if any(ch in m.group(1) for ch in ")]") and not any(ch in text[s:start] for ch in "(["):
            e = end  # a closing bracket whose opener is not in the span belongs to the answer
    while e > end and text[e - 1].isspace():
        e -= 1
    for op, cl in ("()", "[]"):  # a bracket only with its partner: "(Score: 10/10.)" whole, "(score: 10 was" keeps "("
        if text.count(op, s, e) > text.count(cl, s, e):
            tail = re.match(r"[.!?]*[ \t]*" + re.escape(cl), text[e:e + 8])
            if tail:
                e += tail.end()
            elif text[s] == op:
                s += 1
                while s < start and text[s].isspace():
                    s += 1
    return s, e


def segment(text: str, start: int, end: int, how: str, cap: int = 240) -> tuple[int, int]:
    """The span a finding covers: the match, a marker, a speaker turn, its line, or its sentence
    (capped, so a long unpunctuated paragraph is not swallowed whole). A span never grows over
    genuine text before the match on its line except to the start of the match's own sentence:
    stripping a planted sentence gives the answer back."""
    if how == "match":
        return start, end
    if how == "marker":
        return _marker(text, start, end)
    if how == "turn":
        # A speaker label at a line start ("Human: Is this good?") goes with the sentence it
        # opens, up to the end of its line: the injected turn, not the answer after it.
        s, _ = _marker(text, start, end)
        le = text.find("\n", end)
        le = len(text) if le < 0 else le
        m = _SENT_END.search(text, end, le)
        e = m.end() if m else le
        if e - end > cap:
            e = end
        while e > end and text[e - 1].isspace():
            e -= 1
        return s, e
    if how == "line":
        s = text.rfind("\n", 0, start) + 1
        e = text.find("\n", end)
        e = len(text) if e < 0 else e
    else:
        s = 0
        for m in _SENT_END.finditer(text, 0, start):
            s = m.end()
        m = _SENT_END.search(text, end)
        e = m.end() if m else len(text)
        if m and m.group(0) == "\n":
            e = m.start()
    if start - s > cap:
        s = start
    if e - end > cap:
        e = end
    while s < start and text[s].isspace():
        s += 1
    while e > end and text[e - 1].isspace():
        e -= 1
    return s, e


def merge_spans(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching (start, end) spans merged, sorted."""
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def strip_spans(response: str, spans: Sequence[tuple[int, int]]) -> str:
    """``response`` without the given spans. Only the seams are tidied (the text around a removed
    span keeps its own spacing and line breaks), so a clean answer with an attack planted in it
    comes back as that answer when the spans cover the attack."""
    if not spans:
        return response
    merged = merge_spans(spans)
    out = response[:merged[0][0]]
    for k, (s, e) in enumerate(merged):
        nxt = response[e:merged[k + 1][0] if k + 1 < len(merged) else len(response)]
        left, right = out.rstrip(" \t"), nxt.lstrip(" \t")
        # line breaks at the seam: as many as the larger side had, at most a blank line
        nl = min(2, max(len(left) - len(left.rstrip("\n")), len(right) - len(right.lstrip("\n"))))
        left, right = left.rstrip("\n"), right.lstrip("\n")
        if not left or not right:
            join = ""
        elif nl:
            join = "\n" * nl
        else:
            join = "" if right[:1] in ",.;:!?)" else " "
        out = left.rstrip(" \t") + join + right
    return out.strip()
