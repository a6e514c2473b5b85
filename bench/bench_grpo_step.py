"""Where a GRPO step's time goes: rollout generation, judge scoring, and the update, per judge kind.

Runs a few real TRL GRPOTrainer steps through ``judgelab.train.policy.train_policy`` (SmolLM2-135M
policy, shipped prompts) for each judge kind and times the trainer's own phases by wrapping its
methods: ``_generate`` (rollouts), ``_calculate_rewards`` (the judge), and ``training_step`` (the
whole step; the update is the rest: forward, backward, optimizer). The first step is a warm-up
and is not counted. Prints seconds and fractions per kind, and the ratio of reasoning-judge
scoring to rollout generation. The judges are the untrained SmolLM2 (direct and reasoning
prompts, same cost as trained ones of the same size and caps), a reward model built from it
(random head: same forward cost) and the rubric gold.

    python bench/bench_grpo_step.py                       # all kinds, CPU defaults
    python bench/bench_grpo_step.py --kinds rubric direct --steps 3 --precision fp32 bf16
    python bench/bench_grpo_step.py --kinds rubric --precision bf16 --logps plain trl-fused

``--logps trl-fused`` scores completions with TRL's own tiled fused LM head instead of judgelab's
CPU path (plain LM head on the labelled positions, ``judgelab.train.cpu_path``), for the ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def judge_for(kind: str, tmp: Path, dtype: str, device: str) -> dict:
    if kind == "rubric":
        return {"name": "gold", "backend": {"type": "rubric", "rubric": "gold"}}
    if kind in ("direct", "reasoning"):
        return {"name": f"smollm2-{kind}", "style": kind,
                "backend": {"type": "transformers", "batch_size": 32, "dtype": dtype, "device": device},
                "sampling": {"max_new_tokens": 16 if kind == "direct" else 128}}
    if kind == "reward-model":
        folder = tmp / "rm"
        if not (folder / "config.json").exists():
            from transformers import AutoModelForSequenceClassification

            from judgelab.models.loading import load_model, resolve_model_path

            _, tok = load_model("smollm2-135m-instruct", task="causal-lm")
            m = AutoModelForSequenceClassification.from_pretrained(resolve_model_path("smollm2-135m-instruct"), num_labels=1)
            m.config.pad_token_id = tok.pad_token_id or tok.eos_token_id
            m.save_pretrained(folder)
            tok.save_pretrained(folder)
        return {"name": "rm", "backend": {"type": "reward_model", "model": str(folder), "batch_size": 32,
                                          "dtype": dtype, "device": device}}
    raise SystemExit(f"unknown kind {kind!r}")


def profile(kind: str, precision: str, logps: str, args: argparse.Namespace, tmp: Path) -> dict:
    from trl import GRPOTrainer

    import judgelab.train.cpu_path as cpu_path
    from judgelab.train.policy import TrainPolicyConfig, train_policy

    plain_head = cpu_path.plain_lm_head_on_cpu
    if logps == "trl-fused":
        cpu_path.plain_lm_head_on_cpu = lambda trainer, **kw: None  # keep TRL's fused head
    times: dict[str, list[float]] = defaultdict(list)
    originals = {n: getattr(GRPOTrainer, n) for n in ("_generate", "_calculate_rewards", "training_step")}

    def timed(name: str):
        fn = originals[name]

        def wrapper(self, *a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(self, *a, **kw)
            finally:
                times[name].append(time.perf_counter() - t0)
        return wrapper

    for n in originals:
        setattr(GRPOTrainer, n, timed(n))
    try:
        judge_dtype = "bfloat16" if precision == "bf16" else "float32"
        cfg = TrainPolicyConfig.model_validate({
            "judge": judge_for(kind, tmp, judge_dtype, args.device),
            "prompts": {"source": "creative-v1", "split": "train", "limit": 64},
            "grpo": {"learning_rate": 1e-5, "num_generations": args.generations, "max_completion_length": args.max_new,
                     "per_device_train_batch_size": args.generations * args.prompts_per_step,
                     "max_steps": args.steps + 1, "save_steps": 1000, "bf16": precision == "bf16"},
            "device": args.device,
        })
        train_policy(cfg, tmp / f"run-{kind}-{precision}-{logps}", "bench")
    finally:
        cpu_path.plain_lm_head_on_cpu = plain_head
        for n, fn in originals.items():
            setattr(GRPOTrainer, n, fn)
    # Drop the warm-up step; _generate/_calculate_rewards run inside training_step.
    step = times["training_step"][1:]
    gen = times["_generate"][1:len(step) + 1]
    rew = times["_calculate_rewards"][1:len(step) + 1]
    n = len(step)
    s, g, r = sum(step) / n, sum(gen) / n, sum(rew) / n
    return {"kind": kind, "precision": precision, "logps": logps, "steps": n, "step_s": s, "rollout_s": g, "judge_s": r,
            "update_s": s - g - r}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", nargs="+", default=["rubric", "direct", "reward-model", "reasoning"])
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"], help="fp32 and/or bf16 (mixed precision of the update; bf16 judges)")
    ap.add_argument("--logps", nargs="+", default=["plain"], choices=["plain", "trl-fused"],
                    help="how the update scores completions on a CPU: judgelab's plain-logits path or TRL's fused head")
    ap.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--prompts-per-step", type=int, default=2)
    ap.add_argument("--max-new", type=int, default=48)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()

    import torch

    print(f"device: {'cuda ' + torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != 'cpu' else 'cpu'}, "
          f"threads {torch.get_num_threads()}, {args.prompts_per_step} prompts x {args.generations} completions x "
          f"{args.max_new} tokens per step", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for precision in args.precision:
            for logps in args.logps:
                for kind in args.kinds:
                    rows.append(profile(kind, precision, logps, args, Path(d)))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(f"\n{'judge':<14}{'precision':<10}{'logps':<10}{'step s':>8}{'rollout':>16}{'judge':>16}{'update':>16}")
    for r in rows:
        s = r["step_s"]
        cells = "".join(f"{r[k]:>8.2f} ({r[k] / s:4.0%})" for k in ("rollout_s", "judge_s", "update_s"))
        print(f"{r['kind']:<14}{r['precision']:<10}{r['logps']:<10}{s:>8.2f}{cells}")
    for r in rows:
        if r["kind"] == "reasoning":
            print(f"reasoning-judge scoring / rollout generation ({r['precision']}, {r['logps']}): "
                  f"{r['judge_s'] / r['rollout_s']:.2f}x")
    plain = {(r["kind"], r["precision"]): r for r in rows if r["logps"] == "plain"}
    for r in rows:
        if r["logps"] == "trl-fused" and (r["kind"], r["precision"]) in plain:
            p = plain[(r["kind"], r["precision"])]
            print(f"update, TRL fused head / plain logits ({r['kind']}, {r['precision']}): "
                  f"{r['update_s'] / p['update_s']:.2f}x ({r['update_s']:.1f} s vs {p['update_s']:.1f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
