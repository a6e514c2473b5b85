"""`judgelab serve`: OpenAI-compatible API shape (in-process, tiny model) and the acceptance test:
the OpenAI judge backend scoring pointwise and pairwise items through a real server running
SmolLM2-135M, with requests batched across concurrent clients."""

from __future__ import annotations


import httpx
import pytest
from fastapi.testclient import TestClient

from judgelab.lm.local import LocalGenerator
from judgelab.serve.app import create_app


@pytest.fixture
def client(tiny_causal_lm):
    app = create_app(LocalGenerator(*tiny_causal_lm), model_name="tiny", batch_size=4, max_wait_ms=20)
    with TestClient(app) as c:
        yield c


def _body(**kw):
    body = {"model": "tiny", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4, "temperature": 0}
    body.update(kw)
    return body


def test_chat_completion_shape(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", json=_body())
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["object"] == "chat.completion" and d["model"] == "tiny" and d["id"].startswith("chatcmpl-")
    ch = d["choices"][0]
    assert ch["index"] == 0 and ch["message"]["role"] == "assistant" and isinstance(ch["message"]["content"], str)
    assert ch["finish_reason"] in ("stop", "length")
    u = d["usage"]
    assert u["prompt_tokens"] > 0 and 1 <= u["completion_tokens"] <= 4
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    # max_completion_tokens, content parts and a seed are accepted too.
    r2 = client.post("/v1/chat/completions", json=_body(
        max_tokens=None, max_completion_tokens=2, seed=3, temperature=0.8,
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]))
    assert r2.status_code == 200, r2.text
    assert r2.json()["usage"]["completion_tokens"] <= 2


def test_models_health_stats(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == ["tiny"]
    client.post("/v1/chat/completions", json=_body())
    s = client.get("/v1/stats").json()
    assert s["requests"] == 1 and s["batches"] == 1 and s["max_batch_size"] == 1


@pytest.mark.parametrize(
    "payload, param",
    [
        ({"model": "tiny"}, "messages"),
        (_body(messages=[]), "messages"),
        (_body(messages=[{"role": "wizard", "content": "x"}]), "messages.0.role"),
        (_body(temperature=-1), "temperature"),
        (_body(max_tokens=0), "max_tokens"),
        (_body(n=0), "n"),
        (_body(top_logprobs=3), "top_logprobs"),
        (_body(logprobs=True, top_logprobs=21), "top_logprobs"),
        (_body(response_format={"type": "json_object"}), "response_format"),
        (_body(response_format={"type": "json_schema", "json_schema": {"name": "v", "schema": {}}}), "response_format"),
        (_body(tools=[{"type": "function", "function": {"name": "f"}}]), "tools"),
        (_body(frequency_penalty=0.5), "frequency_penalty"),
        (_body(logit_bias={"42": 5}), "logit_bias"),
        (_body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]), "messages"),
    ],
)
def test_malformed_requests_get_openai_400(client: TestClient, payload, param) -> None:
    r = client.post("/v1/chat/completions", json=payload)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"]
    assert err["param"] == param


def test_not_json_and_unknown_model(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = client.post("/v1/chat/completions", json=_body(model="gpt-9"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_openai_client_against_real_server(serve_smollm2: str) -> None:
    """The official openai client talks to our server unchanged."""
    from openai import OpenAI

    c = OpenAI(base_url=serve_smollm2, api_key="unused")
    assert [m.id for m in c.models.list().data] == ["smollm2"]
    r = c.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "What is 2+2?"}],
                                  max_tokens=12, temperature=0)
    assert "4" in r.choices[0].message.content
    assert r.usage.completion_tokens <= 12


def test_acceptance_openai_judge_through_judgelab_serve(serve_smollm2: str) -> None:
    """Pointwise and pairwise items judged concurrently through the real server; it must batch."""
    from judgelab.lm.openai import OpenAIBackend
    from judgelab.judges.config import JudgeConfig
    from judgelab.judges.registry import load_judge
    from judgelab.judges.types import PairwiseItem, PointwiseItem

    before = httpx.get(serve_smollm2 + "/stats").json()
    cfg = JudgeConfig(
        name="smollm2-http",
        backend={"type": "openai", "model": "smollm2", "base_urls": [serve_smollm2], "concurrency": 16, "max_retries": 1},
        sampling={"max_new_tokens": 16},
    )
    judge = load_judge(cfg)
    assert isinstance(judge.backend, OpenAIBackend)
    items: list = []
    for i in range(4):
        items.append(PointwiseItem(id=f"pt{i}", prompt=f"Give a fact about the number {i}.", response=f"{i} is a number."))
        items.append(PairwiseItem(id=f"pw{i}", prompt=f"Greet person {i}.", response_a="Hello!", response_b="Go away."))
    try:
        verdicts = judge.judge(items)
    finally:
        judge.close()
    assert [v.item_id for v in verdicts] == [it.id for it in items]
    for v in verdicts:
        assert v.error is None, v.error
        assert v.parsed or v.parse_error  # a 135M model may not follow the format: still a verdict
        assert v.raw and v.completion_tokens > 0
    assert {v.mode for v in verdicts} == {"pointwise", "pairwise"}
    after = httpx.get(serve_smollm2 + "/stats").json()
    assert after["requests"] - before["requests"] == len(items)
    assert after["max_batch_size"] > 1, after


class _BrokenGenerator:
    """A real TextGenerator whose model always fails (e.g. CUDA OOM)."""

    def generate_batch(self, messages_list, params):
        raise RuntimeError("out of memory")


def test_generation_failure_is_openai_500() -> None:
    with TestClient(create_app(_BrokenGenerator(), model_name="broken")) as c:
        r = c.post("/v1/chat/completions", json=_body(model="broken"))
        assert r.status_code == 500
        assert r.json()["error"]["type"] == "server_error" and "out of memory" in r.json()["error"]["message"]
        assert c.get("/v1/stats").json()["failed_batches"] == 1


# ------------------------------------------------------------------------------ limits


def test_limits_refuse_what_would_hold_the_server(tiny_causal_lm) -> None:
    from judgelab.serve.app import ServeLimits

    app = create_app(LocalGenerator(*tiny_causal_lm), model_name="tiny",
                     limits=ServeLimits(max_body_bytes=20_000, max_input_tokens=300, max_new_tokens=64))
    with TestClient(app) as c:
        r = c.post("/v1/chat/completions", json=_body(messages=[{"role": "user", "content": "x" * 30_000}]))
        assert r.status_code == 413 and "over this server's limit of 20,000" in r.json()["error"]["message"]
        r = c.post("/v1/chat/completions", json=_body(messages=[{"role": "user", "content": "word " * 600}]))
        err = r.json()["error"]
        assert r.status_code == 400 and err["code"] == "context_length_exceeded" and "limit of 300" in err["message"]
        r = c.post("/v1/chat/completions", json=_body(max_tokens=100_000_000))
        assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens"
        assert c.post("/v1/chat/completions", json=_body()).status_code == 200  # within limits: served
        # A chunked body (no Content-Length) is counted as it arrives: 413 once over the limit.
        import json as _json

        big = _json.dumps(_body(messages=[{"role": "user", "content": "x" * 30_000}])).encode()

        def chunks(data: bytes):
            for i in range(0, len(data), 4096):
                yield data[i:i + 4096]

        r = c.post("/v1/chat/completions", content=chunks(big), headers={"content-type": "application/json"})
        assert r.status_code == 413 and "more than 20,000" in r.json()["error"]["message"]
        small = _json.dumps(_body()).encode()
        r = c.post("/v1/chat/completions", content=chunks(small), headers={"content-type": "application/json"})
        assert r.status_code == 200  # a chunked body within the limit is served as it came


class SlowGenerator:
    """A real tiny model whose batches take 0.5 s per requested 10 tokens: the fault a real small
    model cannot produce on demand (a long generation), to see who waits for whom."""

    def __init__(self, inner: LocalGenerator):
        self.inner = inner
        self.batches: list[int] = []

    def generate_batch(self, messages_list, params):
        import time

        self.batches.append(params.max_new_tokens)
        time.sleep(0.05 * params.max_new_tokens)
        return self.inner.generate_batch(messages_list, params)

    def count_tokens(self, messages):
        return self.inner.count_tokens(messages)


def test_abandoned_requests_do_not_delay_a_small_one(tiny_causal_lm) -> None:
    """Three 60-token requests whose clients give up after 0.2 s, then a 2-token request: it waits
    for the one batch already running (3 s), not for the two abandoned ones queued behind it (6 s)."""
    import threading
    import time

    import socket

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gen = SlowGenerator(LocalGenerator(*tiny_causal_lm))
    app = create_app(gen, model_name="tiny", batch_size=1, max_wait_ms=1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)

        def abandon() -> None:
            try:
                httpx.post(url, json=_body(max_tokens=60), timeout=0.2)
            except httpx.TimeoutException:
                pass

        for _ in range(3):
            threading.Thread(target=abandon).start()
            time.sleep(0.05)
        time.sleep(0.6)  # the clients are gone; the server notices within its 0.25 s poll
        t0 = time.monotonic()
        r = httpx.post(url, json=_body(max_tokens=2), timeout=30)
        waited = time.monotonic() - t0
        assert r.status_code == 200
        assert waited < 4.5, f"the small request waited {waited:.1f} s (batches run: {gen.batches})"
        assert gen.batches.count(60) == 1  # only the batch already running when its client left
    finally:
        server.should_exit = True
        th.join(10)


def test_n_choices_and_streaming_with_the_openai_client(tiny_causal_lm) -> None:
    """n > 1 and stream=True, as the real openai client sends and reads them (more in
    tests/serve/test_openai_client.py)."""
    import openai

    app = create_app(LocalGenerator(*tiny_causal_lm), model_name="tiny", batch_size=4, max_wait_ms=20)
    with TestClient(app) as c:
        client = openai.OpenAI(base_url="http://testserver/v1", api_key="x", http_client=c)
        r = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                                           n=3, temperature=1.0, seed=5)
        assert [ch.index for ch in r.choices] == [0, 1, 2] and r.usage.completion_tokens >= 3
        assert len({ch.message.content for ch in r.choices}) >= 2  # different seeds, different samples
        again = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                                               n=3, temperature=1.0, seed=5)
        assert [ch.message.content for ch in again.choices] == [ch.message.content for ch in r.choices]
        plain = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                                               temperature=0)
        stream = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                                                temperature=0, stream=True)
        parts, finish = [], None
        for ev in stream:
            for ch in ev.choices:
                parts.append(ch.delta.content or "")
                finish = ch.finish_reason or finish
        assert "".join(parts) == plain.choices[0].message.content and finish == plain.choices[0].finish_reason
        with pytest.raises(openai.BadRequestError, match="response_format type 'json_object' is not supported"):
            client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}],
                                           response_format={"type": "json_object"})


def test_async_openai_client_concurrent_requests_are_batched(tiny_causal_lm) -> None:
    import asyncio

    import openai

    app = create_app(LocalGenerator(*tiny_causal_lm), model_name="tiny", batch_size=8, max_wait_ms=50)

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            client = openai.AsyncOpenAI(base_url="http://testserver/v1", api_key="x", http_client=http)
            rs = await asyncio.gather(*(client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": f"hi {i}"}], max_tokens=3, temperature=0)
                for i in range(6)))
        await app.state.serve.batcher.aclose()
        return rs

    rs = asyncio.run(go())
    assert all(r.choices[0].message.content is not None for r in rs)
    assert app.state.serve.batcher.stats.requests == 6 and app.state.serve.batcher.stats.batches < 6  # batched across clients


def test_every_error_has_the_openai_shape(tiny_causal_lm) -> None:
    """Issue 25: unknown paths, a model by id, non-UTF-8 and deeply nested bodies answer
    {"error": {...}} (the openai client reads it), not FastAPI's {"detail": ...}."""
    app = create_app(LocalGenerator(*tiny_causal_lm), model_name="tiny")
    with TestClient(app, raise_server_exceptions=False) as c:
        ok = c.get("/v1/models/tiny")
        assert ok.status_code == 200 and ok.json()["id"] == "tiny" and ok.json()["object"] == "model"
        for r, status, code in ((c.get("/v1/models/nope"), 404, "model_not_found"),
                                (c.get("/v1/nothing-here"), 404, "not_found"),
                                (c.get("/v1/chat/completions"), 405, "method_not_allowed"),
                                (c.post("/v1/chat/completions", content=b"\xff\xfe\x00{",
                                        headers={"content-type": "application/json"}), 400, None),
                                (c.post("/v1/chat/completions", content=b"[" * 100_000 + b"]" * 100_000,
                                        headers={"content-type": "application/json"}), 400, None)):
            body = r.json()
            assert r.status_code == status and "detail" not in body and body["error"]["message"], (r.status_code, body)
            if code:
                assert body["error"]["code"] == code


def test_tool_choice_without_tools_and_tool_calls_in_the_history_are_refused(tiny_causal_lm) -> None:
    app = create_app(LocalGenerator(*tiny_causal_lm), model_name="tiny")
    with TestClient(app) as c:
        r = c.post("/v1/chat/completions", json=_body(tool_choice="auto"))
        assert r.status_code == 400 and r.json()["error"]["param"] == "tool_choice"
        history = [{"role": "user", "content": "hi"},
                   {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                                          "function": {"name": "f", "arguments": "{}"}}]},
                   {"role": "tool", "content": "42", "tool_call_id": "c1"}]
        r = c.post("/v1/chat/completions", json=_body(messages=history))
        assert r.status_code == 400 and r.json()["error"]["param"] == "messages.1"
        assert c.post("/v1/chat/completions", json=_body(tool_choice="none")).status_code == 200
