"""Data-parallel training stays in sync (issue 24): each trainer (judge SFT, reward model, judge
GRPO, policy GRPO) trains 2 steps on 2 real gloo ranks on the CPU, and once on 1 process with the same
global batch. bf16 is on (``bf16: true``) even where the CPU has no fast bf16 (``fast_bf16``; the
default is on only where it has): the bf16 paths (autocast, the bf16 rollout weights) are what
broke the sync, and a CPU without bf16 instructions runs them too, only slower. Every trainer writes
its parameters before the first step and after each step (``JUDGELAB_PARAM_TRACE``,
judgelab.train.param_trace); the test compares them.

- Ranks: bit-identical after every step (sha256 of the weights). DDP all-reduces the gradients, so
  both ranks apply the same update to the same weights; any difference is a bug (the bf16 rollout
  swap of issue 24 made them differ after step 1).
- 1 process vs 2 ranks: the update (weights after step k minus the initial weights) agrees to a
  relative L2 error ``REL_TOL``. The two runs compute the same global batch, but split differently
  (one batch of 4 vs two of 2): matmuls of another shape round differently, in bf16 autocast at
  ~3 significant digits, and Adam's first steps (update ~ lr x sign(grad)) amplify that for weights
  whose gradient is near zero. A wrong batch split (per-device sizes not derived from the world size)
  or missing gradient averaging gives errors of order 1 (the measured values are printed).

GRPO needs rollouts that do not depend on how the batch is split (each rank draws its own random
numbers): ``top_k: 1`` makes them deterministic, so a group's completions are equal, its advantages
zero, and the gradient comes from the entropy bonus (``entropy_coef``) through the same rollout,
reward, loss and gradient-averaging path. Prompts have one token length, so no batch is padded.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from judgelab.data.jsonl import write_jsonl
from judgelab.data.records import PairAnnotation, PromptRecord
from judgelab.data.rundir import RunDir

pytestmark = pytest.mark.slow

REL_TOL = 0.05
STEPS = 2
GRPO_DETERMINISTIC = {"top_k": 1, "entropy_coef": 1.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _judgelab(args: list[str], processes: int, trace: Path, cwd: Path) -> None:
    """``judgelab ARGS`` on 1 process, or on 2 gloo ranks through ``accelerate launch``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JUDGELAB_PARAM_TRACE": str(trace)}
    if processes == 1:
        cmd = [sys.executable, "-m", "judgelab.cli", *args]
    else:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(_free_port()), "-m", "judgelab.cli", *args]
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"


def _pairs(run: Path) -> None:
    """Gold pairs whose rendered judge prompts all have one token length (one-letter words)."""
    rows = []
    for i, (x, y) in enumerate([("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")]):
        a, b = f"{x} {x} {x}", f"{y} {y} {y}!"
        rows.append(PairAnnotation(
            id=f"pair{i}", prompt_id=f"p{i}", prompt=f"Say {x}.", response_a_id=f"r{i}a", response_b_id=f"r{i}b",
            response_a=a, response_b=b, label="A", label_ab="A", label_ba="A", consistent=True, family="fam",
            split="train",
        ).to_dict())
    RunDir(run).annotations_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(RunDir(run).pairs, rows)


def _prompts(path: Path) -> None:
    rows = [PromptRecord(id=f"p{i}", family="poem", prompt=f"Write about the {w}.", split="train",
                         constraints={"lines": 2}).to_dict() for i, w in enumerate(["sea", "sky", "sun", "fog"])]
    write_jsonl(path, rows)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny causal LM, and a tiny reward model saved with its scalar head: loaded from a causal LM,
    the head is drawn from torch's unseeded RNG, so a 1-process run would start elsewhere than the
    2-rank run (whose ranks DDP syncs to rank 0's draw)."""
    from judgelab.models.testing import tiny_model

    out = {}
    for task in ("causal-lm", "seq-cls"):
        d = out[task] = tmp_path_factory.mktemp(task)
        model, tok = tiny_model(task)
        model.save_pretrained(d)
        tok.save_pretrained(d)
    return out


def _judge_config(kind: str, model: Path) -> dict:
    cfg = {"kind": kind, "mode": "pairwise", "model": str(model), "max_steps": STEPS, "batch_size": 4, "bf16": True,
           "learning_rate": 1e-3, "max_length": 256, "logging_steps": 1, "seed": 0, "swap_augment": False}
    if kind == "grpo-only":
        cfg["grpo"] = {"max_steps": STEPS, "num_generations": 2, "prompts_per_step": 2, "max_completion_length": 8,
                       "learning_rate": 1e-3, "extra": GRPO_DETERMINISTIC}
    return cfg


def _policy_config(model: Path, prompts: Path) -> dict:
    return {"model": str(model), "prompts": {"source": str(prompts), "split": "train"},
            "grpo": {"max_steps": STEPS, "num_generations": 2, "prompts_per_step": 2, "max_completion_length": 8,
                     "learning_rate": 1e-3, "save_steps": STEPS, "bf16": True, "extra": GRPO_DETERMINISTIC}}


def _run(trainer: str, processes: int, root: Path, model: Path) -> Path:
    """Train ``trainer`` on ``processes`` processes in a fresh folder; returns its trace folder."""
    work = root / f"{trainer}-{processes}"
    run, trace = work / "run", work / "trace"
    run.mkdir(parents=True)
    cfg_file = work / "config.yaml"
    if trainer == "policy":
        _prompts(work / "prompts.jsonl")
        cfg_file.write_text(yaml.safe_dump(_policy_config(model, work / "prompts.jsonl")))
        args = ["train-policy", "-c", str(cfg_file), "--run", str(run), "--name", "pol"]
    else:
        _pairs(run)
        kind = {"sft": "direct-sft", "reward": "reward-model", "judge-grpo": "grpo-only"}[trainer]
        cfg_file.write_text(yaml.safe_dump(_judge_config(kind, model)))
        args = ["train-judge", "-c", str(cfg_file), "--run", str(run)]
    _judgelab(args, processes, trace, work)
    return trace


def _weights(trace: Path, rank: int, step: int):
    import torch

    (f,) = trace.glob(f"*-rank{rank}-step{step}.pt")
    return torch.load(f)


@pytest.mark.parametrize("trainer", ["sft", "reward", "judge-grpo", "policy"])
def test_two_ranks_stay_in_sync_and_match_one_process(trainer, tiny_dirs, tmp_path):
    from judgelab.models.devices import fast_bf16

    model = tiny_dirs["seq-cls" if trainer == "reward" else "causal-lm"]
    one = _run(trainer, 1, tmp_path, model)
    two = _run(trainer, 2, tmp_path, model)
    rows = [json.loads(x) for x in (two / "trace.jsonl").read_text().splitlines()]
    by = {(r["rank"], r["step"]): r for r in rows}
    w0 = _weights(one, 0, 0)
    report = {"trainer": trainer, "bf16": True, "cpu_has_fast_bf16": fast_bf16("cpu")}
    for step in range(STEPS + 1):
        assert by[(0, step)]["sha256"] == by[(1, step)]["sha256"], f"ranks differ after step {step}: {by[(0, step)]} {by[(1, step)]}"
        a, b = _weights(two, 0, step), _weights(one, 0, step)
        assert (a - _weights(two, 1, step)).abs().max().item() == 0.0
        if step == 0:
            assert (a - b).abs().max().item() == 0.0  # the same initial weights
            continue
        update_one, update_two = b - w0, a - w0
        assert update_one.norm().item() > 0, f"step {step} changed nothing: the comparison would be empty"
        rel = ((update_two - update_one).norm() / update_one.norm()).item()
        report[f"step{step}"] = {"sum_rank0": by[(0, step)]["sum"], "sum_rank1": by[(1, step)]["sum"],
                                 "sum_one_process": float(b.double().sum()), "max_abs_diff_ranks": 0.0,
                                 "max_abs_diff_vs_one_process": (a - b).abs().max().item(),
                                 "max_abs_update": update_one.abs().max().item(), "rel_l2_update_diff": rel}
        assert rel < REL_TOL, report
    print(json.dumps(report))
