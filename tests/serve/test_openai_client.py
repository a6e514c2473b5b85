"""`judgelab serve` with the real `openai` client, sync (openai.OpenAI) and async
(openai.AsyncOpenAI), over real HTTP (uvicorn on 127.0.0.1, tiny random model): chat and text
completions, n > 1, logprobs/top_logprobs in both shapes, streaming with usage, and 400s that name
what is unsupported."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from judgelab.lm.local import LocalGenerator
from judgelab.lm.types import SamplingParams
from judgelab.serve.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lm"))
from uvicorn_thread import serving  # noqa: E402

HI = [{"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def served():
    """(base URL .../v1, the in-process generator behind it), one server for the module."""
    import torch

    from judgelab.models.testing import tiny_model

    model, tok = tiny_model("causal-lm")
    with torch.no_grad():
        model.lm_head.weight.mul_(3.0)  # less flat than random (logprobs ~ -7, not -10.8 everywhere)
    gen = LocalGenerator(model, tok)
    with serving(create_app(gen, model_name="tiny", batch_size=8, max_wait_ms=20)) as url:
        yield url + "/v1", gen


def _sync(url: str):
    import openai

    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0)


def test_chat_logprobs_sync(served) -> None:
    url, gen = served
    client = _sync(url)
    r = client.chat.completions.create(model="tiny", messages=HI, max_tokens=5, temperature=0, logprobs=True,
                                       top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert "".join(t.token for t in content) == r.choices[0].message.content
    (local,) = gen.generate_batch([HI], SamplingParams(max_new_tokens=5, top_logprobs=3))
    assert [t.logprob for t in content] == pytest.approx([t.logprob for t in local.logprobs], abs=1e-5)
    for t in content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 3 and bytes(t.bytes).decode() == t.token
        assert [a.logprob for a in t.top_logprobs] == sorted((a.logprob for a in t.top_logprobs), reverse=True)
        assert t.top_logprobs[0].token == t.token  # greedy
    # logprobs alone: each token's own logprob, no alternatives; without logprobs: null.
    r1 = client.chat.completions.create(model="tiny", messages=HI, max_tokens=3, temperature=0, logprobs=True)
    assert all(t.top_logprobs == [] for t in r1.choices[0].logprobs.content) and r1.choices[0].logprobs.content
    r0 = client.chat.completions.create(model="tiny", messages=HI, max_tokens=3, temperature=0)
    assert r0.choices[0].logprobs is None


def test_text_completions_sync(served) -> None:
    url, gen = served
    client = _sync(url)
    r = client.completions.create(model="tiny", prompt="The capital of France is", max_tokens=4, temperature=0,
                                  logprobs=2)
    (local,) = gen.generate_batch(["The capital of France is"], SamplingParams(max_new_tokens=4, top_logprobs=2))
    ch = r.choices[0]
    assert r.object == "text_completion" and ch.text == local.text
    lp = ch.logprobs
    assert "".join(lp.tokens) == ch.text and lp.text_offset[0] == 0
    assert lp.token_logprobs == pytest.approx([t.logprob for t in local.logprobs], abs=1e-5)
    for tok, top in zip(lp.tokens, lp.top_logprobs):
        assert tok in top and 2 <= len(top) <= 3 and all(v <= 0 for v in top.values())
    assert r.usage.prompt_tokens == gen.count_tokens("The capital of France is")
    # A list of prompts with n=2: prompt-major choices, each prompt's tokens counted once.
    many = client.completions.create(model="tiny", prompt=["one", "two words"], max_tokens=3, n=2, temperature=1.0,
                                     seed=3)
    assert [c.index for c in many.choices] == [0, 1, 2, 3]
    assert many.usage.prompt_tokens == gen.count_tokens("one") + gen.count_tokens("two words")
    assert many.usage.completion_tokens >= 4


def test_streaming_n2_with_usage_sync(served) -> None:
    url, _ = served
    client = _sync(url)
    kw = dict(model="tiny", messages=HI, max_tokens=4, temperature=1.0, seed=9, n=2)
    full = client.chat.completions.create(**kw)
    texts: dict[int, str] = {0: "", 1: ""}
    finish: dict[int, str] = {}
    usage = None
    for ev in client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}):
        if ev.usage is not None:
            usage = ev.usage
        for ch in ev.choices:
            texts[ch.index] += ch.delta.content or ""
            if ch.finish_reason:
                finish[ch.index] = ch.finish_reason
    assert [texts[i] for i in (0, 1)] == [c.message.content for c in full.choices]
    assert finish == {c.index: c.finish_reason for c in full.choices}
    assert usage is not None and usage.completion_tokens == full.usage.completion_tokens
    # Text completions stream too.
    parts = [c.text for ev in client.completions.create(model="tiny", prompt="abc", max_tokens=3, temperature=0,
                                                            stream=True) for c in ev.choices]
    plain = client.completions.create(model="tiny", prompt="abc", max_tokens=3, temperature=0)
    assert "".join(parts) == plain.choices[0].text


@pytest.mark.parametrize("call, match", [
    (lambda c: c.chat.completions.create(model="tiny", messages=HI, response_format={"type": "json_object"}),
     "response_format type 'json_object' is not supported"),
    (lambda c: c.chat.completions.create(model="tiny", messages=HI, top_logprobs=2), "top_logprobs needs logprobs"),
    (lambda c: c.chat.completions.create(model="tiny", messages=HI, tools=[
        {"type": "function", "function": {"name": "f", "parameters": {}}}]), "tools are not supported"),
    (lambda c: c.chat.completions.create(model="tiny", messages=HI, presence_penalty=1.0), "presence_penalty"),
    (lambda c: c.completions.create(model="tiny", prompt="x", echo=True), "echo is not supported"),
    (lambda c: c.completions.create(model="tiny", prompt=[1, 2, 3]), "token-id prompts are not supported"),
    (lambda c: c.completions.create(model="tiny", prompt="x", best_of=3), "best_of"),
])
def test_unsupported_is_a_400_with_a_message(served, call, match) -> None:
    import openai

    with pytest.raises(openai.BadRequestError, match=match) as e:
        call(_sync(served[0]))
    assert e.value.status_code == 400 and e.value.body["type"] == "invalid_request_error"


def test_unknown_model_is_404(served) -> None:
    import openai

    with pytest.raises(openai.NotFoundError, match="does not exist"):
        _sync(served[0]).completions.create(model="gpt-9", prompt="x")


def test_async_client_all_shapes_concurrently(served) -> None:
    import openai

    url, gen = served

    async def go():
        client = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)
        chats = [client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": f"item {i}"}],
                                                max_tokens=3, temperature=0, logprobs=True, top_logprobs=2)
                 for i in range(4)]
        comp = client.completions.create(model="tiny", prompt="Once upon", max_tokens=3, temperature=0, logprobs=1)
        out = await asyncio.gather(*chats, comp)
        parts = []
        async for ev in await client.chat.completions.create(model="tiny", messages=HI, max_tokens=3, temperature=0,
                                                             stream=True):
            parts.extend(c.delta.content or "" for c in ev.choices)
        with pytest.raises(openai.BadRequestError, match="response_format"):
            await client.chat.completions.create(model="tiny", messages=HI,
                                                 response_format={"type": "json_schema", "json_schema": {"name": "x"}})
        await client.close()
        return out, "".join(parts)

    import httpx

    before = httpx.get(url + "/stats").json()
    (*chats, comp), streamed = asyncio.run(go())
    after = httpx.get(url + "/stats").json()
    # 6 generations (4 chats, 1 completion, 1 stream); the 4 concurrent chats share batches.
    assert after["requests"] - before["requests"] == 6
    assert after["batches"] - before["batches"] < 6, (before, after)
    for i, r in enumerate(chats):
        (local,) = gen.generate_batch([[{"role": "user", "content": f"item {i}"}]],
                                         SamplingParams(max_new_tokens=3, top_logprobs=2))
        assert r.choices[0].message.content == local.text
        assert [t.logprob for t in r.choices[0].logprobs.content] == pytest.approx(
            [t.logprob for t in local.logprobs], abs=1e-4)
    assert comp.choices[0].logprobs.tokens and all(v <= 0 for v in comp.choices[0].logprobs.token_logprobs)
    (plain,) = gen.generate_batch([HI], SamplingParams(max_new_tokens=3))
    assert streamed == plain.text


def test_streaming_is_incremental_and_equals_the_full_answer(served) -> None:
    """Chunks arrive while the batch is still generating (the model's forward-pass count when the
    first text chunk reaches the client is below the final count), and the streamed text and
    logprobs equal the non-streamed ones, with and without a stop string."""
    import time as _time

    url, gen = served
    client = _sync(url)
    forwards = [0]

    def slow(module, args, output):
        forwards[0] += 1
        _time.sleep(0.05)  # a decode step a client can overtake

    hook = gen.model.register_forward_hook(slow)
    try:
        msgs = [{"role": "user", "content": "count"}]
        sampled = dict(temperature=1.0, seed=5)  # a random model's greedy text repeats one token; samples vary
        full = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=8, logprobs=True, top_logprobs=2,
                                              **sampled)
        total_before = forwards[0]
        seen_at_first, parts, lps = None, [], []
        for ev in client.chat.completions.create(model="tiny", messages=msgs, max_tokens=8, stream=True,
                                                 logprobs=True, top_logprobs=2, **sampled):
            for ch in ev.choices:
                if ch.delta.content and seen_at_first is None:
                    seen_at_first = forwards[0] - total_before
                parts.append(ch.delta.content or "")
                if ch.logprobs:
                    lps.extend(ch.logprobs.content)
        streamed_forwards = forwards[0] - total_before
    finally:
        hook.remove()
    assert "".join(parts) == full.choices[0].message.content
    assert len([p for p in parts if p]) >= 2  # more than one text chunk
    assert seen_at_first is not None and seen_at_first < streamed_forwards, (seen_at_first, streamed_forwards)
    assert [(t.token, round(t.logprob, 5)) for t in lps] == [
        (t.token, round(t.logprob, 5)) for t in full.choices[0].logprobs.content]
    # A stop string: the stream ends where the full answer is cut, with finish_reason "stop".
    text = full.choices[0].message.content
    assert len(set(text)) > 2, text  # a varied text, so the stop string below cuts inside it
    stop = text[len(text) // 2: len(text) // 2 + 3]
    cut = client.chat.completions.create(model="tiny", messages=msgs, max_tokens=8, stop=[stop], **sampled)
    assert cut.choices[0].message.content == text[: text.find(stop)] and cut.choices[0].finish_reason == "stop"
    evs = list(client.chat.completions.create(model="tiny", messages=msgs, max_tokens=8, stop=[stop], stream=True,
                                              **sampled))
    assert "".join(c.delta.content or "" for e in evs for c in e.choices) == cut.choices[0].message.content
    assert [c.finish_reason for e in evs for c in e.choices if c.finish_reason] == ["stop"]


def test_completion_stream_logprob_offsets(served) -> None:
    url, _ = served
    client = _sync(url)
    kw = dict(model="tiny", prompt="Numbers:", max_tokens=6, temperature=1.0, seed=2, logprobs=1)
    full = client.completions.create(**kw)
    tokens, offsets, text = [], [], ""
    for ev in client.completions.create(**kw, stream=True):
        for c in ev.choices:
            text += c.text
            if c.logprobs:
                tokens += c.logprobs.tokens
                offsets += c.logprobs.text_offset
    assert text == full.choices[0].text
    assert tokens == full.choices[0].logprobs.tokens and offsets == full.choices[0].logprobs.text_offset
    assert len(tokens) == 6 and offsets[-1] > 0


class RecordingGenerator(LocalGenerator):
    """The local model, recording the max_new_tokens of every batch it runs."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.batches: list[int] = []
        self.generated: list[int] = []  # tokens each batch actually generated (its longest row)

    def _generate_batch(self, messages_list, params, should_stop=None):
        self.batches.append(params.max_new_tokens)
        out = super()._generate_batch(messages_list, params, should_stop)
        self.generated.append(max(g.completion_tokens for g in out))
        return out


def test_abandoned_streams_leave_the_queue(tiny_causal_lm) -> None:
    """Streams whose clients hang up stop generating (issue 25: they ran to max_tokens while every
    other client waited); a later request is served (batch size 1, a slowed model)."""
    import threading
    import time as _time

    import httpx

    model, tok = tiny_causal_lm
    gen = RecordingGenerator(model, tok)
    model.register_forward_hook(lambda *a: _time.sleep(0.03))
    body = {"model": "tiny", "messages": HI, "max_tokens": 40, "temperature": 0, "stream": True}
    with serving(create_app(gen, model_name="tiny", batch_size=1, max_wait_ms=1)) as base:
        url = base + "/v1/chat/completions"

        def hang_up_after_first_event() -> None:
            with httpx.stream("POST", url, json=body, timeout=30) as r:
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        return  # closes the connection

        first = threading.Thread(target=hang_up_after_first_event)
        first.start()
        deadline = _time.monotonic() + 20
        while not gen.batches and _time.monotonic() < deadline:
            _time.sleep(0.01)
        assert gen.batches == [40]  # the first stream's batch is running
        queued = [threading.Thread(target=hang_up_after_first_event) for _ in range(2)]
        for t in queued:
            t.start()
        for t in [first, *queued]:
            t.join(30)
        _time.sleep(0.5)  # the server sees the hang-ups
        r = httpx.post(url, json={**body, "stream": False, "max_tokens": 2}, timeout=60)
        assert r.status_code == 200
    # Every abandoned stream stopped a few tokens after its client hung up (or never ran, when it
    # hung up while queued); the last request ran its 2 tokens.
    assert gen.batches[0] == 40 and gen.batches[-1] == 2 and len(gen.batches) <= 4, gen.batches
    assert all(n < 40 for n in gen.generated[:-1]), gen.generated


def test_a_request_cut_by_shutdown_gets_a_json_503(tiny_causal_lm, caplog) -> None:
    """SIGTERM (uvicorn's should_exit) while a request is generating: after the graceful window the
    client gets 503 in the OpenAI error shape, not a plain-text 500 and a logged traceback."""
    import socket
    import threading
    import time as _time

    import httpx
    import uvicorn

    model, tok = tiny_causal_lm
    gen = RecordingGenerator(model, tok)
    model.register_forward_hook(lambda *a: _time.sleep(0.05))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(gen, model_name="tiny", batch_size=1), host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=1))
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    while not server.started:
        _time.sleep(0.02)
    got: dict = {}

    def call() -> None:
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60,
                       json={"model": "tiny", "messages": HI, "max_tokens": 400, "temperature": 0})
        got["status"], got["body"] = r.status_code, r.json()

    client = threading.Thread(target=call)
    client.start()
    deadline = _time.monotonic() + 20
    while not gen.batches and _time.monotonic() < deadline:
        _time.sleep(0.01)
    server.should_exit = True  # what SIGTERM does
    client.join(30)
    th.join(30)
    assert got["status"] == 503 and got["body"]["error"]["code"] == "server_shutting_down", got
    assert "Exception in ASGI application" not in caplog.text
