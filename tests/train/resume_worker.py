"""One policy GRPO run with the gold monitor on, as a process of its own, for tests/train/test_resume.py:
run plainly (one process) or under ``accelerate launch`` (several), so a test can SIGKILL it mid-step
and resume it.

    python tests/train/resume_worker.py RUN_DIR MODEL_DIR OUT_DIR [--pause-at-step N]

RUN_DIR holds prompts.jsonl (train and test splits); MODEL_DIR a saved tiny causal LM. The proxy
judge scores longer completions higher, the monitor's gold lower (both deterministic, so two runs
differ only through the policy). With ``--pause-at-step N`` every process, at its first reward call
of step N (mid-step, checkpoints of earlier steps complete), writes ``OUT_DIR/paused.rank{R}`` (its
pid) and sleeps until killed. Every reward call is appended to ``OUT_DIR/rewarded.rank{R}.jsonl``
(prompt, completion). At the end each process writes ``OUT_DIR/rank{R}.json`` (the
checkpoint it resumed from, the final one) and ``OUT_DIR/params.rank{R}.pt`` (its trained weights).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from judgelab.judges.config import JudgeConfig, RubricBackendConfig
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import JudgeRequest, PointwiseItem
from judgelab.lm.types import Generation

STEPS, SAVE_STEPS, PER_DEVICE_SINGLE = 4, 2, 4  # 4 completions per step in all (2 prompts x 2)


class LengthBackend:
    """Programmatic judge: a score from the completion's length in characters, modulo 10 (``sign`` -1: reversed)."""

    reads_items = True

    def __init__(self, name: str, sign: int, pause_at_call: int | None = None, marker: Path | None = None,
                 record: Path | None = None):
        self.name, self.sign, self.calls = name, sign, 0
        self.pause_at_call, self.marker, self.record = pause_at_call, marker, record

    async def generate(self, request: JudgeRequest) -> Generation:
        self.calls += 1
        if self.record is not None:  # what the policy was trained on, call by call
            with self.record.open("a") as f:
                f.write(json.dumps({"prompt": request.item.prompt, "response": request.item.response}) + "\n")
        if self.pause_at_call is not None and self.calls == self.pause_at_call:
            self.marker.write_text(str(os.getpid()))
            time.sleep(3600)  # noqa: ASYNC251 (block the whole process: the test kills it here, mid-step)
        it = request.item
        assert isinstance(it, PointwiseItem)
        n = len(it.response) % 10  # varies from one random completion to the next: the advantages are not all 0
        return Generation(text=f"Score: {1 + n if self.sign > 0 else 10 - n}")

    def identity(self) -> dict:
        return {"name": self.name}

    async def aclose(self) -> None:
        pass


def config(model_dir: str, world: int):
    from judgelab.train.policy import TrainPolicyConfig

    return TrainPolicyConfig.model_validate({
        "model": model_dir,
        "judge": {"name": "len", "backend": {"type": "rubric"}},
        "prompts": {"source": "run", "split": "train"},
        "grpo": {"num_generations": 2, "max_completion_length": 6, "max_steps": STEPS, "save_steps": SAVE_STEPS,
                 "per_device_train_batch_size": PER_DEVICE_SINGLE // world, "bf16": True,
                 "learning_rate": 1e-3, "keep_final_optimizer": False},
        "device": "cpu",
        "monitor": {"every": 1, "prompts": 2, "samples": 2, "proxy": "train", "stop_on_hacking": False,
                    "rule": {"bootstrap": 50}},
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--pause-at-step", type=int, default=None)
    a = ap.parse_args()
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    import torch

    from judgelab.models import loading
    from judgelab.train import policy

    # Keep a handle on the model train_policy loads and on the checkpoint it resumes from (wrapped, not replaced).
    seen: dict = {}
    load_model, resume_point = loading.load_model, policy.resume_point

    def keep_model(*args, **kw):
        seen["model"], tok = load_model(*args, **kw)
        return seen["model"], tok

    def keep_resume(*args, **kw):
        seen["resume"] = resume_point(*args, **kw)
        return seen["resume"]

    loading.load_model, policy.resume_point = keep_model, keep_resume

    per_step = PER_DEVICE_SINGLE // world  # reward calls per process per step
    pause = None if a.pause_at_step is None else per_step * (a.pause_at_step - 1) + 1
    proxy = LLMJudge(JudgeConfig(name="len", backend=RubricBackendConfig()),
                     backend=LengthBackend("len", +1, pause, out / f"paused.rank{rank}", out / f"rewarded.rank{rank}.jsonl"))
    gold = LLMJudge(JudgeConfig(name="gold", backend=RubricBackendConfig()), backend=LengthBackend("gold", -1))
    final = policy.train_policy(config(a.model_dir, world), a.run_dir, "pol", judge=proxy, monitor_judge=gold)
    weights = {k: v.detach().float().cpu().clone() for k, v in seen["model"].state_dict().items()}
    torch.save(weights, out / f"params.rank{rank}.pt")
    resumed = seen.get("resume")
    (out / f"rank{rank}.json").write_text(json.dumps({
        "rank": rank, "world": world, "final": final.name,
        "resumed_from": None if resumed is None else resumed[1].name,
        "param_sum": float(sum(v.double().sum() for v in weights.values())),
    }))


if __name__ == "__main__":
    main()
