"""`judgelab serve` with continuous batching (``batching="continuous"``, the CLI's default) over real
HTTP (uvicorn on 127.0.0.1, tiny random model slowed per forward pass): a short request is answered
while a long streamed one is still open; a request larger than the KV cache gets a 400 in the OpenAI
error shape and the server serves the next one; /v1/stats says which batching runs."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from judgelab.lm.continuous import ContinuousOptions
from judgelab.lm.local import LocalGenerator
from judgelab.serve.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lm"))
from uvicorn_thread import serving  # noqa: E402

HI = [{"role": "user", "content": "Say something."}]


def test_a_short_request_is_answered_while_a_long_stream_is_open(tiny_causal_lm) -> None:
    model, tok = tiny_causal_lm
    model.register_forward_hook(lambda *a: time.sleep(0.02))  # 300 tokens: ~6 s of decoding
    app = create_app(LocalGenerator(model, tok), model_name="tiny", batching="continuous",
                     continuous=ContinuousOptions(num_blocks=4))
    events: list[str] = []
    long_body = {"model": "tiny", "messages": HI, "max_tokens": 300, "temperature": 0, "stream": True}
    with serving(app) as base:
        url = base + "/v1/chat/completions"
        tokens_seen = threading.Event()
        hang_up = threading.Event()

        def long_stream() -> None:
            with httpx.stream("POST", url, json=long_body, timeout=60) as r:
                for line in r.iter_lines():
                    if '"content": ""' not in line and '"content"' in line:
                        tokens_seen.set()  # the long request is generating
                    if line == "data: [DONE]":
                        events.append("long done")
                    if hang_up.is_set():
                        events.append("long hung up")
                        return  # closes the connection: the server cancels the request

        t = threading.Thread(target=long_stream)
        t.start()
        assert tokens_seen.wait(30)
        r = httpx.post(url, json={"model": "tiny", "messages": HI, "max_tokens": 2, "temperature": 0}, timeout=30)
        events.append("short answered")
        hang_up.set()
        t.join(30)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 2
        stats = httpx.get(base + "/v1/stats").json()
    assert events[0] == "short answered" and "long done" not in events, events
    assert stats["batching"] == "continuous" and stats["continuous"]["max_in_flight"] == 2
    cont = app.state.serve.continuous
    assert cont.stats.cancelled == 1  # the hung-up stream left the batch
    assert cont._mgr is None  # the server's shutdown stopped the engine's thread


def test_too_large_for_the_cache_is_a_400_and_the_server_serves_on(tiny_causal_lm) -> None:
    app = create_app(LocalGenerator(*tiny_causal_lm), model_name="tiny", batching="continuous",
                     continuous=ContinuousOptions(num_blocks=1))
    body = {"model": "tiny", "messages": HI, "temperature": 0}
    with TestClient(app) as c:
        r = c.post("/v1/chat/completions", json={**body, "max_tokens": 300})
        err = r.json()["error"]
        assert r.status_code == 400 and err["code"] == "context_length_exceeded" and "--cb-blocks" in err["message"]
        r = c.post("/v1/chat/completions", json={**body, "max_tokens": 300, "stream": True})
        assert r.status_code == 400  # refused before the stream starts
        ok = c.post("/v1/chat/completions", json={**body, "max_tokens": 3})
        assert ok.status_code == 200 and ok.json()["usage"]["completion_tokens"] == 3
        seeded = c.post("/v1/chat/completions", json={**body, "max_tokens": 3, "temperature": 0.8, "seed": 1})
        assert seeded.status_code == 200  # the static path, under a pause of the engine
        s = c.get("/v1/stats").json()
        assert s["requests"] == 2 and s["continuous"]["static"] == 1 and s["continuous"]["kv_cache_tokens"] == 256


def test_static_batching_and_models_the_engine_cannot_serve(tiny_causal_lm) -> None:
    model, tok = tiny_causal_lm
    assert create_app(LocalGenerator(model, tok), batching="static").state.serve.continuous is None
    model.generation_config.repetition_penalty = 1.2  # dropped by the engine: static, with a warning
    assert create_app(LocalGenerator(model, tok), batching="continuous").state.serve.continuous is None
    with pytest.raises(ValueError, match="batching"):
        create_app(LocalGenerator(model, tok), batching="dynamic")
