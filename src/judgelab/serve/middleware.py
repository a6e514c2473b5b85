"""What ``judgelab serve`` answers when a request cannot be served, in the OpenAI error shape
(``{"error": {...}}``, which the openai client reads): validation errors, unknown paths and
methods, non-UTF-8 and too-deep bodies, bodies over the size limit (declared or chunked), and
requests cut by the server's shutdown. ``install_error_handling`` puts them on an app.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from judgelab.serve.schemas import BadRequest, error_response

log = logging.getLogger(__name__)


def install_error_handling(app: FastAPI, *, max_body_bytes: int) -> None:
    """The body limit and the shutdown answer (pure ASGI middleware) and every error handler."""
    app.add_middleware(_BodyLimit, limit=max_body_bytes)
    app.add_middleware(_ShutdownAnswer)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(BadRequest, _bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(UnicodeDecodeError, _not_utf8)  # type: ignore[arg-type]
    app.add_exception_handler(RecursionError, _too_deep)  # type: ignore[arg-type]


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    if err.get("type") == "json_invalid":
        pos = (err.get("loc") or ("body", "?"))[-1]
        why = (err.get("ctx") or {}).get("error", "")
        return error_response(400, f"the request body is not valid JSON ({why} at character {pos}); send one JSON object",
                              code="invalid_json")
    loc = [str(x) for x in err.get("loc", ()) if x != "body"]
    param = ".".join(loc) or None
    msg = f"{param}: {err.get('msg')}" if param else str(err.get("msg"))
    return error_response(400, msg, param=param)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Unknown paths and wrong methods in the OpenAI error shape (FastAPI's is {"detail": ...})."""
    what = {404: f"no such endpoint or object: {request.method} {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return error_response(exc.status_code, what, code=code)


async def _not_utf8(request: Request, exc: UnicodeDecodeError) -> JSONResponse:
    return error_response(400, f"the request body is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); send one JSON object in UTF-8", code="invalid_encoding")


async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
    return error_response(400, "the request body is nested too deeply to parse; send a flat OpenAI request",
                          code="invalid_json")


async def _bad_request(request: Request, exc: BadRequest) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.type, exc.param, exc.code)


class _ShutdownAnswer:
    """A request still running when the server stops (SIGTERM, after the graceful window) is
    cancelled by uvicorn: its client gets a 503 in the OpenAI error shape, not a plain-text 500 and
    a traceback in the log."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if started:
                raise  # a stream already under way: the connection closes, as it must
            log.info("request cancelled by the server's shutdown: answered 503")
            resp = error_response(503, "the server is shutting down; retry on another replica or after restart",
                                  type_="server_error", code="server_shutting_down")
            await resp(scope, receive, send)


class _BodyLimit:
    """Pure ASGI middleware (unlike @app.middleware it keeps the client's disconnect visible to
    the endpoint): a declared body over ``limit`` bytes gets 413 before anything reads it; a body
    without a declared length (chunked) is read here up to ``limit`` bytes, and gets 413 as soon as
    it goes over (never read whole, never parsed), else is handed on as it came."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    def _too_large(self, size: str) -> Any:
        return error_response(413, f"request body of {size} bytes is over this server's limit of {self.limit:,} "
                              "(judgelab serve --max-body-bytes)", code="body_too_large")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = dict(scope.get("headers") or []).get(b"content-length")
        if size is not None:
            if size.isdigit() and int(size) > self.limit:
                await self._too_large(f"{int(size):,}")(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        messages, total = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.limit:
                await self._too_large(f"more than {self.limit:,}")(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        buffered = iter(messages)

        async def replay() -> dict:
            return next(buffered, None) or await receive()

        await self.app(scope, replay, send)
