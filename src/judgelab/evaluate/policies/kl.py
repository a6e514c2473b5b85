"""The policy's KL divergence from the initial policy at each checkpoint, estimated offline from
its own evaluation samples (the x-axis of the overoptimisation literature's gold-vs-KL plot; GRPO
here trains with beta = 0, so the trainer never computes it).

For completions y sampled from the checkpoint pi on prompt x, log pi(y|x) - log pi_0(y|x) is an
unbiased estimate of KL(pi || pi_0) (in nats per completion); the estimate is its mean over the
first ``samples`` sampled completions of every prompt, with a bootstrap CI over prompts. Both
log-probabilities are teacher-forced through the generation layer
(``LocalGenerator.completion_logprobs``: the completion text re-tokenized after the prompt, so a
token-boundary mismatch adds a little noise).

Reads the checkpoint's and the initial model's weights; writes nothing (policy_eval stores the
value in each row as ``kl_from_initial``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def kl_from_initial(checkpoint: str, initial: Any, samples: list[dict[str, Any]], *, per_prompt: int, device: str,
                    batch_size: int = 8, n_boot: int = 1000, seed: int = 0) -> dict[str, Any] | None:
    """{"kl": mean, "kl_ci": [lo, hi], "n": completions} for one checkpoint; None without samples.
    ``initial`` is a LocalGenerator of the initial policy (loaded once per policy by the caller)."""
    from judgelab.evaluate.stats import bootstrap_cluster_mean_ci
    from judgelab.lm.local import LocalGenerator

    rows = [s for s in samples if s.get("decoding") == "sampled" and int(s.get("sample_index", 0)) < per_prompt
            and isinstance(s.get("response"), str)]
    if not rows:
        return None
    prompts = [[{"role": "user", "content": s["prompt"]}] for s in rows]
    texts = [s["response"] for s in rows]
    gen = LocalGenerator.from_spec(checkpoint, device=device)
    try:
        lp = gen.completion_logprobs(prompts, texts, batch_size)
    finally:
        gen.close()
    lp0 = initial.completion_logprobs(prompts, texts, batch_size)
    groups: dict[str, list[float]] = {}
    for s, a, b in zip(rows, lp, lp0):
        groups.setdefault(s["prompt_id"], []).append(a - b)
    values = [x for g in groups.values() for x in g]
    ci = bootstrap_cluster_mean_ci(list(groups.values()), n_boot, 0.05, seed)
    return {"kl": float(np.mean(values)), "kl_ci": ci, "n": len(values)}
