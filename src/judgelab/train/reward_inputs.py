"""What TRL hands a reward function, read as judge inputs: the text of a prompt or completion in
TRL's plain (str) or conversational (list of messages, content parts) form, and the extra dataset
columns a judge reads (``prompt_id``, ``family``, ``constraints``: the rubric judge's ``item.meta``).

Shared by the policy reward (judgelab.train.rewards), the judge's GRPO rewards (train.judge_grpo)
and the framework adapters (judgelab.integrations). Reads and writes no files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)

# Extra dataset columns copied into item.meta (the rubric judge reads them; text judges ignore them).
META_COLUMNS = ("prompt_id", "family", "constraints")


def message_text(x: Any) -> str:
    """Text of a prompt or completion in TRL's plain (str) or conversational (list of messages) form.

    For a conversational prompt the judge sees the last user turn (the request); for a
    conversational completion, the assistant content.
    """
    if isinstance(x, str):
        return x
    if isinstance(x, dict):
        return _content_text(x.get("content", ""))
    if isinstance(x, Sequence):
        msgs = [m for m in x if isinstance(m, dict)]
        users = [m for m in msgs if m.get("role") == "user"]
        if users:
            return _content_text(users[-1].get("content", ""))
        return "\n".join(_content_text(m.get("content", "")) for m in msgs)
    return str(x)


def _content_text(c: Any) -> str:
    if isinstance(c, str):
        return c
    if isinstance(c, list):  # content blocks: [{"type": "text", "text": ...}]
        return "".join(b.get("text", "") for b in c if isinstance(b, dict))
    return str(c)


def completion_text(c: Any) -> str:
    if isinstance(c, list):
        return "".join(_content_text(m.get("content", "")) for m in c if isinstance(m, dict) and m.get("role", "assistant") == "assistant")
    return message_text(c)


def item_meta(kwargs: dict[str, Any], i: int) -> dict[str, Any]:
    """Row ``i``'s extra columns (``META_COLUMNS``) from the reward function's keyword arguments."""
    meta: dict[str, Any] = {}
    for col in META_COLUMNS:
        vals = kwargs.get(col)
        if vals is None or i >= len(vals) or vals[i] is None:
            continue
        v = vals[i]
        if col == "constraints" and isinstance(v, str):
            try:
                v = json.loads(v) if v else {}
            except json.JSONDecodeError:
                log.warning("constraints column is not JSON; passing it through as text")
        meta[col] = v
    return meta
