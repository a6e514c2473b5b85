"""What ``judgelab serve`` answers when a request cannot be served, in the OpenAI error shape
(``{"error": {...}}``, which the openai client reads): validation errors, bodies that are not
JSON (or not sent as ``application/json``), non-UTF-8 and too-deep bodies, unknown paths and
methods, bodies over the size limit (declared or chunked), requests cut by the server's shutdown,
and any other failure (a 500, logged with its traceback). ``install_error_handling`` puts them on
an app.
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
    """The body limit and the last-resort answers (pure ASGI middleware) and every error handler."""
    app.add_middleware(_BodyLimit, limit=max_body_bytes)
    app.add_middleware(_LastResort)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(BadRequest, _bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    if tuple(err.get("loc", ())) == ("body",) and isinstance(err.get("input"), (bytes, bytearray)):
        # FastAPI parses a body as JSON only when its content-type says so; else the model gets bytes.
        ct = request.headers.get("content-type") or "none"
        return error_response(400, f"the request body must be one JSON object sent with content-type: "
                              f"application/json (got content-type: {ct})", code="invalid_content_type")
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
    """Unknown paths, wrong methods and unparsable bodies in the OpenAI error shape (FastAPI's is
    {"detail": ...}). FastAPI turns any failure to parse a JSON body other than a JSONDecodeError
    into a plain 400 whose cause says why."""
    if isinstance(exc.__cause__, UnicodeDecodeError):
        return _not_utf8(exc.__cause__)
    if isinstance(exc.__cause__, RecursionError):
        return _too_deep()
    what = {404: f"no such endpoint or object: {request.method} {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return error_response(exc.status_code, what, code=code)


def _not_utf8(exc: UnicodeDecodeError) -> JSONResponse:
    return error_response(400, f"the request body is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                          f"{exc.start}); send one JSON object in UTF-8", code="invalid_encoding")


def _too_deep() -> JSONResponse:
    return error_response(400, "the request body is nested too deeply to parse; send a flatter JSON object",
                          code="invalid_json")


async def _bad_request(request: Request, exc: BadRequest) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.type, exc.param, exc.code)


class _LastResort:
    """What a request gets when its handler did not answer. Still running when the server stops
    (SIGTERM, after the graceful window), uvicorn cancels it: a 503. An exception no handler knows
    (a judge or backend that raised): logged with its traceback, a 500. Both in the OpenAI error
    shape, not a plain-text 500. A stream already under way just closes, as it must."""

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
                raise
            log.info("request cancelled by the server's shutdown: answered 503")
            resp = error_response(503, "the server is shutting down; retry on another replica or after restart",
                                  type_="server_error", code="server_shutting_down")
            await resp(scope, receive, send)
        except Exception as exc:
            if started:
                raise
            log.exception("%s %s failed: answered 500", scope.get("method"), scope.get("path"))
            resp = error_response(500, f"the server failed to answer this request ({type(exc).__name__}); "
                                  "its log has the details", type_="server_error")
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
