"""``train_judge(config, run_dir)``: train one judge of the configured kind from gold annotations.

| kind | stages | used as |
| --- | --- | --- |
| direct-sft | SFT on verdicts | transformers judge, style direct |
| reward-model | Bradley-Terry RewardTrainer | reward_model judge |
| reasoning-sft | SFT on gold traces + verdict | transformers judge, style reasoning |
| reasoning-grpo, grpo-only | GRPO from the base model | style reasoning |
| reasoning-sft-grpo | SFT on traces, then GRPO (the study's reasoning judge) | style reasoning |
| verdict-sft-grpo | SFT on verdicts (reasoning prompt), then GRPO | style reasoning |

Reads ``run_dir/annotations/{pairs,points}.jsonl``; writes the checkpoint folder
(``run_dir/judges/<name>`` unless ``output_dir``): merged weights, tokenizer,
``judgelab_judge.json`` (the JudgeConfig to use it), ``train_stats.json``; records the config in
``run.json``.

Several GPUs: nothing here names a device, so data-parallel training works through accelerate::

    accelerate launch -m judgelab.cli train-judge -c judge.yaml --run RUN_DIR

(only the main process writes the checkpoint).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from judgelab.data.rundir import RunDir
from judgelab.train.common import TrainJudgeConfig

log = logging.getLogger(__name__)


def train_judge(config: TrainJudgeConfig, run_dir: str | Path | None) -> Path:
    """Train the judge described by ``config``; returns the checkpoint folder."""
    import resource

    from judgelab.train.judge_grpo import train_grpo
    from judgelab.train.judge_sft import train_sft
    from judgelab.train.reward_model import train_reward_model

    from transformers import set_seed

    out = config.resolve_output_dir(run_dir)
    src = run_dir if run_dir is not None else out
    set_seed(config.seed)  # the reward model's new head is initialised from it: judge seeds differ in init too
    t0 = time.perf_counter()
    kind = config.kind
    stages: list[dict[str, Any]]
    if kind == "direct-sft":
        _, _, s = train_sft(config, src, out, target="verdict", style="direct")
        stages = [s]
    elif kind == "reward-model":
        stages = [train_reward_model(config, src, out)]
    elif kind == "reasoning-sft":
        _, _, s = train_sft(config, src, out, target="trace", style="reasoning")
        stages = [s]
    elif kind in ("reasoning-grpo", "grpo-only"):
        stages = [train_grpo(config, src, out, style="reasoning")]
    elif kind in ("reasoning-sft-grpo", "verdict-sft-grpo"):
        target = "trace" if kind == "reasoning-sft-grpo" else "verdict"
        model, tok, s1 = train_sft(config, src, out, target=target, style="reasoning", save=False)
        s2 = train_grpo(config, src, out, style="reasoning", model=model, tokenizer=tok, previous_stages=[s1])
        stages = [s1, s2]
    else:  # pragma: no cover - pydantic rejects unknown kinds
        raise AssertionError(kind)
    summary = {
        "name": config.judge_name,
        "kind": kind,
        "output_dir": str(out),
        "wall_s": round(time.perf_counter() - t0, 2),
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stages": [{k: v for k, v in st.items() if k != "log_history"} for st in stages],
        "log_history": {st["stage"]: st["log_history"] for st in stages},
    }
    if int(os.environ.get("RANK", "0")) != 0:  # accelerate/torchrun workers: main process writes
        return out
    if (out / "config.json").exists():
        (out / "train_stats.json").write_text(json.dumps(summary, indent=2, default=str))
    if run_dir is not None:
        RunDir(run_dir).write_run_json(f"train-judge:{config.judge_name}", config, seed=config.seed)
    log.info("trained judge %s (%s) in %.1f s -> %s", config.judge_name, kind, summary["wall_s"], out)
    return out
