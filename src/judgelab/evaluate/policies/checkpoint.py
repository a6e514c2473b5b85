"""Every number of one evaluated checkpoint (compute only; judgelab.evaluate.policies.policy_eval
samples, caches and writes): the gold score per decoding with a bootstrap CI clustered by prompt,
the gain over step 0 paired by prompt, the gold win rate vs step 0, the proxy score in its reward's
own terms, other judges' scores and the completion length. Reads and writes no files; the judges
it is given may read and write their judgment store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from judgelab.errors import ConfigError
from judgelab.evaluate.scoring import judge_pointwise, judge_vs
from judgelab.evaluate.stats import bootstrap_cluster_mean_ci, bootstrap_mean_ci, mean_or_none
from judgelab.judges.base import Judge


class BootstrapSettings(Protocol):
    """What the statistics read of the evaluation config."""

    bootstrap: int
    alpha: float
    seed: int


@dataclass
class Referees:
    """The judges of one policy's checkpoints: the gold, the proxy it trained on (judged in its
    reward ``mode``'s terms), and any others named (pointwise)."""

    gold: Judge
    proxy: Judge
    mode: str
    extra: list[Judge]


def decodings(samples_per_prompt: int, greedy: bool) -> list[str]:
    """The decodings sampled, the primary one first ("sampled" when k > 0)."""
    out = ["sampled"] if samples_per_prompt > 0 else []
    if greedy:
        out.append("greedy")
    if not out:
        raise ConfigError("nothing to sample: samples_per_prompt is 0 and greedy is off",
                          where="evaluate", hint="set samples_per_prompt >= 1 or greedy: true")
    return out


# ------------------------------------------------------------------------------------- statistics

def _by_prompt(samples: list[dict], values: list[float | None]) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for s, v in zip(samples, values):
        if v is not None:
            groups.setdefault(s["prompt_id"], []).append(float(v))
    return groups


def clustered_mean(samples: list[dict], values: list[float | None],
                   config: BootstrapSettings) -> tuple[float | None, list[float] | None]:
    """Mean and bootstrap CI with the prompt as the cluster (a prompt's samples resampled together)."""
    groups = _by_prompt(samples, values)
    return mean_or_none([x for g in groups.values() for x in g]), bootstrap_cluster_mean_ci(
        list(groups.values()), config.bootstrap, config.alpha, config.seed)


def paired_gain(samples: list[dict], values: list[float | None], base: list[dict], base_values: list[float | None],
                config: BootstrapSettings) -> tuple[float | None, list[float] | None]:
    """Mean over prompts of (this checkpoint's mean - step 0's mean on the same prompt), with a
    bootstrap CI over prompts: the paired comparison that removes between-prompt variance."""
    new, old = _by_prompt(samples, values), _by_prompt(base, base_values)
    diffs = [float(np.mean(new[p]) - np.mean(old[p])) for p in new if p in old]
    return mean_or_none(diffs), bootstrap_mean_ci(diffs, config.bootstrap, config.alpha, config.seed)


# ------------------------------------------------------------------------------------- one checkpoint

def _decoding_stats(step: int, samples: list[dict], base: list[dict], g_raw: list[float | None],
                    g_norm: list[float | None], wins: list[float | None], b_raw: list[float | None], d: str,
                    config: BootstrapSettings) -> dict[str, Any]:
    """The gold numbers of one decoding's samples."""
    idx = [i for i, s in enumerate(samples) if s.get("decoding", "greedy") == d]
    sub, bsub = [samples[i] for i in idx], [s for s in base if s.get("decoding", "greedy") == d]
    raw, norm, w = [g_raw[i] for i in idx], [g_norm[i] for i in idx], [wins[i] for i in idx]
    mean, ci = clustered_mean(sub, raw, config)
    norm_mean, norm_ci = clustered_mean(sub, norm, config)
    gain, gain_ci = paired_gain(sub, raw, bsub, [b_raw[i] for i, s in enumerate(base) if s.get("decoding", "greedy") == d], config)
    win, win_ci = (0.5, [0.5, 0.5]) if step == 0 else clustered_mean(sub, w, config)
    return {
        "n": len(sub), "gold_score_mean": mean, "gold_score_ci": ci, "gold_score_norm": norm_mean,
        "gold_score_norm_ci": norm_ci, "gold_gain": gain, "gold_gain_ci": gain_ci,
        "gold_win_rate": win, "gold_win_rate_ci": win_ci,
        "length_tokens_mean": mean_or_none([s.get("completion_tokens") or 0 for s in sub]),
        "length_chars_mean": mean_or_none([len(s["response"]) for s in sub]),
    }


def _proxy_values(refs: Referees, step: int, psamples: list[dict], pbase: list[dict], tag: str) -> tuple[list, float]:
    """The proxy's value per sample in its reward's terms (pointwise: normalised score; pairwise:
    P(beats the step-0 sample)), and its parse-failure rate."""
    if refs.mode == "pointwise":
        _, p_vals, p_fail = judge_pointwise(refs.proxy, psamples, tag)
        return p_vals, p_fail
    if step == 0:
        return [0.5] * len(psamples), 0.0
    return judge_vs(refs.proxy, psamples, pbase, tag)


def checkpoint_row(step: int, path: str, samples: list[dict], base: list[dict], refs: Referees,
                   decodings: list[str], config: BootstrapSettings, tag: str) -> dict[str, Any]:
    """Every number of one checkpoint; per-sample gold/proxy scores are written onto ``samples``.
    ``base`` holds step 0's samples, already scored (step 0 is evaluated first)."""
    g_raw, g_norm, g_fail = judge_pointwise(refs.gold, samples, tag)
    # Step 0 is scored first (its row writes gold_score onto the base samples), so no rejudging.
    b_raw = g_raw if step == 0 else [s.get("gold_score") for s in base]
    wins = [0.5] * len(samples) if step == 0 else judge_vs(refs.gold, samples, base, tag)[0]
    by_decoding = {d: _decoding_stats(step, samples, base, g_raw, g_norm, wins, b_raw, d, config) for d in decodings}
    primary = decodings[0]
    prim = [i for i, s in enumerate(samples) if s.get("decoding", "greedy") == primary]
    psamples = [samples[i] for i in prim]
    pbase = [s for s in base if s.get("decoding", "greedy") == primary]
    p_vals, p_fail = _proxy_values(refs, step, psamples, pbase, tag)
    p_mean, p_ci = clustered_mean(psamples, p_vals, config)
    row: dict[str, Any] = {"step": step, "checkpoint": path, "decoding": primary, "n_prompts": len({s["prompt_id"] for s in samples}),
                           **by_decoding[primary], "gold_parse_failure_rate": g_fail,
                           "proxy_score": p_mean, "proxy_score_ci": p_ci, "proxy_parse_failure_rate": p_fail,
                           "other_judges": {}, "by_decoding": by_decoding}
    for j in refs.extra:
        _, j_norm, j_fail = judge_pointwise(j, psamples, tag)
        row["other_judges"][j.name] = {"score_norm": mean_or_none(j_norm), "parse_failure_rate": j_fail}
    # per-sample scores next to the samples, for the report's examples and the adversarial stage
    proxy_of = {i: v for i, v in zip(prim, p_vals)}
    for i, s in enumerate(samples):
        s["gold_score"], s["proxy_score"] = g_raw[i], proxy_of.get(i)
    return row
