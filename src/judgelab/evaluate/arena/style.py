"""What style control reads of one response (as Arena-Hard-Auto v2.0, ``show_result.py``): its
length in tokens and the markdown counts of headers, list items and bold spans (code blocks
removed first, their regexes). Lengths are tokens: a tokenizer when given, else ``proxy_tokens``
(each run of word characters and each punctuation mark counts 1). Reads and writes nothing.

How the per-response features become battle-level covariates is ``battles.style_matrix``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

STYLE_FEATURES = ("length", "headers", "lists", "bold")
StyleMode = Literal["none", "length", "markdown", "both"]
# "auto": none when every referee is a rubric (a programmatic gold whose own criteria include length:
# controlling for length would remove the gold's length criterion), else both.
StyleSetting = Literal["auto", "none", "length", "markdown", "both"]


def resolve_style(style: str, judges: Any) -> StyleMode:
    """The style control an arena uses: ``style`` itself, or for "auto" none when every referee
    is a rubric judge, both otherwise."""
    if style != "auto":
        return style  # type: ignore[return-value]
    rubric = [_is_rubric(j) for j in judges]
    return "none" if rubric and all(rubric) else "both"


def _is_rubric(judge: Any) -> bool:
    """A loaded judge whose backend is the rubric, or a judge spec / config that resolves to one."""
    backend = getattr(judge, "backend", None)
    if backend is not None:
        return getattr(backend, "name", None) == "rubric" or getattr(backend, "type", None) == "rubric"
    try:
        from judgelab.judges.registry import resolve_judge_spec

        cfg = resolve_judge_spec(judge, "judge")
    except Exception:  # an unresolvable spec fails later, where it is loaded, with its own message
        return False
    return getattr(getattr(cfg, "backend", None), "type", None) == "rubric"
# the battle-level features each style mode controls for
STYLE_SETS: dict[str, tuple[str, ...]] = {"none": (), "length": ("length",), "markdown": ("headers", "lists", "bold"),
                                          "both": STYLE_FEATURES}


@dataclass(frozen=True)
class StyleFeatures:
    """What style control reads of one response (None = unknown)."""

    tokens: float | None = None
    headers: int | None = None
    lists: int | None = None
    bold: int | None = None


_CODE = re.compile(r"```([^`]*)```")
_PROXY = re.compile(r"\w+|[^\w\s]")


def proxy_tokens(text: str) -> int:
    """Token count without a tokenizer: runs of word characters plus punctuation marks."""
    return len(_PROXY.findall(text))


def count_tokens(text: str, tokenizer: Any = None) -> int:
    """Tokens of ``text``: ``tokenizer.encode`` (HF tokenizers without special tokens, tiktoken) or a
    callable returning the count; ``proxy_tokens`` when None."""
    if tokenizer is None:
        return proxy_tokens(text)
    if hasattr(tokenizer, "encode"):
        try:
            return len(tokenizer.encode(text, add_special_tokens=False))
        except TypeError:  # tiktoken's encode has no add_special_tokens
            return len(tokenizer.encode(text))
    return int(tokenizer(text))


def markdown_counts(text: str) -> tuple[int, int, int]:
    """(headers, list items, bold spans) as Arena-Hard-Auto's ``add_markdown_info`` counts them."""
    for block in _CODE.findall(text):
        text = text.replace(block, "")
    headers = sum(len(re.findall(rf"^#{{{i}}}\s", text, re.MULTILINE)) for i in range(1, 7))
    lists = len(re.findall(r"^\s*\d+\.\s", text, re.MULTILINE)) + len(re.findall(r"^\s*[-*+]\s", text, re.MULTILINE))
    bold = len(re.findall(r"\*\*[^*\n]+\*\*", text)) + len(re.findall(r"__[^_\n]+__", text))
    return headers, lists, bold


def style_features(text: str, tokenizer: Any = None, tokens: int | None = None) -> StyleFeatures:
    """Style features of one response (``tokens`` given: use that count, e.g. from generation)."""
    h, li, b = markdown_counts(text)
    return StyleFeatures(float(tokens if tokens is not None else count_tokens(text, tokenizer)), h, li, b)
