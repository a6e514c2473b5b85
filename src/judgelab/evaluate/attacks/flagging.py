"""The detector over rows of responses: flagged rate with a 95% CI clustered by prompt, share per
kind, flagged examples; per policy, over every evaluated checkpoint (``flagged_over_training``).

Rates get the union of the bootstrap clustered by prompt and the Wilson interval with n = the
number of prompts (``rate_ci``; see analysis.py). Reads a run's evaluation samples
(judgelab.evaluate.records); writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from judgelab.data.rundir import RunDir
from judgelab.evaluate.attacks.config import AttacksConfig
from judgelab.evaluate.attacks.detector import detect, flagged
from judgelab.evaluate.attacks.findings import KINDS, Finding
from judgelab.evaluate.records import read_eval_samples, read_policy_evals
from judgelab.evaluate.stats import bootstrap_cluster_mean_ci, mean_or_none


def flags_of(text: str, prompt: str | None, config: AttacksConfig) -> list[Finding]:
    """The flagged findings of ``text`` at the config's threshold (the prompt as context where the config says)."""
    return flagged(detect(text, prompt if config.use_prompt else None), config.threshold)


def wilson_ci(k: float, n: int, z: float = 1.959964) -> list[float]:
    """Wilson score interval of a proportion k/n (95% by default); not degenerate at 0 or n."""
    if n <= 0:
        return [0.0, 1.0]
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    return [0.0 if k <= 0 else lo, 1.0 if k >= n else hi]  # exact at the ends (no 0.9999999)


def rate_ci(groups: Sequence[Sequence[float]], config: AttacksConfig) -> list[float] | None:
    """95% CI of a rate of 0/1 values grouped by prompt: the union of the bootstrap clustered by
    prompt and the Wilson interval with n = the number of prompts (the clusters: conservative, as the
    k samples of a prompt are not independent) at the same rate. The bootstrap alone collapses near
    0 and 1 ([0, 0] when every value is 0; [0, 0.03] with one success in 100, narrower than with none);
    Wilson keeps the interval honest and monotone there, and the bootstrap's width wins elsewhere."""
    gs = [g for g in groups if len(g)]
    vals = [v for g in gs for v in g]
    if not vals:
        return None
    rate = sum(vals) / len(vals)
    w = wilson_ci(rate * len(gs), len(gs))
    if all(v == vals[0] for v in vals) and vals[0] in (0.0, 1.0):
        return w
    b = bootstrap_cluster_mean_ci(gs, config.bootstrap, 0.05, config.seed)
    return [min(b[0], w[0]), max(b[1], w[1])]


def flag_rows(rows: Sequence[dict[str, Any]], config: AttacksConfig, *, text_key: str = "response") -> dict[str, Any]:
    """Flagged rate of ``rows`` (prompt_id, prompt, response) with a CI clustered by prompt, per kind too."""
    per_prompt: dict[str, list[float]] = defaultdict(list)
    per_kind: dict[str, list[float]] = {k: [] for k in KINDS}
    examples = []
    for r in rows:
        text = r.get(text_key) or ""
        fs = flags_of(text, r.get("prompt"), config)
        per_prompt[str(r.get("prompt_id"))].append(1.0 if fs else 0.0)
        kinds = {f.kind for f in fs}
        for k in KINDS:
            per_kind[k].append(1.0 if k in kinds else 0.0)
        if fs:
            examples.append({"prompt_id": r.get("prompt_id"), "response": text,
                             "findings": [{"kind": f.kind, "start": f.start, "end": f.end, "confidence": f.confidence,
                                           "rule": f.rule} for f in fs]})
    vals = [v for vs in per_prompt.values() for v in vs]
    return {
        "n": len(vals), "n_prompts": len(per_prompt), "flagged_rate": mean_or_none(vals),
        "flagged_rate_ci": rate_ci(list(per_prompt.values()), config),
        "by_kind": {k: mean_or_none(v) for k, v in per_kind.items()},
        "examples": examples[:config.examples],
    }


def primary_samples(samples: list[dict[str, Any]], row: dict[str, Any]) -> list[dict[str, Any]]:
    """The samples of the row's primary decoding (what the proxy saw in training; all samples
    when the row does not name one), without failed generations."""
    d = row.get("decoding")
    return [s for s in samples if not s.get("error") and s.get("response") is not None
            and (d is None or s.get("decoding", "greedy") == d)]


def flagged_over_training(rd: RunDir, config: AttacksConfig) -> dict[str, Any]:
    """Per policy: the flagged rate of every evaluated checkpoint's samples (see module docstring)."""
    out: dict[str, Any] = {}
    for name, ev in read_policy_evals(rd).items():
        curve = []
        last_examples: list[dict[str, Any]] = []
        for row in ev.get("rows", []):
            samples = primary_samples(read_eval_samples(rd, name, row["step"]), row)
            r = flag_rows(samples, config)
            last_examples = r.pop("examples")
            curve.append({"step": row["step"], "decoding": row.get("decoding"), **r})
        out[name] = {"role": ev.get("role"), "proxy_judge": ev.get("proxy_judge"), "curve": curve,
                     "examples": last_examples}
    return out

