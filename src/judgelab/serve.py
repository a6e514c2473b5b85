"""`judgelab serve`: an OpenAI-compatible HTTP server over a local model.

Endpoints: POST /v1/chat/completions, GET /v1/models, GET /health, GET /v1/stats (batching
counters). Concurrent requests are batched by judgelab.lm.batcher.DynamicBatcher, so the OpenAI
judge backend (or any OpenAI client) gets batched throughput from a local model. Errors use the
OpenAI shape ``{"error": {"message", "type", "param", "code"}}``; malformed requests get 400.

Reads: model weights (judgelab.models spec). Writes nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import asynccontextmanager
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
    # Unknown OpenAI fields (reasoning_effort, logprobs, user...) are ignored, as vLLM does.
    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    n: int = 1
    stop: str | list[str] | None = None
    stream: bool = False


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
) -> FastAPI:
    """Build the app. A spec string is loaded now (so the server is healthy only once it can answer)."""
    if isinstance(spec_or_generator, str):
        generator: TextGenerator = LocalGenerator.from_spec(spec_or_generator, device=device, dtype=dtype, options=options)
        spec = spec_or_generator
    else:
        generator, spec = spec_or_generator, None
    served = model_name or spec or "local"
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
    async def chat_completions(req: ChatCompletionRequest) -> JSONResponse:
        if req.model not in aliases:
            raise _BadRequest(f"The model '{req.model}' does not exist (serving '{served}').", "model", 404,
                              "model_not_found")
        if req.n != 1:
            raise _BadRequest("only n=1 is supported", "n")
        if req.stream:
            raise _BadRequest("stream=true is not supported", "stream")
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
        params = SamplingParams(
            max_new_tokens=req.max_completion_tokens or req.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=req.temperature,
            top_p=req.top_p,
            seed=req.seed,
        )
        gen = await batcher.submit(messages, params)
        if gen.error is not None:
            return _error(500, f"generation failed: {gen.error}", "server_error")
        text, finish = gen.text, gen.finish_reason or "stop"
        stops = [req.stop] if isinstance(req.stop, str) else (req.stop or [])
        cuts = [text.find(s) for s in stops if s and s in text]
        if cuts:
            text, finish = text[: min(cuts)], "stop"
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": served,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": gen.prompt_tokens,
                "completion_tokens": gen.completion_tokens,
                "total_tokens": gen.prompt_tokens + gen.completion_tokens,
            },
        }
        return JSONResponse(body)

    return app
