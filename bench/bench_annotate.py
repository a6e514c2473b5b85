"""Annotation throughput against `judgelab serve`: concurrent vs sequential client, same items.

Starts `judgelab serve --model MODEL` as a subprocess on 127.0.0.1 (a free port), writes a small
run directory of responses (shipped prompts, fixed response texts), then runs the annotate stage
twice on the same pairs, each time in a fresh run directory (no cache hits): once with the openai
backend at concurrency 8 (the server's dynamic batcher can batch) and once at concurrency 1.
Prints items/s (gold calls per second; each pair = 2 calls, both orders) and the ratio.

    python bench/bench_annotate.py --pairs 8 --max-new-tokens 16
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from judgelab.annotate.stage import AnnotateConfig, annotate
from judgelab.data.jsonl import write_jsonl
from judgelab.data.prompts import load_prompts
from judgelab.data.records import ResponseRecord
from judgelab.data.rundir import RunDir

TEXTS = [
    "The lighthouse hums at dusk; gulls fold into the fog.",
    "Sea sea sea! The sea is big! I love the sea so much!!!",
    "Salt on the window, a kettle, a letter never sent.",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, batch_size: int) -> subprocess.Popen:
    import httpx

    cmd = [sys.executable, "-c", "from judgelab.cli import main; main()", "serve", "--model", model,
           "--host", "127.0.0.1", "--port", str(port), "--batch-size", str(batch_size)]
    log = open(Path(tempfile.gettempdir()) / f"bench_serve_{port}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"judgelab serve exited early; see {log.name}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("judgelab serve did not come up")


def make_responses(run: Path, n_pairs: int) -> None:
    """Prompts with 2 responses each -> exactly one pair per prompt (strategy 'all')."""
    prompts = load_prompts("creative-v1", limit=n_pairs)
    rows = [
        ResponseRecord(id=f"{p.id}::bench::{i}", prompt_id=p.id, prompt=p.prompt, response=TEXTS[(k + i) % len(TEXTS)],
                       model="bench", family=p.family, split=p.split, constraints=dict(p.constraints),
                       sample_index=i).to_dict()
        for k, p in enumerate(prompts) for i in range(2)
    ]
    write_jsonl(RunDir(run).ensure().responses, rows)


def run_once(root: Path, name: str, n_pairs: int, url: str, model: str, concurrency: int, max_new_tokens: int) -> dict:
    run = root / name
    shutil.rmtree(run, ignore_errors=True)
    make_responses(run, n_pairs)
    cfg = AnnotateConfig.model_validate(
        {
            "gold": {
                "name": "gold-llm", "style": "reasoning",
                "backend": {"type": "openai", "model": model, "base_urls": [url], "concurrency": concurrency,
                            "timeout_s": 900},  # a busy shared CPU can be slow
                "sampling": {"max_new_tokens": max_new_tokens},
                "concurrency": max(concurrency, 1),
            },
            "pairs": {"strategy": "all"},
            "pointwise": False,
            "plot": False,
        }
    )
    t0 = time.perf_counter()
    s = annotate(cfg, run)
    wall = time.perf_counter() - t0
    calls = s["this_run"]["backend_calls"]
    return {
        "client": name, "concurrency": concurrency, "pairs": s["pairs"]["total"], "gold_calls": calls,
        "seconds": round(wall, 2), "items_per_s": round(calls / wall, 3), "pairs_per_s": round(s["pairs"]["total"] / wall, 3),
        "completion_tokens": s["this_run"]["completion_tokens"], "parse_failures": s["pairs"]["parse_failures"],
        "errors": s["pairs"]["errors"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--pairs", type=int, default=8, help="pairs to annotate (gold calls = 2 x pairs)")
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--server-batch-size", type=int, default=8)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    t0 = time.perf_counter()
    proc = start_server(args.model, port, args.server_batch_size)
    print(f"judgelab serve up on {url} in {time.perf_counter() - t0:.1f} s")
    root = Path(tempfile.mkdtemp(prefix="bench_annotate_"))
    try:
        # warm-up: first forward passes are slower (allocations); not measured
        run_once(root, "warmup", 1, url, args.model, 2, args.max_new_tokens)
        conc = run_once(root, "concurrent", args.pairs, url, args.model, args.concurrency, args.max_new_tokens)
        seq = run_once(root, "sequential", args.pairs, url, args.model, 1, args.max_new_tokens)
        import httpx

        server_stats = httpx.get(f"http://127.0.0.1:{port}/v1/stats", timeout=5).json()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    ratio = conc["items_per_s"] / seq["items_per_s"] if seq["items_per_s"] else float("nan")
    for r in (conc, seq):
        print(f"{r['client']:>10} (concurrency {r['concurrency']}): {r['gold_calls']} gold calls in {r['seconds']} s "
              f"= {r['items_per_s']} items/s ({r['pairs_per_s']} pairs/s; {r['completion_tokens']} completion tokens, "
              f"{r['parse_failures']} parse failures, {r['errors']} errors)")
    print(f"speed-up concurrent / sequential: {ratio:.2f}x")
    print(f"server stats: {json.dumps(server_stats)[:400]}")
    if args.json:
        args.json.write_text(json.dumps({"concurrent": conc, "sequential": seq, "ratio": ratio, "server": server_stats}, indent=2))


if __name__ == "__main__":
    main()
