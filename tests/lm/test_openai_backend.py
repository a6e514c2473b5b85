"""OpenAIBackend against a real local HTTP server (tests/fault_server.py): request mapping,
retries per fault kind, permanent 4xx, API key handling, load balancing, concurrency bound."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from judgelab.errors import ConfigError
from judgelab.lm import make_backend
from judgelab.lm.openai import OpenAIBackend
from judgelab.lm.openai_wire import parse_retry_after
from judgelab.judges.config import JudgeConfig
from judgelab.lm.config import OpenAIBackendConfig
from judgelab.judges.llm import LLMJudge
from judgelab.judges.registry import load_judge
from judgelab.judges.types import PairwiseItem, PointwiseItem
from judgelab.lm.types import GenerationRequest, SamplingParams


def cfg(urls: list[str], **kw) -> OpenAIBackendConfig:
    base = dict(model="judge-model", base_urls=urls, timeout_s=2.0, max_retries=3, backoff_base_s=0.005,
                backoff_max_s=0.02, concurrency=4)
    base.update(kw)
    return OpenAIBackendConfig(**base)


def req(text: str = "Rate this. Score: N", **params) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": text}], params=SamplingParams(**params))


def run(backend: OpenAIBackend, *requests: GenerationRequest):
    async def go():
        try:
            return await asyncio.gather(*(backend.generate(r) for r in requests))
        finally:
            await backend.aclose()

    return asyncio.run(go())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_request_body_usage_and_registry(fault_server):
    srv = fault_server()
    b = make_backend(cfg([srv.url], reasoning_effort="high", extra_body={"chat_template_kwargs": {"x": 1}}))
    assert isinstance(b, OpenAIBackend)
    (g,) = run(b, req(max_new_tokens=33, temperature=0.7, top_p=0.9, seed=5))
    assert g.error is None and g.text == "Score: 7" and g.attempts == 1
    assert g.prompt_tokens > 0 and g.completion_tokens == 3 and g.finish_reason == "stop"
    body = srv.log[0].body
    assert body["model"] == "judge-model" and body["max_tokens"] == 33 and body["temperature"] == 0.7
    assert body["top_p"] == 0.9 and body["seed"] == 5 and body["reasoning_effort"] == "high"
    assert body["chat_template_kwargs"] == {"x": 1}
    assert "authorization" not in {k.lower() for k in srv.log[0].headers}


def test_max_completion_tokens_in_extra_body_replaces_max_tokens(fault_server):
    srv = fault_server()
    run(OpenAIBackend(cfg([srv.url], extra_body={"max_completion_tokens": 99})), req())
    assert "max_tokens" not in srv.log[0].body and srv.log[0].body["max_completion_tokens"] == 99


def test_api_key_sent_but_never_exposed(fault_server, monkeypatch):
    monkeypatch.setenv("JL_TEST_KEY", "sk-secret-123")
    srv = fault_server(script=["400"], reply=lambda t: "Score: 7")
    b = OpenAIBackend(cfg([srv.url], api_key_env="JL_TEST_KEY"))
    g1, = run(b, req("first"))
    assert srv.log[0].headers.get("Authorization") == "Bearer sk-secret-123"
    assert g1.error is not None and "sk-secret-123" not in g1.error
    assert "sk-secret-123" not in repr(b.identity()) and "JL_TEST_KEY" not in repr(b.identity())


def test_missing_api_key_env_is_config_error(monkeypatch):
    monkeypatch.delenv("JL_NOT_SET_KEY", raising=False)
    with pytest.raises(ConfigError, match="JL_NOT_SET_KEY"):
        OpenAIBackend(cfg(["http://127.0.0.1:1/v1"], api_key_env="JL_NOT_SET_KEY"))


def test_identity_has_no_urls():
    a = OpenAIBackend(cfg(["http://user:pw@10.0.0.1:8000/v1"], reasoning_effort="low"))
    b = OpenAIBackend(cfg(["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"], reasoning_effort="low"))
    assert a.identity() == b.identity() == {"type": "openai", "model": "judge-model", "reasoning_effort": "low",
                                            "extra_body": {}}


def test_reasoning_content_kept_as_think_block(fault_server):
    srv = fault_server(reasoning="A is more vivid.")
    judge = load_judge(JudgeConfig(backend=cfg([srv.url]).model_dump()))
    try:
        (v,) = judge.judge([PairwiseItem("p1", "Write a haiku.", "a", "b")])
    finally:
        judge.close()
    assert v.parsed and v.preference == "A" and v.reasoning == "A is more vivid."
    assert v.raw.startswith("<think>A is more vivid.</think>")


@pytest.mark.parametrize("kind", ["timeout", "429", "500", "malformed", "no_choices", "no_content", "drop"])
def test_each_transient_fault_is_retried(fault_server, kind):
    srv = fault_server(script=[kind, kind], hang_s=1.0)
    b = OpenAIBackend(cfg([srv.url], timeout_s=0.3))
    (g,) = run(b, req())
    assert g.error is None and g.text == "Score: 7", g.error
    assert g.attempts == 3 and srv.requests == 3
    assert b.stats.retries == 2 and b.stats.attempts == 3 and sum(b.stats.faults.values()) == 2


def test_4xx_is_permanent(fault_server):
    srv = fault_server(script=["400"])
    b = OpenAIBackend(cfg([srv.url]))
    (g,) = run(b, req())
    assert g.text == "" and g.attempts == 1 and srv.requests == 1
    assert "HTTP 400" in g.error and "permanent" in g.error and "attempts 1" in g.error


def test_gives_up_after_max_retries_without_raising(fault_server):
    srv = fault_server(fault_rate=1.0, kinds=("500",))
    b = OpenAIBackend(cfg([srv.url], max_retries=2))
    (g,) = run(b, req())
    assert g.error is not None and "HTTP 500" in g.error and "attempts 3" in g.error
    assert g.attempts == 3 and srv.requests == 3 and b.stats.failed == 1


def test_connection_refused_is_recorded():
    b = OpenAIBackend(cfg([f"http://127.0.0.1:{free_port()}/v1"], max_retries=1))
    (g,) = run(b, req())
    assert g.error is not None and "connection" in g.error and "attempts 2" in g.error


def test_retry_after_is_honoured_and_capped(fault_server):
    srv = fault_server(script=["429"], retry_after="30")
    b = OpenAIBackend(cfg([srv.url], backoff_max_s=0.2))
    t0 = time.perf_counter()
    (g,) = run(b, req())
    dt = time.perf_counter() - t0
    assert g.error is None and g.attempts == 2
    assert 0.2 <= dt < 5.0  # waited the cap, not 30 s
    assert parse_retry_after("2") == 2.0 and parse_retry_after("junk") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_concurrency_bound_and_load_balancing(fault_server):
    s1, s2 = fault_server(latency_s=0.02), fault_server(latency_s=0.02)
    b = OpenAIBackend(cfg([s1.url, s2.url], concurrency=3))
    gens = run(b, *(req(f"item {i}") for i in range(40)))
    assert all(g.error is None for g in gens)
    assert s1.requests + s2.requests == 40 and s1.requests >= 10 and s2.requests >= 10
    assert s1.max_in_flight + s2.max_in_flight <= 3 + 1  # two servers' maxima may come from different moments
    assert max(s1.max_in_flight, s2.max_in_flight) <= 3


def test_dead_url_is_deprioritised(fault_server):
    live = fault_server()
    dead = f"http://127.0.0.1:{free_port()}/v1"
    b = OpenAIBackend(cfg([dead, live.url], concurrency=2, max_retries=3))
    gens = run(b, *(req(f"item {i}") for i in range(30)))
    assert all(g.error is None for g in gens)
    dead_stats = b.endpoint_stats()[0]
    # Once the dead URL failed a few times in a row it is cooled down: few requests reach it.
    assert dead_stats["requests"] <= 6, b.endpoint_stats()
    assert live.requests == 30


def test_client_is_created_per_event_loop(fault_server):
    srv = fault_server()
    b = OpenAIBackend(cfg([srv.url]))

    async def one():
        return await b.generate(req())

    assert asyncio.run(one()).error is None
    assert asyncio.run(one()).error is None  # a second loop gets its own client
    judge = LLMJudge(JudgeConfig(backend=cfg([srv.url]).model_dump()), backend=b)
    try:
        (v,) = judge.judge([PointwiseItem("x", "Write.", "Words.")])  # the judgelab background loop
    finally:
        judge.close()
    assert v.parsed and v.score == 7.0 and srv.requests == 3
