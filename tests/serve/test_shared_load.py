"""`judgelab serve` shared by clients that misbehave, driven by the real `openai` client over real
HTTP (uvicorn on 127.0.0.1; a tiny random model slowed by a sleep per forward pass that grows with
the tokens the pass processes, so a request's time is set by forward passes, not this machine's load):

- a stream abandoned after 3 chunks stops generating (no forward pass once the server is idle
  again) and the next 4-token request answers within 2x its idle latency (continuous batching,
  the CLI's default, and static batching);
- a long-prompt request (one new token) and 8 short ones sent together: every short one finishes
  before the long one, which FIFO order or one unchunked prefill would finish first (continuous
  batching prefills the long prompt in chunks between the short requests' steps).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from pathlib import Path

import pytest

from judgelab.lm.continuous import ContinuousOptions
from judgelab.lm.local import LocalGenerator
from judgelab.serve.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lm"))
from uvicorn_thread import serving  # noqa: E402

HI = [{"role": "user", "content": "Say something."}]
STEP_S = 0.1  # sleep per forward pass (per 128 tokens in it): a 4-token request is ~5 passes, ~0.5 s


def _client(base: str):
    import openai

    return openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)


class Passes:
    """Slows every forward pass by STEP_S per started 128 tokens and counts the passes."""

    def __init__(self, model) -> None:
        self.count = 0
        model.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs, output) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        tokens = int(ids.numel()) if ids is not None else 1
        self.count += 1
        time.sleep(STEP_S * max(1, -(-tokens // 128)))


def _four_tokens(client) -> float:
    t0 = time.perf_counter()
    r = client.chat.completions.create(model="tiny", messages=HI, max_tokens=4, temperature=0)
    assert r.choices[0].message.content is not None
    return time.perf_counter() - t0


@pytest.mark.parametrize("batching", ["continuous", "static"])
def test_an_abandoned_stream_does_not_hold_the_next_request(tiny_causal_lm, batching) -> None:
    model, tok = tiny_causal_lm
    passes = Passes(model)
    gen = LocalGenerator(model, tok)
    app = create_app(gen, model_name="tiny", batching=batching, continuous=ContinuousOptions(num_blocks=8))
    with serving(app) as base:
        client = _client(base)
        _four_tokens(client)  # warm-up (first request builds the engine / caches)
        idle = statistics.median(_four_tokens(client) for _ in range(3))
        # 1000 tokens at 0.1 s a pass: ~100 s if it ran to the end
        stream = client.chat.completions.create(model="tiny", messages=HI, max_tokens=1000, temperature=0,
                                                stream=True)
        chunks = 0
        for _ in stream:
            chunks += 1
            if chunks == 3:
                break
        stream.close()  # the client hangs up
        after = _four_tokens(client)
        before_quiet = passes.count
        time.sleep(10 * STEP_S)  # nothing asked of the server now: an abandoned stream still running would show
        quiet = passes.count - before_quiet
    assert chunks == 3
    assert quiet == 0, f"{batching}: {quiet} forward passes after every client was answered: the stream still runs"
    assert after <= 2 * idle, f"{batching}: 4 tokens took {after:.2f} s after the abandoned stream, {idle:.2f} s idle"


def test_a_long_prompt_does_not_hold_eight_short_requests(tiny_causal_lm) -> None:
    model, tok = tiny_causal_lm
    Passes(model)
    gen = LocalGenerator(model, tok)
    # chunks of 128 prompt tokens: the ~1,500-token prompt needs ~12 passes (or one pass as slow) before its token
    app = create_app(gen, model_name="tiny", batching="continuous",
                     continuous=ContinuousOptions(num_blocks=16, max_batch_tokens=128))
    long_prompt = [{"role": "user", "content": "Summarise this: " + "the cat sat on the mat. " * 250}]
    assert len(tok.apply_chat_template(long_prompt, tokenize=True, return_dict=True)["input_ids"]) > 1000
    done: dict[str, float] = {}
    with serving(app) as base:
        client = _client(base)
        _four_tokens(client)  # warm-up

        def call(name: str, messages: list[dict], max_tokens: int) -> None:
            r = client.chat.completions.create(model="tiny", messages=messages, max_tokens=max_tokens, temperature=0)
            assert r.usage is not None and r.usage.completion_tokens >= 1
            done[name] = time.perf_counter()

        long = threading.Thread(target=call, args=("long", long_prompt, 1))  # done as soon as its prefill is
        long.start()
        time.sleep(2 * STEP_S)  # the long request reaches the server first
        shorts = [threading.Thread(target=call, args=(f"short{i}", HI, 4)) for i in range(8)]
        for t in shorts:
            t.start()
        for t in [long, *shorts]:
            t.join(120)
    assert len(done) == 9, sorted(done)
    last_short = max(v for k, v in done.items() if k != "long")
    assert last_short < done["long"], {k: round(v - done["long"], 2) for k, v in done.items()}
