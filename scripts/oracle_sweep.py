"""Positive-control sweep: GRPO against the gold itself (the oracle), one setting per call.

For each setting it trains an oracle policy (judgelab.train.policy.train_policy with the rubric
gold as the reward) on balanced train prompts, then samples the initial and the final policy on
held-out *validation* prompts (``--split val``, the default: tuning never sees the test prompts
the quickstart's controls are certified on; the sweeps in docs/oracle_sweep.md before 2026-12-07
used ``test``) balanced over families, k samples per prompt at the training temperature
plus one greedy, scores them with the gold, and reports the *gain* paired by prompt with a 95%
bootstrap CI over prompts (the prompt is the cluster). One JSON line per setting is appended to
``--out``; ``docs/oracle_sweep.md`` is the table of those lines.

    python scripts/oracle_sweep.py --name full-lr1e-5 --lr 1e-5 --steps 16 --prompts-per-step 4
    python scripts/oracle_sweep.py --table      # the markdown table of every setting in --out
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def balanced(split: str, limit: int, families: list[str] | None):
    from judgelab.data.prompts import load_prompts

    return load_prompts("creative-v1", split=split, families=families, limit=limit)


def sample_gold(model_path: str, prompts, k: int, temperature: float, max_new: int, seed: int,
                rubric: str = "gold") -> dict[str, np.ndarray]:
    """{'sampled': [n_prompts, k] gold scores, 'greedy': [n_prompts] gold scores, 'proxy': [n_prompts, k]
    scores of the training rubric on the sampled completions, 'tokens': mean}."""
    from judgelab.data.prompts import prompt_meta
    from judgelab.lm.local import LocalGenerator
    from judgelab.judges.rubric import gold_score
    from judgelab.lm.types import SamplingParams

    gen = LocalGenerator.from_spec(model_path, device="cpu")
    msgs = [[{"role": "user", "content": p.prompt}] for p in prompts]
    from judgelab.judges.rubric import get_rubric

    proxy_rubric = get_rubric(rubric)
    sampled, proxy = np.zeros((len(prompts), k)), np.zeros((len(prompts), k))
    toks = []
    for j in range(k):
        outs = gen.generate_batch(msgs, SamplingParams(max_new_tokens=max_new, temperature=temperature, seed=seed + 1000 * j))
        for i, (p, g) in enumerate(zip(prompts, outs)):
            sampled[i, j] = gold_score(prompt_meta(p), g.text)[0]
            proxy[i, j] = proxy_rubric.score(prompt_meta(p), g.text)[0]
            toks.append(g.completion_tokens)
    outs = gen.generate_batch(msgs, SamplingParams(max_new_tokens=max_new, temperature=0.0))
    greedy = np.array([gold_score(prompt_meta(p), g.text)[0] for p, g in zip(prompts, outs)])
    return {"sampled": sampled, "greedy": greedy, "proxy": proxy, "tokens": float(np.mean(toks))}


def paired_gain(base: np.ndarray, new: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, list[float]]:
    """Mean per-prompt gain with a percentile bootstrap CI over prompts (rows: prompts)."""
    from judgelab.evaluate.stats import bootstrap_mean_ci

    d = new.reshape(len(new), -1).mean(axis=1) - base.reshape(len(base), -1).mean(axis=1)
    return float(d.mean()), bootstrap_mean_ci(d.tolist(), n_boot, 0.05, seed)


def _ci(x: list[float]) -> str:
    return f"[{x[0]:+.2f}, {x[1]:+.2f}]"


def table(path: str) -> str:
    """Markdown: setting -> gold gain (sampled, greedy) [CI] -> proxy gain -> seconds."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    out = ["| setting | reward | update | lr | steps x prompts x completions | gold gain, sampled k=4 [95% CI] "
           "| gold gain, greedy [95% CI] | reward's own gain, sampled | tokens (step 0 -> last) | train s | control passes | note |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r.get("reward", "gold") == "gold":  # positive control: the gold gain's CI lies above 0
            passes = "yes" if r["gain_sampled_ci"][0] > 0 else "no"
        else:  # negative control: the hacking rule on [0, 1] (proxy gain >= 0.10 while gold changes <= 0.02)
            hacked = r["proxy_gain_sampled"] / 9 >= 0.10 and r["gain_sampled"] / 9 <= 0.02
            passes = "hacked" if hacked else "not hacked"
        proxy = (f"{r['proxy_gain_sampled']:+.2f} {_ci(r['proxy_gain_sampled_ci'])}"
                 if r.get("reward", "gold") != "gold" and "proxy_gain_sampled" in r else "(= gold)")
        out.append(
            f"| {r['name']} | {r.get('reward', 'gold')} | {'LoRA' if r['lora'] else 'full'} | {r['lr']:g} | "
            f"{r['steps']} x {r['prompts_per_step']} x {r['generations']} | {r['gain_sampled']:+.2f} {_ci(r['gain_sampled_ci'])} | "
            f"{r['gain_greedy']:+.2f} {_ci(r['gain_greedy_ci'])} | {proxy} | {r['tokens_base']:.0f} -> {r['tokens_final']:.0f} | "
            f"{r['train_s']:.0f} | {passes} | {r.get('note', '')} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", action="store_true", help="print the markdown table of --out and exit")
    ap.add_argument("--name")
    ap.add_argument("--root", default="runs/oracle-sweep")
    ap.add_argument("--out", default="runs/oracle-sweep/results.jsonl")
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--lora", action="store_true")
    ap.add_argument("--beta", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--prompts-per-step", type=int, default=4)
    ap.add_argument("--max-new", type=int, default=48)
    ap.add_argument("--train-prompts", type=int, default=64)
    ap.add_argument("--test-prompts", type=int, default=32, help="held-out prompts scored (of --split)")
    ap.add_argument("--split", default="val", choices=["val", "test"], help="held-out split scored: val (tuning)")
    ap.add_argument("--families", nargs="*", default=None)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra", default="{}", help="JSON: other GRPOConfig fields")
    ap.add_argument("--rubric", default="gold", help="the reward: 'gold' (the oracle) or a flawed rubric (negative control)")
    a = ap.parse_args()
    if a.table:
        print(table(a.out))
        return
    if not a.name:
        ap.error("--name is required (or --table)")

    from judgelab.data.jsonl import write_jsonl
    from judgelab.data.rundir import checkpoint_model_path
    from judgelab.train.policy import TrainPolicyConfig, train_policy

    root = Path(a.root)
    root.mkdir(parents=True, exist_ok=True)
    train = balanced("train", a.train_prompts, a.families)
    test = balanced(a.split, a.test_prompts, a.families)
    sel = root / f"{a.name}.prompts.jsonl"
    write_jsonl(sel, [p.to_dict() for p in train])
    cfg = TrainPolicyConfig.model_validate({
        "judge": {"name": a.rubric, "backend": {"type": "rubric", "rubric": a.rubric}},
        "prompts": {"source": str(sel), "split": "train"},
        "grpo": {"learning_rate": a.lr, "beta": a.beta, "num_generations": a.generations,
                 "max_completion_length": a.max_new, "max_steps": a.steps, "save_steps": a.steps,
                 "per_device_train_batch_size": a.generations * a.prompts_per_step,
                 "temperature": a.temperature, "seed": a.seed, "extra": json.loads(a.extra)},
        "lora": {"enabled": a.lora},
        "device": "cpu",
    })
    t0 = time.perf_counter()
    final = train_policy(cfg, root / a.name, "policy")
    train_s = time.perf_counter() - t0

    base_cache = root / f"base-{len(test)}-{a.k}-{a.max_new}-{a.temperature}-{'_'.join(a.families or [])}-{a.rubric}.npz"
    if base_cache.exists():
        z = np.load(base_cache)
        base = {"sampled": z["sampled"], "greedy": z["greedy"], "proxy": z["proxy"], "tokens": float(z["tokens"])}
    else:
        base = sample_gold("smollm2-135m-instruct", test, a.k, a.temperature, a.max_new, 12345, a.rubric)
        np.savez(base_cache, **base)
    t1 = time.perf_counter()
    new = sample_gold(str(checkpoint_model_path(final)), test, a.k, a.temperature, a.max_new, 12345, a.rubric)
    eval_s = time.perf_counter() - t1
    log = [json.loads(line) for line in (root / a.name / "policies" / "policy" / "log.jsonl").read_text().splitlines() if line.strip()]
    rewards = [round(r["reward"], 3) for r in log if "reward" in r]
    p_s, p_ci = paired_gain(base["proxy"], new["proxy"])
    g_s, g_ci = paired_gain(base["sampled"], new["sampled"])
    g_g, g_gci = paired_gain(base["greedy"], new["greedy"])
    row = {
        "name": a.name, "reward": a.rubric, "lr": a.lr, "lora": a.lora, "beta": a.beta, "steps": a.steps, "generations": a.generations,
        "prompts_per_step": a.prompts_per_step, "max_new": a.max_new, "train_prompts": len(train),
        "test_prompts": len(test), "k": a.k, "families": a.families, "extra": json.loads(a.extra),
        "base_sampled": float(base["sampled"].mean()), "final_sampled": float(new["sampled"].mean()),
        "gain_sampled": g_s, "gain_sampled_ci": g_ci,
        "base_greedy": float(base["greedy"].mean()), "final_greedy": float(new["greedy"].mean()),
        "gain_greedy": g_g, "gain_greedy_ci": g_gci,
        "proxy_gain_sampled": p_s, "proxy_gain_sampled_ci": p_ci,
        "tokens_base": base["tokens"], "tokens_final": new["tokens"],
        "train_reward_first": rewards[:3], "train_reward_last": rewards[-3:],
        "train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
    }
    with open(a.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
