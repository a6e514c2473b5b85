"""`judgelab serve` shared by clients that misbehave, driven by the real `openai` client over real
HTTP (uvicorn on 127.0.0.1; a tiny random model slowed by a fixed sleep per forward pass, so a
request's time is counted in forward passes, not in this machine's load):

- a stream abandoned after 3 chunks stops generating: the next 4-token request answers within 2x
  its idle latency (continuous batching, the CLI's default, and static batching);
- a long-prompt request and 8 short ones sent together: every short one finishes before the long
  one (continuous batching prefills the long prompt in chunks between the short requests' steps).
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
STEP_S = 0.05  # sleep per forward pass: a 4-token request is ~5 passes, ~0.25 s


def _client(base: str):
    import openai

    return openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0, timeout=120)


def _slow(model):
    model.register_forward_hook(lambda *a: time.sleep(STEP_S))
    return model


def _four_tokens(client) -> float:
    t0 = time.perf_counter()
    r = client.chat.completions.create(model="tiny", messages=HI, max_tokens=4, temperature=0)
    assert r.choices[0].message.content is not None
    return time.perf_counter() - t0


@pytest.mark.parametrize("batching", ["continuous", "static"])
def test_an_abandoned_stream_does_not_hold_the_next_request(tiny_causal_lm, batching) -> None:
    model, tok = tiny_causal_lm
    gen = LocalGenerator(_slow(model), tok)
    app = create_app(gen, model_name="tiny", batching=batching, continuous=ContinuousOptions(num_blocks=8))
    with serving(app) as base:
        client = _client(base)
        _four_tokens(client)  # warm-up (first request builds the engine / caches)
        idle = statistics.median(_four_tokens(client) for _ in range(3))
        # 1000 tokens at 0.05 s a pass: ~50 s if it ran to the end
        stream = client.chat.completions.create(model="tiny", messages=HI, max_tokens=1000, temperature=0,
                                                stream=True)
        chunks = 0
        for _ in stream:
            chunks += 1
            if chunks == 3:
                break
        stream.close()  # the client hangs up
        after = _four_tokens(client)
    assert chunks == 3
    assert after <= 2 * idle, f"{batching}: 4 tokens took {after:.2f} s after the abandoned stream, {idle:.2f} s idle"


def test_a_long_prompt_does_not_hold_eight_short_requests(tiny_causal_lm) -> None:
    model, tok = tiny_causal_lm
    gen = LocalGenerator(_slow(model), tok)
    # chunks of 128 prompt tokens: the ~1,500-token prompt needs ~12 passes before its first token
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

        long = threading.Thread(target=call, args=("long", long_prompt, 20))
        long.start()
        time.sleep(3 * STEP_S)  # the long request is in the engine first
        shorts = [threading.Thread(target=call, args=(f"short{i}", HI, 4)) for i in range(8)]
        for t in shorts:
            t.start()
        for t in [long, *shorts]:
            t.join(120)
    assert len(done) == 9, sorted(done)
    last_short = max(v for k, v in done.items() if k != "long")
    assert last_short < done["long"], {k: round(v - done["long"], 2) for k, v in done.items()}
