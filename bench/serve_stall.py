"""How long one long request stalls a short one on `judgelab serve`: static vs continuous batching.

For each ``--batching`` mode, a fresh `judgelab serve` (SmolLM2-135M-Instruct, ``smollm2-135m-instruct``)
is started on a free port, warmed up with one small request, then sent:

- a long request: a chat prompt of about ``--prompt-tokens`` tokens, ``max_tokens=--long-max-tokens``
  (200), greedy;
- ``--delay-s`` (1 s) later, a short one: a few-token prompt, ``max_tokens=4``, greedy.

It prints the short request's latency (sent -> answered) and the long one's under each mode, side by
side, and the ratio static / continuous. Under static batching the short request waits for the long
batch to end (prefill and every decoding step); under continuous batching it joins the running batch
and waits for at most one prefill chunk (``--cb-max-batch-tokens``, 256 on CPU). Each server is
stopped before the next starts (two busy servers on a small CPU slow both).

    python bench/serve_stall.py                        # ~2,000-token prompt, 200 + 4 tokens
    python bench/serve_stall.py --prompt-tokens 7000 --threads 2
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

import httpx

MODEL = "smollm2-135m-instruct"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(batching: str, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-c", "from judgelab.cli import main; main()", "serve", "--model", MODEL, "--port", str(port),
           "--served-model-name", "m", "--batching", batching]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"judgelab serve --batching {batching} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return proc, base + "/v1/chat/completions"
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not start within 300 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ask(url: str, content: str, max_tokens: int, out: dict, key: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "temperature": 0}
    t0 = time.perf_counter()
    r = httpx.post(url, json=body, timeout=3600)
    r.raise_for_status()
    out[key] = time.perf_counter() - t0
    out[key + "_tokens"] = r.json()["usage"]


def measure(batching: str, args: argparse.Namespace) -> dict:
    # about 10 SmolLM2 tokens per clause
    clause = "item{} is a word about apples and rivers."
    filler = " ".join(clause.format(i) for i in range(args.prompt_tokens // 10))
    proc, url = start(batching, args.threads)
    try:
        warm: dict = {}
        ask(url, "Hello!", 2, warm, "warm")
        out: dict = {}
        long = threading.Thread(target=ask, args=(url, "Summarise this text:\n" + filler, args.long_max_tokens, out,
                                                  "long"))
        long.start()
        time.sleep(args.delay_s)
        ask(url, "What is the capital of France?", 4, out, "short")
        long.join()
    finally:
        stop(proc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompt-tokens", type=int, default=2000, help="about this many prompt tokens in the long request")
    ap.add_argument("--long-max-tokens", type=int, default=200)
    ap.add_argument("--delay-s", type=float, default=1.0, help="the short request is sent this long after the long one")
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the server")
    args = ap.parse_args()
    res = {mode: measure(mode, args) for mode in ("static", "continuous")}
    print(f"long request: {res['static']['long_tokens']['prompt_tokens']} prompt tokens, "
          f"{res['static']['long_tokens']['completion_tokens']} completion tokens; short request sent "
          f"{args.delay_s:g} s later, max_tokens 4; server threads {args.threads}")
    print(f"{'':28}{'static':>10}{'continuous':>12}")
    for key, what in (("short", "short request latency (s)"), ("long", "long request latency (s)")):
        print(f"{what:28}{res['static'][key]:>10.2f}{res['continuous'][key]:>12.2f}")
    print(f"short request: static / continuous = {res['static']['short'] / res['continuous']['short']:.1f}x")


if __name__ == "__main__":
    main()
