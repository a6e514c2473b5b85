"""`judgelab serve`: an OpenAI-compatible HTTP server over a local model.

Endpoints: POST /v1/chat/completions, GET /v1/models, GET /health, GET /v1/stats (batching
counters). Concurrent requests are batched by judgelab.lm.batcher.DynamicBatcher, so the OpenAI
judge backend (or any OpenAI client) gets batched throughput from a local model. Errors use the
OpenAI shape ``{"error": {"message", "type", "param", "code"}}``; malformed requests get 400.

Limits (``ServeLimits``), so one client cannot hold the server: a body over ``max_body_bytes`` gets
413 before it is parsed; a prompt over ``max_input_tokens`` and a ``max_tokens`` over
``max_new_tokens`` get 400 naming the limit; a request that takes longer than ``request_timeout_s``
gets 504; a request whose client disconnects is cancelled (dropped from its batch if it has not
started).

Reads: model weights (judgelab.models spec). Writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from judgelab.lm.batcher import DynamicBatcher, TextGenerator
from judgelab.lm.local import GenerationOptions, LocalGenerator
from judgelab.lm.types import SamplingParams

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 256


@dataclass
class ServeLimits:
    max_body_bytes: int = 1_000_000
    max_input_tokens: int = 8192
    max_new_tokens: int = 4096
    request_timeout_s: float = 600.0


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    # A string, or OpenAI content parts ([{"type": "text", "text": ...}]); only text is supported.
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _BadRequest(f"unsupported content part type {part.get('type')!r} (only 'text')", "messages")
            parts.append(part["text"])
        return "".join(parts)


class ChatCompletionRequest(BaseModel):
    # Unknown OpenAI fields (reasoning_effort, user...) are ignored, as vLLM does; known ones this
    # server cannot honour (logprobs, response_format, tools) get a 400 (_refuse_unsupported).
    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    n: int = Field(1, ge=1, le=16)
    stop: str | list[str] | None = None
    stream: bool = False
    logprobs: bool | None = None
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None


def _refuse_unsupported(req: ChatCompletionRequest) -> None:
    """What this server cannot do is a clear 400, never a silently ignored field."""
    if req.logprobs or req.top_logprobs:
        raise _BadRequest("logprobs are not supported by judgelab serve yet", "logprobs", code="unsupported_parameter")
    if req.response_format and req.response_format.get("type", "text") != "text":
        raise _BadRequest(f"response_format type {req.response_format.get('type')!r} is not supported (only 'text')",
                          "response_format", code="unsupported_parameter")
    if req.tools:
        raise _BadRequest("tools are not supported", "tools", code="unsupported_parameter")


def _as_stream(body: dict[str, Any]) -> Any:
    """The completed response as OpenAI's server-sent events: a role chunk, one content chunk per
    choice, a finish chunk, then [DONE]. (The generator is not incremental: the text arrives in one
    chunk once it is complete.)"""
    import json

    from fastapi.responses import StreamingResponse

    def chunk(choices: list[dict[str, Any]]) -> str:
        c = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"], "model": body["model"],
             "choices": choices}
        return f"data: {json.dumps(c)}\n\n"

    def events() -> Any:
        for ch in body["choices"]:
            i = ch["index"]
            yield chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            yield chunk([{"index": i, "delta": {"content": ch["message"]["content"]}, "finish_reason": None}])
            yield chunk([{"index": i, "delta": {}, "finish_reason": ch["finish_reason"]}])
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400, code: str | None = None,
                 type_: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.status, self.code, self.type = message, param, status, code, type_


def _error(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
           code: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": type_, "param": param, "code": code}})


def create_app(
    spec_or_generator: str | TextGenerator,
    model_name: str | None = None,
    batch_size: int = 8,
    max_wait_ms: float = 5.0,
    *,
    device: str = "auto",
    dtype: str = "auto",
    options: GenerationOptions | None = None,
    limits: ServeLimits | None = None,
) -> FastAPI:
    """Build the app. A spec string is loaded now (so the server is healthy only once it can answer)."""
    if isinstance(spec_or_generator, str):
        generator: TextGenerator = LocalGenerator.from_spec(spec_or_generator, device=device, dtype=dtype, options=options)
        spec = spec_or_generator
    else:
        generator, spec = spec_or_generator, None
    limits = limits or ServeLimits()
    served = model_name or spec or "local"
    count_tokens = getattr(generator, "count_tokens", None)
    aliases = {served} | ({spec} if spec else set())
    batcher = DynamicBatcher(generator, batch_size=batch_size, max_wait_ms=max_wait_ms)
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await batcher.aclose()

    app = FastAPI(title="judgelab serve", lifespan=lifespan)
    app.state.batcher = batcher
    app.state.model_name = served
    app.state.limits = limits

    app.add_middleware(_BodyLimit, limit=limits.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        param = ".".join(loc) or None
        msg = f"{param}: {err.get('msg')}" if param else str(err.get("msg"))
        return _error(400, msg, param=param)

    @app.exception_handler(_BadRequest)
    async def _bad(request: Request, exc: _BadRequest) -> JSONResponse:
        return _error(exc.status, exc.message, exc.type, exc.param, exc.code)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": served, "object": "model", "created": created, "owned_by": "judgelab"}]}

    @app.get("/v1/stats")
    async def stats() -> dict[str, Any]:
        return {"model": served, "batch_size": batcher.batch_size, **batcher.stats.to_dict()}

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatCompletionRequest, request: Request) -> JSONResponse:
        if req.model not in aliases:
            raise _BadRequest(f"The model '{req.model}' does not exist (serving '{served}').", "model", 404,
                              "model_not_found")
        _refuse_unsupported(req)
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
        max_new = req.max_completion_tokens or req.max_tokens or min(DEFAULT_MAX_TOKENS, limits.max_new_tokens)
        if max_new > limits.max_new_tokens:
            raise _BadRequest(f"max_tokens={max_new} is over this server's limit of {limits.max_new_tokens} "
                              "(judgelab serve --max-new-tokens)", "max_tokens")
        if count_tokens is not None:
            n_in = await asyncio.to_thread(count_tokens, messages)
            if n_in > limits.max_input_tokens:
                raise _BadRequest(f"the prompt has {n_in} tokens, over this server's limit of {limits.max_input_tokens} "
                                  "(judgelab serve --max-input-tokens)", "messages", code="context_length_exceeded")
        # n choices = n requests (seeds seed, seed+1, ...), batched together by the batcher.
        seeds = [None if req.seed is None else req.seed + i for i in range(req.n)]
        work = asyncio.gather(*(batcher.submit(messages, SamplingParams(max_new_tokens=max_new, temperature=req.temperature,
                                                                          top_p=req.top_p, seed=sd)) for sd in seeds))
        gens = await _until_disconnect(work, request, limits.request_timeout_s)
        if gens is None:  # the client left: nothing to answer
            return _error(499, "client disconnected", "client_closed_request")
        failed = [g.error for g in gens if g.error is not None]
        if failed:
            return _error(500, f"generation failed: {failed[0]}", "server_error")
        stops = [req.stop] if isinstance(req.stop, str) else (req.stop or [])
        choices = []
        for i, gen in enumerate(gens):
            text, finish = gen.text, gen.finish_reason or "stop"
            cuts = [text.find(s) for s in stops if s and s in text]
            if cuts:
                text, finish = text[: min(cuts)], "stop"
            choices.append({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                            "logprobs": None})
        prompt_tokens = gens[0].prompt_tokens
        completion_tokens = sum(g.completion_tokens for g in gens)
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": served,
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        if req.stream:
            return _as_stream(body)
        return JSONResponse(body)

    @app.post("/v1/completions")
    async def completions() -> JSONResponse:
        raise _BadRequest("/v1/completions (raw text prompts) is not supported by judgelab serve yet; "
                          "send chat messages to /v1/chat/completions", None, 400, "unsupported_endpoint")

    return app


class _BodyLimit:
    """Pure ASGI middleware (unlike @app.middleware it keeps the client's disconnect visible to
    the endpoint): a declared body over ``limit`` bytes gets 413 before anything reads it."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            size = dict(scope.get("headers") or []).get(b"content-length", b"")
            if size.isdigit() and int(size) > self.limit:
                resp = _error(413, f"request body of {int(size):,} bytes is over this server's limit of "
                              f"{self.limit:,} (judgelab serve --max-body-bytes)", code="body_too_large")
                await resp(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _until_disconnect(coro: Any, request: Request, timeout_s: float) -> Any:
    """Await ``coro`` unless the client disconnects first (then cancel it: a queued request leaves
    its batch) or it takes over ``timeout_s`` (504). Returns None on disconnect."""
    task = asyncio.ensure_future(coro)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.25)
            if done:
                return task.result()
            if await request.is_disconnected():
                log.info("client disconnected: request cancelled")
                return None
            if time.monotonic() > deadline:
                raise _BadRequest(f"the request took over {timeout_s:g} s (judgelab serve --request-timeout-s)",
                                  None, 504, "timeout", "server_error")
    finally:
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
