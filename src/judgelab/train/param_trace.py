"""Parameter trace of a training run, for checking data-parallel runs: when ``JUDGELAB_PARAM_TRACE``
names a folder, every judgelab trainer (judge SFT, reward model, judge GRPO, policy GRPO) writes
its trainable model's parameters there before the first step and after every optimizer step, on
every process.

Writes, per process and step: ``<stage>-rank<R>-step<S>.pt`` (all parameters, flattened in name
order, fp32) and a line in ``trace.jsonl`` (stage, rank, step, sum, sha256 of the bytes): equal
hashes on every rank mean the ranks hold bit-identical weights. ``<stage>`` is the last part of
the trainer's output folder (``sft-verdict``, ``reward``, ``grpo``, the policy's name).
Unset (the default), nothing is added to the trainer.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

ENV = "JUDGELAB_PARAM_TRACE"


def add_param_trace(trainer: Any) -> None:
    """Add the trace callback to ``trainer`` when ``JUDGELAB_PARAM_TRACE`` is set."""
    folder = os.environ.get(ENV)
    if not folder:
        return
    from transformers import TrainerCallback

    stage = Path(trainer.args.output_dir).name

    class ParamTrace(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            write_params(Path(folder), stage, state.global_step, model)

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            write_params(Path(folder), stage, state.global_step, model)

    trainer.add_callback(ParamTrace())


def flat_params(model: Any) -> Any:
    """All parameters of ``model`` (trainable or not), flattened in name order, fp32 on the CPU."""
    import torch

    with torch.no_grad():
        return torch.cat([p.detach().float().reshape(-1).cpu() for _, p in sorted(model.named_parameters())])


def write_params(folder: Path, stage: str, step: int, model: Any) -> None:
    import torch

    rank = int(os.environ.get("RANK", "0") or 0)
    folder.mkdir(parents=True, exist_ok=True)
    flat = flat_params(model)
    torch.save(flat, folder / f"{stage}-rank{rank}-step{step}.pt")
    row = {"stage": stage, "rank": rank, "step": step, "sum": float(flat.double().sum()),
           "sha256": hashlib.sha256(flat.numpy().tobytes()).hexdigest()}
    with open(folder / "trace.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
