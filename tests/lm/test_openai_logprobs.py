"""The openai backend's logprobs and response_format: sent as OpenAI's fields, parsed from a real
`judgelab serve` (tiny model, uvicorn on 127.0.0.1) into the same TokenLogprobs the local model
gives in-process; a server that returns none is a Generation error, never a silent None."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from judgelab.lm.config import OpenAIBackendConfig
from judgelab.lm.local import LocalGenerator
from judgelab.lm.openai import OpenAIBackend
from judgelab.lm.types import GenerationRequest, SamplingParams
from judgelab.serve.app import create_app

sys.path.insert(0, str(Path(__file__).resolve().parent))
from uvicorn_thread import serving  # noqa: E402

CHAT = [{"role": "user", "content": "Rate this answer from 1 to 10."}]


def _backend(url: str, **kw) -> OpenAIBackend:
    return OpenAIBackend(OpenAIBackendConfig(model="tiny", base_urls=[url], max_retries=0, timeout_s=60, **kw))


def _run(backend: OpenAIBackend, *reqs: GenerationRequest):
    async def go():
        try:
            return await asyncio.gather(*(backend.generate(r) for r in reqs))
        finally:
            await backend.aclose()

    return asyncio.run(go())


def test_logprobs_over_http_equal_in_process(tiny_causal_lm) -> None:
    import torch

    model, tok = tiny_causal_lm
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)  # a peaked distribution, so differences would show
    gen = LocalGenerator(model, tok)
    p = SamplingParams(max_new_tokens=5, top_logprobs=3)
    (local,) = gen.generate_batch([CHAT], p)
    with serving(create_app(gen, model_name="tiny")) as url:
        (remote,) = _run(_backend(url + "/v1"), GenerationRequest(CHAT, p))
    assert remote.error is None and remote.text == local.text
    assert [t.token for t in remote.logprobs] == [t.token for t in local.logprobs]
    for r, lo in zip(remote.logprobs, local.logprobs):
        assert r.logprob == pytest.approx(lo.logprob, abs=1e-5)
        assert [a for a, _ in r.top] == [a for a, _ in lo.top] and len(r.top) == 3
        assert [v for _, v in r.top] == pytest.approx([v for _, v in lo.top], abs=1e-5)


def test_request_fields_and_a_server_without_logprobs(fault_server) -> None:
    srv = fault_server()
    fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": {"type": "object"}}}
    plain, with_lp = _run(_backend(srv.url), GenerationRequest(CHAT, SamplingParams(response_format=fmt)),
                          GenerationRequest(CHAT, SamplingParams(top_logprobs=5)))
    bodies = sorted((r.body for r in srv.log), key=lambda b: "logprobs" in b)
    assert bodies[0]["response_format"] == fmt and "logprobs" not in bodies[0]
    assert bodies[1]["logprobs"] is True and bodies[1]["top_logprobs"] == 5 and "response_format" not in bodies[1]
    assert plain.error is None and plain.logprobs is None
    # The fault server answers without logprobs: a clear error, not a text with logprobs=None.
    assert with_lp.text == "" and with_lp.logprobs is None
    assert "logprobs were requested but the server returned none" in with_lp.error
    assert srv.requests == 2  # not retried: the same server would answer the same


def test_response_format_refused_by_the_server_is_a_permanent_error(tiny_causal_lm) -> None:
    with serving(create_app(LocalGenerator(*tiny_causal_lm), model_name="tiny")) as url:
        (g,) = _run(_backend(url + "/v1"), GenerationRequest(CHAT, SamplingParams(response_format={"type": "json_object"})))
    assert g.text == "" and "HTTP 400" in g.error and "response_format" in g.error and "permanent" in g.error
