"""Pointwise judging throughput of the transformers backend: dynamic batching vs one at a time.

Same model (loaded once), same items, same greedy sampling; only the batcher's batch size
differs. Prints items/s for each and the speed-up, plus how many raw outputs agree (greedy
left-padded batching should reproduce the one-at-a-time text, up to float noise).

    python bench/bench_judge.py                      # SmolLM2-135M, 24 items, 16 new tokens
    python bench/bench_judge.py --items 64 --batch-size 16 --device cuda
"""

from __future__ import annotations

import argparse
import time

from judgelab.judges.config import JudgeConfig
from judgelab.judges.llm import LLMJudge
from judgelab.lm.local import GenerationOptions, LocalGenerator
from judgelab.lm.transformers import TransformersBackend
from judgelab.judges.types import PointwiseItem
from judgelab.models.loading import load_model

TOPICS = ["a lighthouse", "an oak tree", "the sea", "a city at night", "a cat", "winter", "a train", "the moon"]


def make_items(n: int) -> list[PointwiseItem]:
    return [
        PointwiseItem(
            id=f"b{i}",
            prompt=f"Write two sentences about {TOPICS[i % len(TOPICS)]}.",
            response=f"{TOPICS[i % len(TOPICS)].capitalize()} is quiet tonight. Item {i} waits for the morning.",
        )
        for i in range(n)
    ]


def run(gen: LocalGenerator, items: list[PointwiseItem], batch_size: int, max_new_tokens: int) -> tuple[float, list, dict]:
    backend = TransformersBackend(gen, model="bench", dtype="", batch_size=batch_size, max_wait_ms=5.0)
    judge = LLMJudge(JudgeConfig(name=f"bench-b{batch_size}", sampling={"max_new_tokens": max_new_tokens, "temperature": 0.0}),
                  backend=backend)
    t0 = time.perf_counter()
    verdicts = judge.judge(items)
    dt = time.perf_counter() - t0
    stats = backend.batcher.stats.to_dict()
    judge.close()
    return dt, verdicts, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--items", type=int, default=24)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--static-cache", action="store_true", help="static KV cache + compiled forward (CUDA only)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch default)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load_model(args.model, device=args.device, dtype=args.dtype)
    gen = LocalGenerator(model, tok, GenerationOptions(static_cache=args.static_cache))
    items = make_items(args.items)
    # Warm-up at both batch shapes (allocator, kernels, compile for --static-cache), not timed.
    run(gen, items[: args.batch_size], args.batch_size, 2)
    run(gen, items[:1], 1, 2)

    results = {}
    for bs in (args.batch_size, 1):
        dt, verdicts, stats = run(gen, items, bs, args.max_new_tokens)
        results[bs] = (dt, verdicts)
        toks = sum(v.completion_tokens for v in verdicts)
        print(f"batch_size={bs:>3}: {len(items)} items in {dt:6.2f} s = {len(items) / dt:6.2f} items/s "
              f"({toks / dt:6.1f} new tok/s; batches={stats['batches']}, max batch={stats['max_batch_size']}, "
              f"errors={sum(v.error is not None for v in verdicts)})")
    (tb, vb), (t1, v1) = results[args.batch_size], results[1]
    same = sum(a.raw == b.raw for a, b in zip(vb, v1))
    print(f"speed-up batched/one-at-a-time: {t1 / tb:.2f}x   identical raw outputs: {same}/{len(items)}   "
          f"device={gen.device} dtype={model.dtype} torch_threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
