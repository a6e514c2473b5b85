"""The FastAPI app of ``judgelab serve`` (see judgelab.serve for its endpoints): ``create_app``
builds the served state (``ServeState``, on ``app.state.serve``); the route handlers below read it.

Batching (``batching``): ``continuous`` (``judgelab serve``'s default) runs transformers' continuous
batching (judgelab.lm.continuous): requests join and leave a running batch, so a long request does not
stall short ones; requests it cannot reproduce exactly (a seed, logprobs) take the static path, run
while its loop is paused. ``static`` (``create_app``'s default) batches concurrent requests with
judgelab.lm.batcher.DynamicBatcher (the ``n`` choices of a request too), one batch at a time.
Logprobs are the raw model distribution's (judgelab.lm.local).

Limits (``ServeLimits``), so one client cannot hold the server: a body over ``max_body_bytes`` gets
413 before it is parsed; a prompt over ``max_input_tokens`` and a ``max_tokens`` over
``max_new_tokens`` get 400 naming the limit (as does a request larger than the continuous batching
KV cache, ``--cb-blocks``); a request that takes longer than ``request_timeout_s``
gets 504; a request whose client disconnects is cancelled (dropped from its batch if it has not
started).

Reads: model weights (judgelab.models spec), a judge spec for ``/get_reward``. Writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from judgelab.lm.batcher import DynamicBatcher, TextGenerator
from judgelab.lm.continuous import ContinuousGenerator, ContinuousOptions, RequestTooLarge
from judgelab.lm.local import GenerationOptions, LocalGenerator, StreamingPrompt
from judgelab.lm.types import Generation, SamplingParams, TokenLogprob
from judgelab.serve.reward import RewardOptions, RewardService
from judgelab.serve.middleware import install_error_handling
from judgelab.serve.schemas import (
    BadRequest,
    ChatCompletionRequest,
    CommonRequest,
    CompletionRequest,
    RewardRequest,
    error_response,
)
from judgelab.serve.streaming import (
    ChunkShape,
    Submit,
    apply_stops,
    chat_chunks,
    chat_logprobs,
    completion_chunks,
    completion_logprobs,
    finished_stream,
    incremental_stream,
    usage,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 256
DEFAULT_COMPLETION_MAX_TOKENS = 16  # OpenAI's default for /v1/completions


@dataclass
class ServeLimits:
    """What one request may ask of the server (``judgelab serve --max-body-bytes`` etc.)."""

    max_body_bytes: int = 1_000_000  # a larger request body gets 413 before it is parsed
    max_input_tokens: int = 8192  # a longer prompt gets 400
    max_new_tokens: int = 4096  # a larger max_tokens gets 400
    request_timeout_s: float = 600.0  # a slower request gets 504


@dataclass
class ServeState:
    """What the route handlers serve: a text model (or none) and a reward judge (or none)."""

    generator: TextGenerator | None
    batcher: DynamicBatcher | None
    served: str  # the model name clients send and the server answers with
    aliases: set[str]  # every name a request may use for it (the served name, the spec)
    limits: ServeLimits
    reward: RewardService | None
    created: int  # when the model was loaded (GET /v1/models)
    continuous: ContinuousGenerator | None = None  # None: every request takes the batcher (static)


def create_app(
    spec_or_generator: str | TextGenerator | None,
    model_name: str | None = None,
    batch_size: int = 8,
    max_wait_ms: float = 5.0,
    *,
    device: str = "auto",
    dtype: str = "auto",
    options: GenerationOptions | None = None,
    limits: ServeLimits | None = None,
    reward_judge: Any = None,
    reward_options: RewardOptions | None = None,
    batching: str = "static",
    continuous: ContinuousOptions | None = None,
) -> FastAPI:
    """Build the app. A spec string is loaded now (so the server is healthy only once it can
    answer). ``spec_or_generator=None`` serves no text model (only ``/get_reward``);
    ``reward_judge`` (a Judge answering pointwise) turns on ``/get_reward``. ``batching``:
    ``continuous`` or ``static`` (see the module docstring; continuous needs a local model,
    a LocalGenerator, and falls back to static with a warning for a model it cannot serve exactly)."""
    if batching not in ("continuous", "static"):
        raise ValueError(f"batching must be 'continuous' or 'static', not {batching!r}")
    generator: TextGenerator | None
    if isinstance(spec_or_generator, str):
        generator = LocalGenerator.from_spec(spec_or_generator, device=device, dtype=dtype, options=options)
        spec: str | None = spec_or_generator
    else:
        generator, spec = spec_or_generator, None
    limits = limits or ServeLimits()
    served = model_name or spec or ("local" if generator is not None else "")
    state = ServeState(
        generator=generator,
        batcher=DynamicBatcher(generator, batch_size=batch_size, max_wait_ms=max_wait_ms) if generator is not None else None,
        served=served,
        aliases={served} | ({spec} if spec else set()),
        limits=limits,
        reward=RewardService(reward_judge, reward_options or RewardOptions()) if reward_judge is not None else None,
        created=int(time.time()),
    )
    if batching == "continuous" and isinstance(generator, LocalGenerator):
        state.continuous = _continuous(generator, state, continuous)
    app = FastAPI(title="judgelab serve", lifespan=_lifespan)
    app.state.serve = state
    install_error_handling(app, max_body_bytes=limits.max_body_bytes)
    app.include_router(router)
    return app


def _continuous(generator: LocalGenerator, state: ServeState, options: ContinuousOptions | None
                ) -> ContinuousGenerator | None:
    """The continuous batching engine over ``generator`` (the batcher as its static path), or None
    with a warning when the model cannot be served exactly by it."""
    opts = options or ContinuousOptions()
    if options is None or options.num_blocks is None:  # size the default cache for the largest request
        opts = ContinuousOptions(opts.num_blocks, opts.max_batch_tokens,
                                 state.limits.max_input_tokens + state.limits.max_new_tokens)
    cont = ContinuousGenerator(generator, opts, fallback=state.batcher)
    if cont.unsupported:
        log.warning("continuous batching is off for this model (%s): batching is static", cont.unsupported)
        return None
    return cont


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    state: ServeState = app.state.serve
    if state.continuous is not None:
        await state.continuous.aclose()
    if state.batcher is not None:
        await state.batcher.aclose()
    if state.reward is not None:
        await state.reward.aclose()


def _state(request: Request) -> ServeState:
    return request.app.state.serve


router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/models/{model_id:path}")
async def model(model_id: str, request: Request) -> dict[str, Any]:
    st = _state(request)
    if st.batcher is None or model_id not in st.aliases:
        raise BadRequest(f"the model '{model_id}' does not exist on this server (it serves "
                         f"{st.served if st.batcher else 'no model'})", "model", 404, "model_not_found")
    return {"id": st.served, "object": "model", "created": st.created, "owned_by": "judgelab"}


@router.get("/v1/models")
async def models(request: Request) -> dict[str, Any]:
    st = _state(request)
    data = [{"id": st.served, "object": "model", "created": st.created, "owned_by": "judgelab"}] if st.batcher else []
    return {"object": "list", "data": data}


@router.get("/v1/stats")
async def stats(request: Request) -> dict[str, Any]:
    st = _state(request)
    out: dict[str, Any] = {"model": st.served}
    if st.batcher is not None:
        out.update({"batching": "static", "batch_size": st.batcher.batch_size, **st.batcher.stats.to_dict()})
    if st.continuous is not None:  # requests and max_batch_size count both paths; batches are the static path's
        c = st.continuous
        out["batching"] = "continuous"
        out["continuous"] = {**c.stats.to_dict(), "kv_cache_tokens": c.capacity, "max_batch_tokens": c.max_batch_tokens}
        out["requests"] += c.stats.requests
        out["max_batch_size"] = max(out["max_batch_size"], c.stats.max_in_flight)
    if st.reward is not None:
        out["reward"] = {"judge": st.reward.judge.name, "requests": st.reward.requests, "queries": st.reward.queries}
    return out


def _check(st: ServeState, req: CommonRequest) -> Submit:
    """What generates ``req``'s choices (the continuous engine, else the batcher), once the request
    names the served model and asks for nothing this server cannot honour."""
    if st.batcher is None:
        raise BadRequest("this judgelab serve has no text model (started with --reward only); it answers "
                         "POST /get_reward", None, 404, "no_text_model")
    if req.model not in st.aliases:
        raise BadRequest(f"The model '{req.model}' does not exist (serving '{st.served}').", "model", 404,
                         "model_not_found")
    req.refuse_unsupported()
    if st.continuous is not None:
        return st.continuous.generate
    b = st.batcher
    return lambda p, sp, on_token: b.submit(StreamingPrompt(p, on_token) if on_token else p, sp)


async def _validate(st: ServeState, payloads: Sequence[Any], max_new: int) -> None:
    limits = st.limits
    if max_new > limits.max_new_tokens:
        raise BadRequest(f"max_tokens={max_new} is over this server's limit of {limits.max_new_tokens} "
                         "(judgelab serve --max-new-tokens)", "max_tokens")
    count_tokens = getattr(st.generator, "count_tokens", None)
    if count_tokens is not None:
        for p in payloads:
            n_in = await asyncio.to_thread(count_tokens, p)
            if n_in > limits.max_input_tokens:
                raise BadRequest(f"the prompt has {n_in} tokens, over this server's limit of "
                                 f"{limits.max_input_tokens} (judgelab serve --max-input-tokens)",
                                 "messages" if isinstance(p, list) else "prompt", code="context_length_exceeded")
            too_large = st.continuous.too_large(n_in, max_new) if st.continuous is not None else None
            if too_large is not None:
                raise BadRequest(too_large, "max_tokens", code="context_length_exceeded")


def _fan_out(payloads: Sequence[Any], req: CommonRequest, max_new: int, k: int) -> tuple[list[Any], list[SamplingParams]]:
    """``req.n`` choices per payload, prompt-major; choice j of a payload is seeded seed + j."""
    seeds = [None if req.seed is None else req.seed + j for j in range(req.n)]
    pairs = [(p, SamplingParams(max_new_tokens=max_new, temperature=req.temperature, top_p=req.top_p, seed=sd,
                                top_logprobs=k)) for p in payloads for sd in seeds]
    return [p for p, _ in pairs], [sp for _, sp in pairs]


async def _run(st: ServeState, submit: Submit, request: Request, payloads: list[Any], params: list[SamplingParams]
               ) -> list[Generation]:
    """All choices at once (batched); a failure is a 500, a client gone a 499."""
    work = asyncio.gather(*(submit(p, sp, None) for p, sp in zip(payloads, params)))
    try:
        gens = await _until_disconnect(work, request, st.limits.request_timeout_s)
    except RequestTooLarge as exc:  # _validate refuses these first; a cut prompt could still differ
        raise BadRequest(str(exc), "max_tokens", code="context_length_exceeded") from None
    if gens is None:  # the client left: nothing to answer
        raise BadRequest("client disconnected", None, 499, None, "client_closed_request")
    failed = [g.error for g in gens if g.error is not None]
    if failed:
        raise BadRequest(f"generation failed: {failed[0]}", None, 500, None, "server_error")
    if params[0].top_logprobs and any(g.logprobs is None for g in gens):
        raise BadRequest("the model backend returned no logprobs", "logprobs", 500, None, "server_error")
    return gens


@dataclass
class _Endpoint:
    """How a completions endpoint shapes its answer."""

    object: str  # of the response body
    chunk_object: str  # of its streamed chunks
    id_prefix: str
    choice: Callable[[int, str, str, list[TokenLogprob] | None], dict[str, Any]]  # (index, text, finish, logprobs)
    chunks: Callable[[dict[str, Any]], list[dict[str, Any]]]  # a finished choice as stream chunks
    stream: ChunkShape  # the chunks of an incremental stream


async def _answer(st: ServeState, submit: Submit, request: Request, req: CommonRequest, payloads: list[Any],
                  max_new: int, k: int, ep: _Endpoint) -> Any:
    """Generate ``req.n`` choices per payload and answer in ``ep``'s shape: JSON, or a stream
    (incremental from the local model, else the finished answer as chunks)."""
    payloads, params = _fan_out(payloads, req, max_new, k)
    cid, created_at = f"{ep.id_prefix}{uuid.uuid4().hex}", int(time.time())
    if req.stream and isinstance(st.generator, LocalGenerator):
        base = {"id": cid, "object": ep.chunk_object, "created": created_at, "model": st.served}
        return incremental_stream(st.generator, submit, payloads, params, req.stops(), req.include_usage, base, ep.stream,
                                  st.limits.request_timeout_s)
    gens = await _run(st, submit, request, payloads, params)
    choices = [ep.choice(i, *apply_stops(gen, req.stops())) for i, gen in enumerate(gens)]
    body = {"id": cid, "object": ep.object, "created": created_at, "model": st.served, "choices": choices,
            "usage": usage(ep.stream.prompt_tokens(gens), gens)}
    if req.stream:
        return finished_stream(body, req.include_usage, ep.chunk_object, ep.chunks)
    return JSONResponse(body)


@router.post("/v1/chat/completions")
async def chat_completions(req: ChatCompletionRequest, request: Request) -> Any:
    st = _state(request)
    submit = _check(st, req)
    messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
    max_new = req.max_completion_tokens or req.max_tokens or min(DEFAULT_MAX_TOKENS, st.limits.max_new_tokens)
    await _validate(st, [messages], max_new)
    k = req.top_logprobs or 0

    def logprobs(lps: list[TokenLogprob] | None) -> dict[str, Any] | None:
        return chat_logprobs(lps, k) if req.logprobs else None  # type: ignore[arg-type]

    ep = _Endpoint(
        object="chat.completion", chunk_object="chat.completion.chunk", id_prefix="chatcmpl-",
        choice=lambda i, text, finish, lps: {"index": i, "message": {"role": "assistant", "content": text},
                                             "finish_reason": finish, "logprobs": logprobs(lps)},
        chunks=chat_chunks,
        stream=ChunkShape(
            delta=lambda i, text, lps, _off: {"index": i, "delta": {"content": text}, "finish_reason": None,
                                              "logprobs": logprobs(lps)},
            finish=lambda i, finish: {"index": i, "delta": {}, "logprobs": None, "finish_reason": finish},
            prompt_tokens=lambda gens: gens[0].prompt_tokens,
            first=[{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
                   for i in range(req.n)]))
    return await _answer(st, submit, request, req, [messages], max_new, req.logprob_k, ep)


@router.post("/v1/completions")
async def completions(req: CompletionRequest, request: Request) -> Any:
    st = _state(request)
    submit = _check(st, req)
    prompts = req.prompts()
    max_new = req.max_tokens or min(DEFAULT_COMPLETION_MAX_TOKENS, st.limits.max_new_tokens)
    await _validate(st, prompts, max_new)

    def logprobs(lps: list[TokenLogprob] | None, offset: int = 0) -> dict[str, Any] | None:
        return None if req.logprobs is None else completion_logprobs(lps, req.logprobs, offset)  # type: ignore[arg-type]

    ep = _Endpoint(
        object="text_completion", chunk_object="text_completion", id_prefix="cmpl-",
        choice=lambda i, text, finish, lps: {"index": i, "text": text, "finish_reason": finish,
                                             "logprobs": logprobs(lps)},
        chunks=completion_chunks,
        stream=ChunkShape(
            delta=lambda i, text, lps, off: {"index": i, "text": text, "finish_reason": None,
                                             "logprobs": logprobs(lps, off)},
            finish=lambda i, finish: {"index": i, "text": "", "logprobs": None, "finish_reason": finish},
            # each prompt counts once, whatever n
            prompt_tokens=lambda gens: sum(g.prompt_tokens for g in gens[:: req.n])))
    return await _answer(st, submit, request, req, prompts, max_new, req.logprob_k, ep)


@router.post("/get_reward")
async def get_reward(req: RewardRequest, request: Request) -> JSONResponse:
    st = _state(request)
    if st.reward is None:
        raise BadRequest("this judgelab serve has no reward judge (start it with --reward JUDGE_SPEC)", None, 404,
                         "no_reward_judge")
    out = await _until_disconnect(st.reward.rewards(req), request, st.limits.request_timeout_s)
    if out is None:
        return error_response(499, "client disconnected", "client_closed_request")
    return JSONResponse(out)


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
                raise BadRequest(f"the request took over {timeout_s:g} s (judgelab serve --request-timeout-s)",
                                 None, 504, "timeout", "server_error")
    finally:
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
