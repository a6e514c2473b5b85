"""What ``judgelab serve`` sends back besides plain JSON: OpenAI's logprob shapes (chat and legacy
completions), stop strings, and server-sent events (SSE).

Streaming is incremental: a streamed request joins a batch like any other, and each of its tokens
is sent as a chunk as soon as the batch produces it (``Submit``'s ``on_token``; chunks of different
choices interleave, each chunk carries the logprobs of its tokens). Text is held back while it is
an incomplete UTF-8 character or could still be the start of a ``stop`` string, so the streamed
text always equals the non-streamed one. The finish chunk of a choice comes when its generation ends
(or at once when a stop string is reached), then an optional usage chunk and ``[DONE]``. A
failure after the stream started is an ``{"error": ...}`` event. (A generator other than the
local model, e.g. a test double, streams the finished text in one chunk: ``finished_stream``.)
Reads and writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import StreamingResponse

from judgelab.lm.local import LocalGenerator
from judgelab.lm.types import Generation, SamplingParams, TokenLogprob

Event = tuple[str, Any]  # ("delta" | "finish" | "usage" | "error", payload): see stream_choices
# How a choice is generated: (payload, params, on_token or None) -> its Generation; on_token(token_id,
# logprob) is called for each token of the text as it comes, from any thread (the static batcher, or
# the continuous batching engine: judgelab.serve.app._check).
Submit = Callable[[Any, SamplingParams, "Callable[[int, TokenLogprob | None], None] | None"], Awaitable[Generation]]


def _bytes(s: str) -> list[int]:
    return list(s.encode("utf-8"))


def chat_logprobs(lps: list[TokenLogprob], k: int) -> dict[str, Any]:
    return {"content": [{"token": t.token, "logprob": t.logprob, "bytes": _bytes(t.token),
                         "top_logprobs": [{"token": a, "logprob": lp, "bytes": _bytes(a)} for a, lp in t.top[:k]]}
                        for t in lps],
            "refusal": None}


def completion_logprobs(lps: list[TokenLogprob], k: int, start: int = 0) -> dict[str, Any]:
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


def apply_stops(gen: Generation, stops: list[str]) -> tuple[str, str, list[TokenLogprob] | None]:
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


def usage(prompt_tokens: int, gens: list[Generation]) -> dict[str, int]:
    completion_tokens = sum(g.completion_tokens for g in gens)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _sse(events: Iterator[dict[str, Any]]) -> StreamingResponse:
    def lines() -> Iterator[str]:
        for ev in events:
            yield f"data: {json.dumps(ev)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


def finished_stream(body: dict[str, Any], include_usage: bool, chunk_object: str,
                    chunks: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> StreamingResponse:
    """A completed response (``body``) as OpenAI's stream of ``chunk_object`` chunks: ``chunks``
    turns one of its choices into the choices of its chunks."""
    base = {"id": body["id"], "object": chunk_object, "created": body["created"], "model": body["model"]}

    def events() -> Iterator[dict[str, Any]]:
        extra = {"usage": None} if include_usage else {}
        for ch in body["choices"]:
            for c in chunks(ch):
                yield {**base, "choices": [c], **extra}
        if include_usage:
            yield {**base, "choices": [], "usage": body["usage"]}

    return _sse(events())


def chat_chunks(ch: dict[str, Any]) -> list[dict[str, Any]]:
    """A finished chat choice as its role, content and finish chunks."""
    i = ch["index"]
    return [{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None},
            {"index": i, "delta": {"content": ch["message"]["content"]}, "logprobs": ch["logprobs"],
             "finish_reason": None},
            {"index": i, "delta": {}, "logprobs": None, "finish_reason": ch["finish_reason"]}]


def completion_chunks(ch: dict[str, Any]) -> list[dict[str, Any]]:
    """A finished text-completion choice as its text and finish chunks."""
    return [{**ch, "finish_reason": None},
            {"index": ch["index"], "text": "", "logprobs": None, "finish_reason": ch["finish_reason"]}]


@dataclass
class ChunkShape:
    """How an endpoint shapes the chunks of an incremental stream."""

    delta: Callable[[int, str, list[TokenLogprob], int], dict[str, Any]]  # (index, text, logprobs, offset) -> choice
    finish: Callable[[int, str], dict[str, Any]]  # (index, finish_reason) -> choice
    prompt_tokens: Callable[[list[Generation]], int]  # of the usage chunk
    first: list[dict[str, Any]] = field(default_factory=list)  # choices sent before any token (chat: the role)


def incremental_stream(generator: LocalGenerator, submit: Submit, payloads: list[Any],
                       params: list[SamplingParams], stops: list[str], include_usage: bool, base: dict[str, Any],
                       shape: ChunkShape, timeout_s: float) -> StreamingResponse:
    """An SSE response fed by ``stream_choices``: every chunk has ``base``'s id, object, created
    and model, its choices shaped by ``shape``."""
    extra = {"usage": None} if include_usage else {}

    async def lines() -> AsyncIterator[str]:
        for ch in shape.first:
            yield f"data: {json.dumps({**base, 'choices': [ch], **extra})}\n\n"
        async for kind, val in stream_choices(generator, submit, payloads, params, stops, timeout_s):
            if kind == "delta":
                ev = {**base, "choices": [shape.delta(*val)], **extra}
            elif kind == "finish":
                ev = {**base, "choices": [shape.finish(*val)], **extra}
            elif kind == "usage":
                if not include_usage:
                    continue
                ev = {**base, "choices": [], "usage": usage(shape.prompt_tokens(val), val)}
            else:  # an error after the stream started: OpenAI's in-stream error event
                err = {"error": {"message": val, "type": "server_error", "param": None, "code": None}}
                yield f"data: {json.dumps(err)}\n\n"
                return
            yield f"data: {json.dumps(ev)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream")


@dataclass
class _ChoiceStream:
    """One streamed choice: the tokens received so far and how much of their text was sent."""

    index: int
    ids: list[int] = field(default_factory=list)
    pending: list[TokenLogprob] = field(default_factory=list)  # logprobs not yet sent
    sent: str = ""
    lp_chars: int = 0  # characters of the token texts whose logprobs were sent
    finished: bool = False

    def emit(self, text: str, upto: int | None) -> list[Event]:
        """The delta event of the new text up to ``upto`` characters (None: all of it and every
        pending logprob), with the logprobs of the tokens it completes; none if nothing is new."""
        end = len(text) if upto is None else upto
        delta = text[len(self.sent):end] if end > len(self.sent) else ""
        self.sent += delta
        start, lps = self.lp_chars, []
        while self.pending and (upto is None or self.lp_chars + len(self.pending[0].token) <= len(self.sent)):
            self.lp_chars += len(self.pending[0].token)
            lps.append(self.pending.pop(0))
        return [("delta", (self.index, delta, lps, start))] if delta or lps else []

    def on_token(self, tid: int, lp: TokenLogprob | None, generator: LocalGenerator, stops: list[str],
                 hold: int) -> list[Event]:
        """Events for one new token: its text once it is whole and cannot be the start of a stop
        string (``hold`` characters are held back), a finish when a stop string is reached."""
        if self.finished:
            return []
        self.ids.append(tid)
        if lp is not None:
            self.pending.append(lp)
        text = generator.decode(self.ids)
        if text.endswith("\ufffd"):  # part of a multi-byte character: wait for the rest
            return []
        cut = [text.find(x) for x in stops if x in text]
        if cut:
            events = self.emit(text, min(cut))
            self.pending.clear()  # tokens past the stop string are not part of the answer
            self.finished = True
            return [*events, ("finish", (self.index, "stop"))]
        return self.emit(text, len(text) - hold)

    def on_done(self, gen: Generation, stops: list[str]) -> list[Event]:
        """Events once the choice's batch ended: the rest of its text and its finish, or an error."""
        if gen.error is not None:
            return [("error", f"generation failed: {gen.error}")]
        if self.finished:
            return []
        final, finish, _ = apply_stops(gen, stops)
        events = self.emit(final if final.startswith(self.sent) else self.sent, None)
        self.finished = True
        return [*events, ("finish", (self.index, finish))]


async def stream_choices(generator: LocalGenerator, submit: Submit, payloads: list[Any],
                         params: list[SamplingParams], stops: list[str], timeout_s: float,
                         ) -> AsyncIterator[Event]:
    """Generate one choice per payload through ``submit``, yielding as tokens arrive:
    ``("delta", (index, text, logprobs, text offset of the first of those logprobs' tokens))``,
    ``("finish", (index, finish_reason))``, ``("usage", [Generation...])`` once all are done, or
    ``("error", message)`` (the last event)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def listener(i: int) -> Any:
        return lambda tid, lp: loop.call_soon_threadsafe(queue.put_nowait, (i, tid, lp))

    tasks = []
    for i, (p, sp) in enumerate(zip(payloads, params)):
        t = asyncio.ensure_future(submit(p, sp, listener(i)))
        # The end marker comes after every token callback already queued by the model thread.
        t.add_done_callback(lambda _t, i=i: queue.put_nowait((i, None, None)))
        tasks.append(t)
    states = [_ChoiceStream(i) for i in range(len(payloads))]
    hold = max((len(x) for x in stops), default=1) - 1  # a stop string may still be forming
    done = 0
    deadline = time.monotonic() + timeout_s
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
            if tid is not None:  # a token
                events = states[i].on_token(tid, lp, generator, stops, hold)
            else:  # the choice's generation ended
                done += 1
                if tasks[i].exception() is not None:  # e.g. too large for the KV cache
                    yield "error", str(tasks[i].exception())
                    return
                events = states[i].on_done(tasks[i].result(), stops)
            for ev in events:
                yield ev
                if ev[0] == "error":
                    return
        yield "usage", [t.result() for t in tasks]
    finally:
        for t in tasks:  # the client left or the stream failed: the requests leave their batch
            if not t.done():
                t.cancel()
