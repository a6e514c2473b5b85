"""The evaluation records, by name: what ``judgelab evaluate`` writes is what the instrument check,
the adversarial analysis and the report read, through these functions only.

- ``eval/policies/<policy>.json`` (schema ``judgelab.policy_eval/v2``, written through
  judgelab.evaluate.policies.results.PolicyEvalResult): one policy's gold monitoring —
  ``policy``, ``role``, ``proxy_judge``, ``gold_judge``, ``gold_scale``,
  ``reward_mode``, ``tournament``, ``base_model``, ``prompts``, ``decodings``,
  ``samples_per_prompt``, ``rows`` (one per checkpoint: ``step``, ``checkpoint``, ``decoding``,
  ``n_prompts``, ``n``, ``gold_score_mean`` / ``_ci``, ``gold_score_norm`` / ``_ci``,
  ``gold_gain`` / ``_ci``, ``gold_win_rate`` / ``_ci``, ``length_tokens_mean``,
  ``length_chars_mean``, ``gold_parse_failure_rate``, ``proxy_score`` / ``_ci``,
  ``proxy_parse_failure_rate``, ``other_judges``, ``by_decoding``) and ``hacking`` (the flag).
- ``eval/policies/<policy>/samples-step-N.jsonl``: one row per completion (EVAL_SAMPLE_FIELDS),
  scored in place by evaluation (``gold_score``; ``proxy_score`` on the primary decoding).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from judgelab.data.jsonl import iter_jsonl, write_jsonl
from judgelab.data.rundir import RunDir

log = logging.getLogger(__name__)

POLICY_EVAL_SCHEMA = "judgelab.policy_eval/v2"

EVAL_SAMPLE_FIELDS = ("prompt_id", "prompt", "family", "constraints", "decoding", "sample_index", "response",
                      "completion_tokens", "error", "gold_score", "proxy_score")


def read_policy_evals(rd: RunDir) -> dict[str, dict[str, Any]]:
    """Every policy evaluation of the run, by policy name. Unreadable files and other schemas
    are skipped with a warning (a file without a schema is taken as the current one)."""
    out: dict[str, dict[str, Any]] = {}
    for f in rd.policy_evals():
        try:
            d = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("skipping unreadable %s: %s", f, exc)
            continue
        if not isinstance(d, dict) or not isinstance(d.get("rows"), list):
            log.warning("skipping %s: not a policy evaluation", f)
            continue
        if d.get("schema", POLICY_EVAL_SCHEMA) != POLICY_EVAL_SCHEMA:
            log.warning("skipping %s: schema %r, this judgelab reads %r (re-run judgelab evaluate)", f,
                        d.get("schema"), POLICY_EVAL_SCHEMA)
            continue
        out[d.get("policy", f.stem)] = d
    return out


def read_eval_samples(rd: RunDir, policy: str, step: int) -> list[dict[str, Any]]:
    """The scored samples of one checkpoint ([] when not evaluated)."""
    path = rd.eval_samples(policy, step)
    return [s for _, s in iter_jsonl(path)] if path.exists() else []


def write_eval_samples(rd: RunDir, policy: str, step: int, samples: list[dict[str, Any]]) -> Path:
    path = rd.eval_samples(policy, step)
    write_jsonl(path, samples)
    return path
