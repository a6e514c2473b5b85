"""OpenAI-compatible HTTP backend: any server that speaks ``POST {base_url}/chat/completions``
(vLLM, SGLang, llama.cpp server, a hosted API, ``judgelab serve``).

Reads: the API key from the env var named by ``api_key_env`` (never logged, never in
``identity()`` or error texts). Writes nothing; per-request failures come back as
``Generation(error=...)``.

Logprobs: ``params.top_logprobs = k > 0`` sends ``logprobs: true, top_logprobs: k`` and reads
``choices[0].logprobs.content[*].{token, logprob, top_logprobs}`` into ``Generation.logprobs``; a
server that answers without them gives a Generation whose ``error`` says so (never a silent None).
``params.response_format`` is sent as is (OpenAI's shape); a server that refuses it answers 400,
which is recorded as a permanent error.

Rate limits (``requests_per_minute``, ``tokens_per_minute``): a client-side token bucket
(judgelab.lm.ratelimit) every attempt passes before it is sent. Accounting: each call is logged at
DEBUG (tokens, latency, attempts, rate-limit wait) and ``aclose`` logs one INFO summary line
(judgelab.lm.usage), i.e. one per stage that used the backend.

Why httpx rather than the ``openai`` client: we need our own retry policy (full-jitter capped
backoff, Retry-After, retrying malformed 200s, least-in-flight balancing over several URLs with
a cooldown for failing ones), and the openai client's retries would sit underneath ours.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from judgelab.errors import ConfigError
from judgelab.redact import redact
from judgelab.lm.config import OpenAIBackendConfig
from judgelab.lm.openai_wire import (
    Permanent,
    Retryable,
    estimate_tokens,
    parse_logprobs,
    parse_response,
    parse_retry_after,
    redact_url,
    request_body,
    snippet,
)
from judgelab.lm.ratelimit import RateLimiter
from judgelab.lm.types import Generation, GenerationRequest
from judgelab.lm.usage import CallCounts, UsageStats

log = logging.getLogger(__name__)

# A URL that failed this many times in a row is cooled down (tried only when all others are).
_FAILS_BEFORE_COOLDOWN = 3
_COOLDOWN_MAX_S = 30.0


@dataclass
class _Endpoint:
    url: str  # .../v1 without trailing slash
    shown: str  # the URL with any user:password removed, for logs and errors
    in_flight: int = 0
    consecutive_failures: int = 0
    cooldown_until: float = 0.0
    requests: int = 0
    failures: int = 0


@dataclass
class OpenAIBackendStats(CallCounts):
    """Counters since the backend was created (one request = one ``generate`` call), never reset
    (``usage`` is the per-stage account): requests, failed ones, attempts, and the faults met."""

    faults: Counter = field(default_factory=Counter)  # kind -> count, over all attempts

    @property
    def requests(self) -> int:
        return self.calls

    @property
    def succeeded(self) -> int:
        return self.calls - self.failed

    @property
    def retries(self) -> int:
        return self.attempts - self.calls

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "succeeded": self.succeeded, "failed": self.failed,
                "attempts": self.attempts, "retries": self.retries, "faults": dict(self.faults)}


class OpenAIBackend:
    """Chat completions over HTTP with bounded concurrency, retries and load balancing."""

    name = "openai"

    def __init__(self, config: OpenAIBackendConfig, *, seed: int | None = None):
        self.config = config
        self._api_key: str | None = None
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ConfigError(
                    f"environment variable {config.api_key_env} is not set",
                    where="backend.api_key_env",
                    hint=f"export {config.api_key_env}=<key>, or set api_key_env: null for a server without auth",
                )
            self._api_key = key
        self._endpoints = [_Endpoint(url=u.rstrip("/"), shown=redact_url(u.rstrip("/"))) for u in config.base_urls]
        for ep in self._endpoints:
            if not ep.url.startswith(("http://", "https://")):
                raise ConfigError(f"base URL '{ep.shown}' is not http(s)", where="backend.base_urls",
                                  hint="use e.g. http://127.0.0.1:8000/v1")
        self._rr = 0
        self._rng = random.Random(seed)
        self.stats = OpenAIBackendStats()
        self.usage = UsageStats()
        self.limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute, burst_s=config.rate_burst_s)
        # Bound to the event loop that first uses them (see _ensure_client).
        self._client: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_config(cls, cfg: OpenAIBackendConfig) -> "OpenAIBackend":
        return cls(cfg)

    def identity(self) -> dict[str, Any]:
        # No URLs or keys: the same model behind different servers shares cached verdicts.
        return {
            "type": "openai",
            "model": self.config.model,
            "reasoning_effort": self.config.reasoning_effort,
            "extra_body": self.config.extra_body,
        }

    def endpoint_stats(self) -> list[dict[str, Any]]:
        return [
            {"url": e.shown, "requests": e.requests, "failures": e.failures, "in_flight": e.in_flight,
             "consecutive_failures": e.consecutive_failures}
            for e in self._endpoints
        ]

    # -- client lifecycle ---------------------------------------------------------------------

    def _ensure_client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """Create the client and semaphore on the running loop (judgelab runs coroutines on one
        background loop; an httpx client must not be shared between loops)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            if self._client is not None:
                log.debug("openai backend used from a new event loop; opening a new HTTP client")
            c = self.config
            headers = {"Content-Type": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(c.timeout_s),
                limits=httpx.Limits(max_connections=c.concurrency, max_keepalive_connections=c.concurrency),
            )
            self._sem = asyncio.Semaphore(c.concurrency)
            self._loop = loop
        assert self._sem is not None
        return self._client, self._sem

    async def aclose(self) -> None:
        if self.usage.calls:  # one line per stage: stages close their judges (and backends) at the end
            log.info(self.usage.summary(f"openai backend {self.config.model}"))
            self.usage = UsageStats()
        client, loop = self._client, self._loop
        self._client, self._sem, self._loop = None, None, None
        if client is None:
            return
        try:
            if loop is asyncio.get_running_loop():
                await client.aclose()
            elif loop is not None and not loop.is_closed() and loop.is_running():
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(client.aclose(), loop))
        except RuntimeError:  # loop went away underneath us; nothing left to close
            pass

    # -- load balancing -----------------------------------------------------------------------

    def _pick(self, avoid: _Endpoint | None) -> _Endpoint:
        """Least in flight; URLs cooling down after repeated failures only when all are; on a
        retry, another URL than the one that just failed when there is one; round robin among
        ties."""
        now = time.monotonic()
        n = len(self._endpoints)
        best, best_key = None, None
        for j in range(n):
            ep = self._endpoints[(self._rr + j) % n]
            k = (ep.cooldown_until > now, ep is avoid, ep.in_flight, ep.consecutive_failures, j)
            if best_key is None or k < best_key:
                best, best_key = ep, k
        self._rr = (self._rr + 1) % n
        assert best is not None
        return best

    def _mark(self, ep: _Endpoint, ok: bool) -> None:
        if ok:
            ep.consecutive_failures = 0
            ep.cooldown_until = 0.0
            return
        ep.failures += 1
        ep.consecutive_failures += 1
        if ep.consecutive_failures >= _FAILS_BEFORE_COOLDOWN:
            extra = ep.consecutive_failures - _FAILS_BEFORE_COOLDOWN
            ep.cooldown_until = time.monotonic() + min(_COOLDOWN_MAX_S, 0.5 * 2 ** min(extra, 10))
            if extra == 0:
                log.warning("openai backend: %s failed %d times in a row; deprioritising it",
                            ep.shown, ep.consecutive_failures)

    # -- one request --------------------------------------------------------------------------

    async def _attempt(self, client: httpx.AsyncClient, ep: _Endpoint, body: dict[str, Any]) -> Generation:
        gen, choice = await self._post(client, ep, body)
        if body.get("logprobs"):
            gen.logprobs, why = parse_logprobs(choice, ep.shown)
            if why is not None:
                # Not worth a retry: the same server will answer the same way. The text is
                # dropped (an error Generation has none) so no caller mistakes it for an answer
                # scored from logprobs.
                raise Permanent("no_logprobs", why)
        return gen

    async def _post(self, client: httpx.AsyncClient, ep: _Endpoint, body: dict[str, Any]) -> tuple[Generation, Any]:
        url = ep.url + "/chat/completions"
        try:
            # A total deadline: httpx's timeout is per read, so a server trickling bytes could
            # otherwise hold a slot forever.
            async with asyncio.timeout(self.config.timeout_s):
                resp = await client.post(url, json=body)
        except (TimeoutError, httpx.TimeoutException):
            raise Retryable("timeout", f"timed out after {self.config.timeout_s:g}s ({ep.shown})")
        except httpx.TransportError as e:
            raise Retryable("connection", f"{type(e).__name__} to {ep.shown}: {snippet(str(e)) or 'no detail'}")
        status = resp.status_code
        if status == 200:
            return parse_response(resp, ep.shown)
        detail = f"HTTP {status} from {ep.shown}: {snippet(resp.text)!r}"
        if status == 429:
            raise Retryable("rate_limited", detail, parse_retry_after(resp.headers.get("retry-after")),
                             url_fault=False)
        if status == 408 or status >= 500:
            raise Retryable("server_error" if status >= 500 else "timeout", detail)
        # Any other 4xx (bad request, auth, unknown model, context too long): retrying cannot help.
        raise Permanent(f"http_{status}", detail)

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        c = self.config
        if retry_after is not None:
            return min(retry_after, c.backoff_max_s)
        # Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^retry)].
        return self._rng.uniform(0.0, min(c.backoff_max_s, c.backoff_base_s * 2**retry))

    def _scrub(self, text: str) -> str:
        if self._api_key and self._api_key in text:
            text = text.replace(self._api_key, "***")
        for ep in self._endpoints:  # a raw URL quoted back by httpx in an exception text
            text = text.replace(ep.url, ep.shown)
        return redact(text)

    async def generate(self, request: GenerationRequest) -> Generation:
        waited = [0.0]
        gen = await self._generate(request, waited)
        self.usage.record(gen, log=log, label=f"openai {self.config.model}", waited_s=waited[0])
        self.stats.count(gen)
        return gen

    async def _generate(self, request: GenerationRequest, waited: list[float]) -> Generation:
        client, sem = self._ensure_client()
        body = request_body(self.config, request)
        t0 = time.perf_counter()
        estimate = estimate_tokens(body) if self.limiter.tokens is not None else 0
        last: Retryable | None = None
        avoid: _Endpoint | None = None
        total = self.config.max_retries + 1
        for attempt in range(1, total + 1):
            # Every attempt is a request the API counts, so each one passes the limiter.
            waited[0] += await self.limiter.acquire(estimate)
            async with sem:
                ep = self._pick(avoid)
                ep.in_flight += 1
                ep.requests += 1
                try:
                    gen = await self._attempt(client, ep, body)
                except Retryable as e:
                    last = e
                    self.stats.faults[e.kind] += 1
                    if e.url_fault:
                        self._mark(ep, ok=False)
                        avoid = ep
                except Permanent as e:
                    self.stats.faults[e.kind] += 1
                    msg = self._scrub(f"{e.detail} (permanent, attempts {attempt})")
                    log.warning("openai backend: %s", msg)
                    return Generation(text="", error=msg, attempts=attempt,
                                      latency_s=time.perf_counter() - t0)
                except Exception as e:  # a bug or an exotic httpx error: still a value, never a raise
                    self.stats.faults["unexpected"] += 1
                    msg = self._scrub(f"unexpected {type(e).__name__} calling {ep.shown}: {snippet(str(e))} "
                                      f"(attempts {attempt})")
                    log.warning("openai backend: %s", msg, exc_info=True)
                    return Generation(text="", error=msg, attempts=attempt,
                                      latency_s=time.perf_counter() - t0)
                else:
                    self._mark(ep, ok=True)
                    # A prompt longer than estimated is charged its difference (never refunded:
                    # OpenAI counts max_tokens against the limit whether used or not).
                    self.limiter.charge(gen.prompt_tokens + gen.completion_tokens - estimate)
                    gen.attempts = attempt
                    gen.latency_s = time.perf_counter() - t0
                    return gen
                finally:
                    ep.in_flight -= 1
            if attempt < total:
                delay = self._backoff(attempt - 1, last.retry_after)
                log.debug("openai backend: %s %s; retry %d/%d in %.3fs", last.kind, self._scrub(last.detail),
                          attempt, self.config.max_retries, delay)
                if delay > 0:
                    await asyncio.sleep(delay)
        assert last is not None
        msg = self._scrub(f"{last.kind}: {last.detail} (gave up, attempts {total})")
        log.warning("openai backend: %s", msg)
        return Generation(text="", error=msg, attempts=total, latency_s=time.perf_counter() - t0)
