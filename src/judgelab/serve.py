"""`judgelab serve`: an OpenAI-compatible HTTP server over a local model, and a scalar-reward
endpoint (OpenRLHF's remote reward-model shape) over any judgelab judge.

Endpoints:

- ``POST /v1/chat/completions``: messages -> choices; ``n`` choices, ``logprobs``/``top_logprobs``
  (OpenAI's ``choices[i].logprobs.content`` shape), ``stream`` (server-sent events, see below),
  ``stop``, ``seed``, ``stream_options.include_usage``.
- ``POST /v1/completions``: OpenAI's legacy text completions; ``prompt`` a string or a list of
  strings (one set of ``n`` choices per prompt, indexed prompt-major), ``logprobs: k`` in the
  legacy shape (``tokens``, ``token_logprobs``, ``top_logprobs`` dicts, ``text_offset``),
  ``stream``. The prompt is tokenized as is (no chat template).
- ``POST /get_reward``: OpenRLHF's ``--reward.remote_url`` protocol (``judgelab serve --reward``):
  request ``{"query": [...], "prompts": [...], "labels": [...]}``, answer
  ``{"rewards": [...], "scores": [...], "extra_logs": {...}}``, one float per query (see
  ``RewardService``).
- ``GET /v1/models``, ``GET /health``, ``GET /v1/stats`` (batching counters).

Concurrent requests are batched by judgelab.lm.batcher.DynamicBatcher (the ``n`` choices of a
request too). Logprobs are the raw model distribution's (judgelab.lm.local).

Streaming is incremental: a streamed request joins a batch like any other, and each of its tokens
is sent as a chunk as soon as the batch produces it (``StreamingPrompt``; chunks of different
choices interleave, each chunk carries the logprobs of its tokens). Text is held back while it is
an incomplete UTF-8 character or could still be the start of a ``stop`` string, so the streamed
text always equals the non-streamed one. The finish chunk of a choice comes when its batch ends
(or at once when a stop string is reached), then an optional usage chunk and ``[DONE]``. A
failure after the stream started is an ``{"error": ...}`` event. (A generator other than the
local model, e.g. a test double, streams the finished text in one chunk.)

What this server cannot honour is a 400 naming the parameter, never a silently ignored field:
``response_format`` other than ``text`` (no constrained decoding), ``tools``/``functions``,
non-zero ``frequency_penalty``/``presence_penalty``, ``logit_bias``, non-text ``modalities``/
``audio``, ``echo``/``suffix``/``best_of`` on completions, token-id prompts. Fields that do not
change the output (``user``, ``metadata``, ``store``, ``service_tier``, ``parallel_tool_calls``,
``reasoning_effort``) are accepted and ignored, as vLLM does. Errors use the OpenAI shape
``{"error": {"message", "type", "param", "code"}}``.

Limits (``ServeLimits``), so one client cannot hold the server: a body over ``max_body_bytes`` gets
413 before it is parsed; a prompt over ``max_input_tokens`` and a ``max_tokens`` over
``max_new_tokens`` get 400 naming the limit; a request that takes longer than ``request_timeout_s``
gets 504; a request whose client disconnects is cancelled (dropped from its batch if it has not
started).

Reads: model weights (judgelab.models spec), a judge spec for ``/get_reward``. Writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from judgelab.lm.batcher import DynamicBatcher, TextGenerator
from judgelab.lm.local import GenerationOptions, LocalGenerator, StreamingPrompt
from judgelab.lm.types import Generation, SamplingParams, TokenLogprob

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 256
DEFAULT_COMPLETION_MAX_TOKENS = 16  # OpenAI's default for /v1/completions
MAX_TOP_LOGPROBS = 20  # OpenAI's cap


@dataclass
class ServeLimits:
    max_body_bytes: int = 1_000_000
    max_input_tokens: int = 8192
    max_new_tokens: int = 4096
    request_timeout_s: float = 600.0


# ------------------------------------------------------------------------------ request shapes


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


class _Common(BaseModel):
    """Fields chat and text completions share. Unknown fields are ignored (as vLLM does); known
    ones this server cannot honour get a 400 (``refuse_unsupported``)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    n: int = Field(1, ge=1, le=16)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None

    def refuse_unsupported(self) -> None:
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                raise _BadRequest(f"{name} is not supported by judgelab serve (only 0)", name,
                                  code="unsupported_parameter")
        if self.logit_bias:
            raise _BadRequest("logit_bias is not supported by judgelab serve", "logit_bias", code="unsupported_parameter")

    @property
    def include_usage(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.get("include_usage"))

    def stops(self) -> list[str]:
        return [s for s in ([self.stop] if isinstance(self.stop, str) else (self.stop or [])) if s]


class ChatCompletionRequest(_Common):
    messages: list[ChatMessage] = Field(..., min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: dict[str, Any] | None = None
    tools: list[Any] | None = None
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.top_logprobs is not None and not self.logprobs:
            raise _BadRequest("top_logprobs needs logprobs: true", "top_logprobs")
        rf = self.response_format
        if rf is not None and rf.get("type", "text") != "text":
            raise _BadRequest(f"response_format type {rf.get('type')!r} is not supported by judgelab serve "
                              "(no constrained decoding; only 'text'): ask for the format in the prompt",
                              "response_format", code="unsupported_parameter")
        for name in ("tools", "functions"):
            if getattr(self, name):
                raise _BadRequest(f"{name} are not supported by judgelab serve", name, code="unsupported_parameter")
        for name in ("tool_choice", "function_call"):
            if getattr(self, name) not in (None, "none", "auto"):
                raise _BadRequest(f"{name} is not supported by judgelab serve", name, code="unsupported_parameter")
        if self.audio or (self.modalities and set(self.modalities) != {"text"}):
            raise _BadRequest("only text output is supported", "modalities", code="unsupported_parameter")

    @property
    def logprob_k(self) -> int:
        """top_logprobs for SamplingParams: logprobs alone still needs each token's own logprob,
        which the generator returns with at least one alternative."""
        return max(1, self.top_logprobs or 0) if self.logprobs else 0


class CompletionRequest(_Common):
    max_tokens: int | None = Field(None, ge=1)
    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1)

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.echo:
            raise _BadRequest("echo is not supported by judgelab serve", "echo", code="unsupported_parameter")
        if self.suffix:
            raise _BadRequest("suffix (insertion) is not supported by judgelab serve", "suffix",
                              code="unsupported_parameter")
        if self.best_of is not None and self.best_of != self.n:
            raise _BadRequest("best_of is not supported by judgelab serve (only best_of = n)", "best_of",
                              code="unsupported_parameter")

    def prompts(self) -> list[str]:
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if not p:
            raise _BadRequest("prompt is empty", "prompt")
        if all(isinstance(x, str) for x in p):
            return list(p)  # type: ignore[arg-type]
        raise _BadRequest("token-id prompts are not supported by judgelab serve; send text", "prompt",
                          code="unsupported_parameter")

    @property
    def logprob_k(self) -> int:
        return max(1, self.logprobs) if self.logprobs is not None else 0


class RewardRequest(BaseModel):
    """OpenRLHF's remote reward-model request (openrlhf/utils/agent.py ``_fetch_rewards_via_http``)."""

    model_config = ConfigDict(extra="ignore")

    # May be empty: OpenRLHF splits one sample's request over every --reward.remote_url, so all
    # but the first endpoint receive query=[] (agent.py _fetch_rewards_via_http).
    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = None


# ------------------------------------------------------------------------------ response shapes


def _bytes(s: str) -> list[int]:
    return list(s.encode("utf-8"))


def _chat_logprobs(lps: list[TokenLogprob], k: int) -> dict[str, Any]:
    return {"content": [{"token": t.token, "logprob": t.logprob, "bytes": _bytes(t.token),
                         "top_logprobs": [{"token": a, "logprob": lp, "bytes": _bytes(a)} for a, lp in t.top[:k]]}
                        for t in lps],
            "refusal": None}


def _completion_logprobs(lps: list[TokenLogprob], k: int, start: int = 0) -> dict[str, Any]:
    """OpenAI's legacy shape: up to k + 1 alternatives per position (the chosen token is always
    among them, as OpenAI and vLLM do); offsets into the completion text (``start``: where these
    tokens begin, for a streamed chunk)."""
    tops, offsets, pos = [], [], start
    for t in lps:
        d = dict(t.top[:k])
        d.setdefault(t.token, t.logprob)
        tops.append(d)
        offsets.append(pos)
        pos += len(t.token)
    return {"tokens": [t.token for t in lps], "token_logprobs": [t.logprob for t in lps], "top_logprobs": tops,
            "text_offset": offsets}


def _apply_stops(gen: Generation, stops: list[str]) -> tuple[str, str, list[TokenLogprob] | None]:
    """(text, finish_reason, logprobs) with the text cut at the first stop string (not included)
    and the logprobs cut to the tokens before it."""
    text, finish = gen.text, gen.finish_reason or "stop"
    cuts = [text.find(s) for s in stops if s in text]
    lps = gen.logprobs
    if cuts:
        text, finish = text[: min(cuts)], "stop"
        if lps is not None:
            kept, n = [], 0
            for t in lps:
                n += len(t.token)
                if n > len(text):
                    break
                kept.append(t)
            lps = kept
    return text, finish, lps


# ------------------------------------------------------------------------------ reward endpoint

# End-of-turn and padding strings a policy's decoded response may end with (OpenRLHF decodes the
# rollout with skip_special_tokens=False).
DEFAULT_END_STRINGS = ("<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>",
                       "<eos>", "<|end|>", "<|eos|>", "<｜end▁of▁sentence｜>")

# The last user turn of a chat-templated prompt, for the templates most policies use.
_USER_TURN = [
    re.compile(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", re.S),  # ChatML (Qwen, SmolLM)
    re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\n\n(.*?)<\|eot_id\|>", re.S),  # Llama 3
    re.compile(r"<start_of_turn>user\n(.*?)<end_of_turn>", re.S),  # Gemma
]


@dataclass
class RewardOptions:
    unparsed_reward: float = 0.0  # reward of a query whose verdict failed (as in train.rewards)
    end_strings: tuple[str, ...] = DEFAULT_END_STRINGS
    unwrap_chat_template: bool = True  # judge the last user turn of a chat-templated prompt


@dataclass
class RewardService:
    """One float per query from a pointwise judge, for OpenRLHF's ``--reward.remote_url``.

    OpenRLHF sends ``query`` = the decoded prompt + response tokens and ``prompts`` = the prompt
    text; the response is the query after its prompt prefix, with trailing end-of-turn strings
    removed. The judge sees the prompt's last user turn when the prompt is chat-templated (ChatML,
    Llama 3, Gemma), else the prompt as sent. A query that does not start with its prompt, or a
    request without ``prompts``, is a 400: guessing where a response starts would score the wrong
    text. The reward is what a judgelab GRPO run gets in pointwise mode: the judge's score
    normalised over its scale to [0, 1] (a reward model: sigmoid(r / T)); a failed verdict gets
    ``unparsed_reward``. ``scores`` repeats the rewards (OpenRLHF's dynamic filtering reads them,
    expecting [0, 1]); ``extra_logs`` has ``judge_parsed`` (1.0 / 0.0) per query.
    """

    judge: Any
    options: RewardOptions = field(default_factory=RewardOptions)
    requests: int = 0
    queries: int = 0

    def __post_init__(self) -> None:
        from judgelab.errors import ConfigError

        if "pointwise" not in tuple(self.judge.modes):
            raise ConfigError(f"judge {self.judge.name!r} answers only {', '.join(self.judge.modes)}; a scalar "
                              "reward needs a pointwise judge", where="--reward",
                              hint="serve a judge that scores (mode: pointwise) or a reward model")

    def split(self, req: RewardRequest) -> tuple[list[str], list[str]]:
        if req.prompts is None:
            raise _BadRequest("'prompts' is required: a judge needs the prompt apart from the response "
                              "(OpenRLHF sends query = prompt + response and prompts)", "prompts")
        if len(req.prompts) != len(req.query):
            raise _BadRequest(f"{len(req.query)} queries but {len(req.prompts)} prompts", "prompts")
        prompts, responses = [], []
        for i, (q, p) in enumerate(zip(req.query, req.prompts)):
            if not q.startswith(p):
                raise _BadRequest(f"query[{i}] does not start with prompts[{i}]; send query = prompt + response",
                                  "query")
            responses.append(self._strip_end(q[len(p):]))
            prompts.append(self._user_turn(p))
        return prompts, responses

    def _strip_end(self, text: str) -> str:
        changed = True
        while changed:
            changed = False
            text = text.rstrip()
            for s in self.options.end_strings:
                if s and text.endswith(s):
                    text, changed = text[: -len(s)], True
        return text

    def _user_turn(self, prompt: str) -> str:
        if self.options.unwrap_chat_template:
            for pat in _USER_TURN:
                turns = pat.findall(prompt)
                if turns:
                    return turns[-1].strip()
        return prompt

    async def rewards(self, req: RewardRequest) -> dict[str, Any]:
        from judgelab.judges.types import PointwiseItem
        from judgelab.lm.aio import background_loop

        prompts, responses = self.split(req)
        if not prompts:
            return {"rewards": [], "scores": [], "extra_logs": {"judge_parsed": []}}
        self.requests += 1
        self.queries += len(prompts)
        tag = f"reward{self.requests}"
        items = [PointwiseItem(id=f"{tag}:{i}", prompt=p, response=r) for i, (p, r) in enumerate(zip(prompts, responses))]
        # Judges (their batchers and HTTP clients) live on judgelab's background loop.
        fut = asyncio.run_coroutine_threadsafe(self.judge.ajudge(items), background_loop())
        verdicts = await asyncio.wrap_future(fut)
        lo, hi = self.judge.scale
        rewards, parsed = [], []
        for v in verdicts:
            ok = v.ok and v.score is not None and math.isfinite(v.score)
            rewards.append(min(1.0, max(0.0, (v.score - lo) / (hi - lo))) if ok else self.options.unparsed_reward)
            parsed.append(1.0 if ok else 0.0)
        return {"rewards": rewards, "scores": list(rewards), "extra_logs": {"judge_parsed": parsed}}

    async def aclose(self) -> None:
        from judgelab.lm.aio import background_loop

        fut = asyncio.run_coroutine_threadsafe(self.judge.aclose(), background_loop())
        with suppress(Exception):
            await asyncio.wrap_future(fut)


# ------------------------------------------------------------------------------ the app


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400, code: str | None = None,
                 type_: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.status, self.code, self.type = message, param, status, code, type_


def _error(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
           code: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": type_, "param": param, "code": code}})


def _sse(events: Iterator[dict[str, Any]]) -> StreamingResponse:
    def lines() -> Iterator[str]:
        for ev in events:
            yield f"data: {json.dumps(ev)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


def _chat_stream(body: dict[str, Any], include_usage: bool) -> StreamingResponse:
    """The completed response as OpenAI's chat-completion chunks (see the module docstring)."""
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"], "model": body["model"]}

    def events() -> Iterator[dict[str, Any]]:
        extra = {"usage": None} if include_usage else {}
        for ch in body["choices"]:
            i = ch["index"]
            yield {**base, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                                        "finish_reason": None}], **extra}
            yield {**base, "choices": [{"index": i, "delta": {"content": ch["message"]["content"]},
                                        "logprobs": ch["logprobs"], "finish_reason": None}], **extra}
            yield {**base, "choices": [{"index": i, "delta": {}, "logprobs": None,
                                        "finish_reason": ch["finish_reason"]}], **extra}
        if include_usage:
            yield {**base, "choices": [], "usage": body["usage"]}

    return _sse(events())


def _completion_stream(body: dict[str, Any], include_usage: bool) -> StreamingResponse:
    base = {"id": body["id"], "object": "text_completion", "created": body["created"], "model": body["model"]}

    def events() -> Iterator[dict[str, Any]]:
        extra = {"usage": None} if include_usage else {}
        for ch in body["choices"]:
            yield {**base, "choices": [{**ch, "finish_reason": None}], **extra}
            yield {**base, "choices": [{"index": ch["index"], "text": "", "logprobs": None,
                                        "finish_reason": ch["finish_reason"]}], **extra}
        if include_usage:
            yield {**base, "choices": [], "usage": body["usage"]}

    return _sse(events())


@dataclass
class _ChoiceStream:
    """One streamed choice: the tokens received so far and how much of their text was sent."""

    ids: list[int] = field(default_factory=list)
    pending: list[TokenLogprob] = field(default_factory=list)  # logprobs not yet sent
    sent: str = ""
    lp_chars: int = 0  # characters of the token texts whose logprobs were sent
    finished: bool = False


async def _stream_choices(generator: LocalGenerator, b: DynamicBatcher, payloads: list[Any],
                          params: list[SamplingParams], stops: list[str], timeout_s: float,
                          ) -> AsyncIterator[tuple[str, Any]]:
    """Generate one choice per payload through the batcher, yielding as tokens arrive:
    ``("delta", (index, text, logprobs, text offset of the first of those logprobs' tokens))``,
    ``("finish", (index, finish_reason))``, ``("usage", [Generation...])`` once all are done, or
    ``("error", message)``."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def listener(i: int) -> Any:
        return lambda tid, lp: loop.call_soon_threadsafe(queue.put_nowait, (i, tid, lp))

    tasks = []
    for i, (p, sp) in enumerate(zip(payloads, params)):
        t = asyncio.ensure_future(b.submit(StreamingPrompt(p, listener(i)), sp))
        # The end marker comes after every token callback already queued by the model thread.
        t.add_done_callback(lambda _t, i=i: queue.put_nowait((i, None, None)))
        tasks.append(t)
    states = [_ChoiceStream() for _ in payloads]
    hold = max((len(x) for x in stops), default=1) - 1  # a stop string may still be forming
    done = 0
    deadline = time.monotonic() + timeout_s

    def emit(st: _ChoiceStream, i: int, text: str, upto: int | None) -> tuple[int, str, list[TokenLogprob], int]:
        """The new text up to ``upto`` characters (None: all of it and every pending logprob),
        and the logprobs of the tokens it completes."""
        end = len(text) if upto is None else upto
        delta = text[len(st.sent):end] if end > len(st.sent) else ""
        st.sent += delta
        start, lps = st.lp_chars, []
        while st.pending and (upto is None or st.lp_chars + len(st.pending[0].token) <= len(st.sent)):
            st.lp_chars += len(st.pending[0].token)
            lps.append(st.pending.pop(0))
        return i, delta, lps, start

    try:
        while done < len(tasks):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                yield "error", f"the request took over {timeout_s:g} s (judgelab serve --request-timeout-s)"
                return
            try:
                i, tid, lp = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                continue
            st = states[i]
            if tid is not None:  # a token
                if st.finished:
                    continue
                st.ids.append(tid)
                if lp is not None:
                    st.pending.append(lp)
                text = generator.decode(st.ids)
                if text.endswith("\ufffd"):  # part of a multi-byte character: wait for the rest
                    continue
                cut = [text.find(x) for x in stops if x in text]
                if cut:
                    out = emit(st, i, text, min(cut))
                    st.pending.clear()  # tokens past the stop string are not part of the answer
                    if out[1] or out[2]:
                        yield "delta", out
                    st.finished = True
                    yield "finish", (i, "stop")
                    continue
                out = emit(st, i, text, len(text) - hold)
                if out[1] or out[2]:
                    yield "delta", out
                continue
            done += 1  # the choice's batch ended
            gen = tasks[i].result()
            if gen.error is not None:
                yield "error", f"generation failed: {gen.error}"
                return
            if st.finished:
                continue
            final, finish, _ = _apply_stops(gen, stops)
            out = emit(st, i, final if final.startswith(st.sent) else st.sent, None)
            if out[1] or out[2]:
                yield "delta", out
            st.finished = True
            yield "finish", (i, finish)
        yield "usage", [t.result() for t in tasks]
    finally:
        for t in tasks:  # the client left or the stream failed: queued requests leave their batch
            if not t.done():
                t.cancel()


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
) -> FastAPI:
    """Build the app. A spec string is loaded now (so the server is healthy only once it can
    answer). ``spec_or_generator=None`` serves no text model (only ``/get_reward``);
    ``reward_judge`` (a Judge answering pointwise) turns on ``/get_reward``."""
    generator: TextGenerator | None
    if isinstance(spec_or_generator, str):
        generator = LocalGenerator.from_spec(spec_or_generator, device=device, dtype=dtype, options=options)
        spec: str | None = spec_or_generator
    else:
        generator, spec = spec_or_generator, None
    limits = limits or ServeLimits()
    served = model_name or spec or ("local" if generator is not None else "")
    count_tokens = getattr(generator, "count_tokens", None)
    aliases = {served} | ({spec} if spec else set())
    batcher = DynamicBatcher(generator, batch_size=batch_size, max_wait_ms=max_wait_ms) if generator is not None else None
    reward = RewardService(reward_judge, reward_options or RewardOptions()) if reward_judge is not None else None
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if batcher is not None:
            await batcher.aclose()
        if reward is not None:
            await reward.aclose()

    app = FastAPI(title="judgelab serve", lifespan=lifespan)
    app.state.batcher = batcher
    app.state.model_name = served
    app.state.limits = limits
    app.state.reward = reward

    app.add_middleware(_BodyLimit, limit=limits.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if err.get("type") == "json_invalid":
            pos = (err.get("loc") or ("body", "?"))[-1]
            why = (err.get("ctx") or {}).get("error", "")
            return _error(400, f"the request body is not valid JSON ({why} at character {pos}); send one JSON object",
                          code="invalid_json")
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
        data = [{"id": served, "object": "model", "created": created, "owned_by": "judgelab"}] if batcher else []
        return {"object": "list", "data": data}

    @app.get("/v1/stats")
    async def stats() -> dict[str, Any]:
        out: dict[str, Any] = {"model": served}
        if batcher is not None:
            out.update({"batch_size": batcher.batch_size, **batcher.stats.to_dict()})
        if reward is not None:
            out["reward"] = {"judge": reward.judge.name, "requests": reward.requests, "queries": reward.queries}
        return out

    def check(req: _Common) -> DynamicBatcher:
        if batcher is None:
            raise _BadRequest("this judgelab serve has no text model (started with --reward only); it answers "
                              "POST /get_reward", None, 404, "no_text_model")
        if req.model not in aliases:
            raise _BadRequest(f"The model '{req.model}' does not exist (serving '{served}').", "model", 404,
                              "model_not_found")
        req.refuse_unsupported()
        return batcher

    async def validate(payloads: Sequence[Any], max_new: int) -> None:
        if max_new > limits.max_new_tokens:
            raise _BadRequest(f"max_tokens={max_new} is over this server's limit of {limits.max_new_tokens} "
                              "(judgelab serve --max-new-tokens)", "max_tokens")
        if count_tokens is not None:
            for p in payloads:
                n_in = await asyncio.to_thread(count_tokens, p)
                if n_in > limits.max_input_tokens:
                    raise _BadRequest(f"the prompt has {n_in} tokens, over this server's limit of "
                                      f"{limits.max_input_tokens} (judgelab serve --max-input-tokens)",
                                      "messages" if isinstance(p, list) else "prompt", code="context_length_exceeded")

    def fan_out(payloads: Sequence[Any], req: _Common, max_new: int, k: int) -> tuple[list[Any], list[SamplingParams]]:
        """``req.n`` choices per payload, prompt-major; choice j of a payload is seeded seed + j."""
        seeds = [None if req.seed is None else req.seed + j for j in range(req.n)]
        pairs = [(p, SamplingParams(max_new_tokens=max_new, temperature=req.temperature, top_p=req.top_p, seed=sd,
                                    top_logprobs=k)) for p in payloads for sd in seeds]
        return [p for p, _ in pairs], [sp for _, sp in pairs]

    async def run(b: DynamicBatcher, request: Request, payloads: list[Any], params: list[SamplingParams]
                  ) -> list[Generation]:
        """All choices at once (batched); a failure is a 500, a client gone a 499."""
        work = asyncio.gather(*(b.submit(p, sp) for p, sp in zip(payloads, params)))
        gens = await _until_disconnect(work, request, limits.request_timeout_s)
        if gens is None:  # the client left: nothing to answer
            raise _BadRequest("client disconnected", None, 499, None, "client_closed_request")
        failed = [g.error for g in gens if g.error is not None]
        if failed:
            raise _BadRequest(f"generation failed: {failed[0]}", None, 500, None, "server_error")
        if params[0].top_logprobs and any(g.logprobs is None for g in gens):
            raise _BadRequest("the model backend returned no logprobs", "logprobs", 500, None, "server_error")
        return gens

    def usage(prompt_tokens: int, gens: list[Generation]) -> dict[str, int]:
        completion_tokens = sum(g.completion_tokens for g in gens)
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    def incremental(b: DynamicBatcher, req: _Common, payloads: list[Any], params: list[SamplingParams], base: dict,
                    delta_choice: Any, finish_choice: Any, first: list[dict] | None, prompt_tokens: Any
                    ) -> StreamingResponse:
        """An SSE response fed by _stream_choices; the endpoint shapes each choice's chunks."""
        assert isinstance(generator, LocalGenerator)
        extra = {"usage": None} if req.include_usage else {}

        async def lines() -> AsyncIterator[str]:
            for ch in first or []:
                yield f"data: {json.dumps({**base, 'choices': [ch], **extra})}\n\n"
            async for kind, val in _stream_choices(generator, b, payloads, params, req.stops(),
                                                   limits.request_timeout_s):
                if kind == "delta":
                    ev = {**base, "choices": [delta_choice(*val)], **extra}
                elif kind == "finish":
                    ev = {**base, "choices": [finish_choice(*val)], **extra}
                elif kind == "usage":
                    if not req.include_usage:
                        continue
                    ev = {**base, "choices": [], "usage": usage(prompt_tokens(val), val)}
                else:  # an error after the stream started: OpenAI's in-stream error event
                    err = {"error": {"message": val, "type": "server_error", "param": None, "code": None}}
                    yield f"data: {json.dumps(err)}\n\n"
                    return
                yield f"data: {json.dumps(ev)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(lines(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat_completions(req: ChatCompletionRequest, request: Request) -> Any:
        b = check(req)
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in req.messages]
        max_new = req.max_completion_tokens or req.max_tokens or min(DEFAULT_MAX_TOKENS, limits.max_new_tokens)
        await validate([messages], max_new)
        payloads, params = fan_out([messages], req, max_new, req.logprob_k)
        cid, created_at, k = f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), req.top_logprobs or 0
        if req.stream and isinstance(generator, LocalGenerator):
            base = {"id": cid, "object": "chat.completion.chunk", "created": created_at, "model": served}
            return incremental(
                b, req, payloads, params, base,
                lambda i, text, lps, _off: {"index": i, "delta": {"content": text}, "finish_reason": None,
                                            "logprobs": _chat_logprobs(lps, k) if req.logprobs else None},
                lambda i, finish: {"index": i, "delta": {}, "logprobs": None, "finish_reason": finish},
                [{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
                 for i in range(req.n)],
                lambda gens: gens[0].prompt_tokens)
        gens = await run(b, request, payloads, params)
        choices = []
        for i, gen in enumerate(gens):
            text, finish, lps = _apply_stops(gen, req.stops())
            choices.append({"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                            "logprobs": _chat_logprobs(lps, k) if req.logprobs else None})
        body = {"id": cid, "object": "chat.completion", "created": created_at, "model": served, "choices": choices,
                "usage": usage(gens[0].prompt_tokens, gens)}
        return _chat_stream(body, req.include_usage) if req.stream else JSONResponse(body)

    @app.post("/v1/completions")
    async def completions(req: CompletionRequest, request: Request) -> Any:
        b = check(req)
        prompts = req.prompts()
        max_new = req.max_tokens or min(DEFAULT_COMPLETION_MAX_TOKENS, limits.max_new_tokens)
        await validate(prompts, max_new)
        payloads, params = fan_out(prompts, req, max_new, req.logprob_k)
        cid, created_at = f"cmpl-{uuid.uuid4().hex}", int(time.time())

        def prompt_tokens(gens: list[Generation]) -> int:
            return sum(g.prompt_tokens for g in gens[:: req.n])  # each prompt counts once, whatever n

        if req.stream and isinstance(generator, LocalGenerator):
            base = {"id": cid, "object": "text_completion", "created": created_at, "model": served}
            return incremental(
                b, req, payloads, params, base,
                lambda i, text, lps, off: {"index": i, "text": text, "finish_reason": None,
                                           "logprobs": None if req.logprobs is None else
                                           _completion_logprobs(lps, req.logprobs, off)},
                lambda i, finish: {"index": i, "text": "", "logprobs": None, "finish_reason": finish},
                None, prompt_tokens)
        gens = await run(b, request, payloads, params)
        choices = []
        for i, gen in enumerate(gens):
            text, finish, lps = _apply_stops(gen, req.stops())
            choices.append({"index": i, "text": text, "finish_reason": finish,
                            "logprobs": _completion_logprobs(lps, req.logprobs) if req.logprobs is not None else None})
        body = {"id": cid, "object": "text_completion", "created": created_at, "model": served, "choices": choices,
                "usage": usage(prompt_tokens(gens), gens)}
        return _completion_stream(body, req.include_usage) if req.stream else JSONResponse(body)

    @app.post("/get_reward")
    async def get_reward(req: RewardRequest, request: Request) -> JSONResponse:
        if reward is None:
            raise _BadRequest("this judgelab serve has no reward judge (start it with --reward JUDGE_SPEC)", None, 404,
                              "no_reward_judge")
        out = await _until_disconnect(reward.rewards(req), request, limits.request_timeout_s)
        if out is None:
            return _error(499, "client disconnected", "client_closed_request")
        return JSONResponse(out)

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
