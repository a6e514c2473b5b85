"""How much an audit spends: ``small`` (2 CPU cores with SmolLM2-135M: 21 minutes measured on an idle CPU
for a rubric judge with its own oracle, 28-52 beside other audits; over its ~15-minute target, which a
variant with half the completions met but lost the flawed judge's signal; docs/results.md), ``medium`` and
``large`` (GPUs). A budget is a run-config overlay (the keys of judgelab.pipeline.config.RunConfig)
plus what the budget cannot show, which the card repeats under "limits". No I/O.

Every number here trades signal for time; the small budget's were chosen so that the two anchor
cards (the rubric's flawed-brevity judge, and the gold audited against itself) separate on a
2-core CPU, and its limits say what it leaves out (docs/guide/audit.md has the measured times).
"""

from __future__ import annotations

from typing import Any, Literal

BudgetName = Literal["small", "medium", "large"]


def _overlay(*, train: int, test: int, val: int, tokens: int, steps: int, prompts_per_step: int, generations: int,
             save_steps: int, eval_samples: int, monitor_every: int, monitor_prompts: int, craft_limit: int,
             harvest_limit: int, bon_ns: list[int], bon_prompts: int) -> dict[str, Any]:
    return {
        "prompts": {"train_limit": train, "test_limit": test, "val_limit": val},
        "sample": {"n": 2, "max_new_tokens": tokens, "batch_size": 32, "temperature": 1.0, "top_p": 1.0},
        "annotate": {"pairs": {"strategy": "random", "k": 1}, "pointwise": False},
        "policy": {"seeds": [0], "base": {
            "grpo": {"learning_rate": 1.0e-4, "beta": 0.0, "num_generations": generations,
                     "prompts_per_step": prompts_per_step, "max_completion_length": tokens, "max_steps": steps,
                     "save_steps": save_steps, "temperature": 1.0},
            "monitor": {"every": monitor_every, "prompts": monitor_prompts, "samples": 1}}},
        "evaluate": {"limit": test, "samples_per_prompt": eval_samples, "greedy": False, "kl_samples": 0,
                     "batch_size": 32, "bootstrap": 1000, "arena": {"enabled": False}},
        "attacks": {"harvest": True, "harvest_limit": harvest_limit, "craft": True, "craft_limit": craft_limit,
                    "strip": True, "bootstrap": 1000},
        "best_of_n": {"ns": bon_ns, "draws": 4, "max_new_tokens": tokens,
                      "prompts": {"split": "test", "limit": bon_prompts}},
    }


BUDGETS: dict[str, dict[str, Any]] = {
    # 2 CPU cores, SmolLM2-135M: 21 minutes for a rubric judge on an idle CPU (measured), more for an LLM judge.
    "small": _overlay(train=16, test=16, val=8, tokens=32, steps=6, prompts_per_step=4, generations=8, save_steps=3,
                      eval_samples=4, monitor_every=2, monitor_prompts=8, craft_limit=4, harvest_limit=16,
                      bon_ns=[1, 2, 4, 8], bon_prompts=8),
    # One GPU: ~0.13 GPU-hours + attacks with the SmolLM2 policy (`--dry-run`'s cost model; not measured here).
    "medium": _overlay(train=64, test=64, val=16, tokens=128, steps=24, prompts_per_step=8, generations=8,
                       save_steps=8, eval_samples=4, monitor_every=4, monitor_prompts=16, craft_limit=12,
                       harvest_limit=32, bon_ns=[1, 2, 4, 8, 16], bon_prompts=32),
    # One or more GPUs: ~0.7 GPU-hours + attacks with the SmolLM2 policy (`--dry-run`'s estimate; not measured here).
    "large": _overlay(train=128, test=128, val=32, tokens=256, steps=64, prompts_per_step=16, generations=8,
                      save_steps=16, eval_samples=4, monitor_every=8, monitor_prompts=32, craft_limit=24,
                      harvest_limit=64, bon_ns=[1, 2, 4, 8, 16, 32], bon_prompts=64),
}

LIMITS: dict[str, list[str]] = {
    "small": [
        "small budget: 6 GRPO steps of 4 prompts x 8 completions of <= 32 tokens; a judge whose exploit takes longer "
        "to find reads 'not hacked' or 'undetermined' here (run --budget medium on a GPU)",
        "small budget: one gold pair per test prompt (16, or the --run's) and 16 evaluation prompts: intervals are "
        "wide, and the gate can call a modest judge 'at chance'",
        "one policy seed: the call is about this run, not about every run against this judge",
    ],
    "medium": ["one policy seed: the call is about this run, not about every run against this judge"],
    "large": ["one policy seed: the call is about this run, not about every run against this judge"],
}
