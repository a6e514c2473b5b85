"""A judgelab judge as OpenRLHF's custom reward function (``--reward.remote_url /path/to/file.py``;
``--remote_rm_url`` before OpenRLHF 0.10.2).

OpenRLHF loads a ``.py`` reward URL with ``importlib.util.spec_from_file_location("reward_func",
path)``, takes its ``reward_func`` and calls ``reward_func(queries, prompts, labels)`` from a
worker thread (``asyncio.to_thread``), one sample per call (0.9+; 0.8 called it as a Ray task on
a batch):

- ``queries``: the full decoded text, prompt + response, special tokens kept
  (``tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)``);
- ``prompts``: the prompt text as the dataset gave it (chat template applied with
  ``--data.apply_chat_template``);
- ``labels``: the ``--data.label_key`` column (None without one).

The response is the query after the prompt (found verbatim; else after the last assistant-turn
marker), end-of-turn tokens stripped. The judge sees the last user turn of a chat-templated prompt
(judgelab.integrations.chat_text; ``judgelab serve --reward`` splits its queries the same way).
A label is the reference response for ``pairwise-reference``; a label that is a JSON object (or a
dict) may instead carry ``reference``, ``constraints``, ``family``, ``prompt_id``: constraints as
in a prompt set (judgelab.data.prompts.CONSTRAINT_KEYS), checked before judging, so a malformed
one is a DataError naming ``labels.{i}``, not a silent reward of 0.

Returns what OpenRLHF reads: ``{"rewards": tensor, "scores": tensor, "extra_logs": {...}}``,
rewards and scores equal, in [0, 1] (``scores`` is what ``--dynamic_filtering`` compares with its
0-1 range); ``extra_logs`` holds the judge's parse-failure rate and mean latency of the call, as
per-sample tensors (0.8 concatenates them across calls; 0.9+ takes the first element; both log
them to wandb). A verdict that fails to parse gets the unparsed reward (default 0.0), never an exception.

Which judge: ``configure()`` or the env vars ``JUDGELAB_JUDGE`` / ``JUDGELAB_REWARD_MODE`` /
``JUDGELAB_UNPARSED_REWARD`` (OpenRLHF runs under Ray: pass them with
``--runtime-env-json='{"env_vars": {...}}'``) -- see judgelab.integrations.common.

    --reward.remote_url $(python -c "import judgelab.integrations.openrlhf as m; print(m.__file__)")
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from judgelab.data.prompts import check_constraints
from judgelab.errors import ConfigError, DataError
from judgelab.integrations.chat_text import split_query
from judgelab.integrations.common import Sample, current_settings, score
from judgelab.train.reward_inputs import META_COLUMNS


def _label_fields(label: Any, i: int) -> tuple[str | None, dict[str, Any]]:
    """(reference, meta) from label ``i``; DataError naming ``labels.{i}`` for a label object whose
    fields a judge could not read (the rubric would fail every verdict on it: a reward of 0 that
    looks like a real score)."""
    if isinstance(label, str) and label.lstrip().startswith("{"):
        try:
            label = json.loads(label)
        except json.JSONDecodeError:
            return label, {}  # a reference response that happens to start with '{'
    if isinstance(label, dict):
        if isinstance(label.get("constraints"), dict):
            # A dataset's struct column (Arrow, pandas) gives every row every field, null where a prompt
            # has no such constraint: here null means absent (a prompt file still refuses a null value).
            label = {**label, "constraints": {k: v for k, v in label["constraints"].items() if v is not None}}
        _check_label(label, i)
        ref = label.get("reference")
        return ref, {k: label[k] for k in META_COLUMNS if label.get(k) is not None}
    if isinstance(label, str) and label:
        return label, {}
    return None, {}  # no label, or one judgelab has no use for (a number, a list)


def _check_label(label: dict[str, Any], i: int) -> None:
    where = f"labels.{i}"
    for key, types, desc in (("reference", (str,), "a string"), ("family", (str,), "a string"),
                             ("prompt_id", (str, int), "a string or an integer")):
        v = label.get(key)
        if v is not None and (not isinstance(v, types) or isinstance(v, bool)):
            raise DataError(f"label field {key!r} must be {desc}, got {v!r}", where=where)
    if label.get("constraints") is not None:
        check_constraints(label["constraints"], where, str(label.get("prompt_id", i)))


def samples_from(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] | None, *,
                 unwrap: bool = True) -> list[Sample]:
    """OpenRLHF's three lists -> one Sample per query (the prompt stripped from the query; the
    judge's request the prompt's last user turn, or with ``unwrap=False`` the prompt as sent).
    A malformed label object is a DataError whose ``where`` is ``labels.{i}``.
    ``judgelab serve --reward`` builds its samples here too."""
    labels = list(labels) if labels is not None else [None] * len(queries)
    if not (len(queries) == len(prompts) == len(labels)):
        raise ConfigError(f"{len(queries)} queries, {len(prompts)} prompts, {len(labels)} labels",
                          where="judgelab.integrations.openrlhf.reward_func", hint="OpenRLHF passes equal-length lists")
    out = []
    for i, (q, p, lab) in enumerate(zip(queries, prompts, labels)):
        p = p if isinstance(p, str) else str(p)
        ref, meta = _label_fields(lab, i)
        request, response = split_query(q, p, unwrap=unwrap)
        out.append(Sample(prompt=request, response=response, meta=meta, reference=ref))
    return out


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """OpenRLHF's reward function: ``{"rewards", "scores", "extra_logs"}`` for ``queries``."""
    import torch

    settings = current_settings()
    rewards, metrics = score(samples_from(queries, prompts, labels), settings)
    t = torch.tensor(rewards, dtype=torch.float)
    extra = {f"judge_{k}": torch.full_like(t, float(metrics.get(k, 0.0))) for k in ("parse_failure_rate", "latency_mean_s")}
    return {"rewards": t, "scores": t.clone(), "extra_logs": extra}
