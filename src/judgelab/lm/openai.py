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
import email.utils
import json
import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from judgelab.errors import ConfigError
from judgelab.redact import redact
from judgelab.lm.config import OpenAIBackendConfig
from judgelab.lm.ratelimit import RateLimiter
from judgelab.lm.types import Generation, GenerationRequest, TokenLogprob
from judgelab.lm.usage import UsageStats

log = logging.getLogger(__name__)

# A URL that failed this many times in a row is cooled down (tried only when all others are).
_FAILS_BEFORE_COOLDOWN = 3
_COOLDOWN_MAX_S = 30.0


class _Retryable(Exception):
    """One attempt failed in a way worth retrying; ``kind`` names it for stats."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None, url_fault: bool = True):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after
        # 429 and malformed bodies say little about the URL's health; connection errors, timeouts
        # and 5xx do.
        self.url_fault = url_fault


class _Permanent(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


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
class OpenAIBackendStats:
    """Counters since the backend was created (one request = one ``generate`` call)."""

    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    attempts: int = 0
    retries: int = 0
    faults: Counter = field(default_factory=Counter)  # kind -> count, over all attempts

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["faults"] = dict(self.faults)
        return d


def _redact_url(url: str) -> str:
    """The URL for logs and errors: no userinfo at all, secret query parameters masked."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return redact(url)


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


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
        self._endpoints = [_Endpoint(url=u.rstrip("/"), shown=_redact_url(u.rstrip("/"))) for u in config.base_urls]
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

    # -- request building / response parsing --------------------------------------------------

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        p = request.params
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": request.messages,
            "max_tokens": p.max_new_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
        }
        if p.seed is not None:
            body["seed"] = p.seed
        if p.top_logprobs > 0:
            body["logprobs"] = True
            body["top_logprobs"] = p.top_logprobs
        if p.response_format is not None:
            body["response_format"] = p.response_format
        if self.config.reasoning_effort is not None:
            body["reasoning_effort"] = self.config.reasoning_effort
        extra = self.config.extra_body
        if "max_completion_tokens" in extra:
            # OpenAI reasoning models reject max_tokens next to max_completion_tokens.
            body.pop("max_tokens")
        body.update(extra)
        return body

    @staticmethod
    def _estimate_tokens(body: dict[str, Any]) -> int:
        """What a request counts against a tokens-per-minute limit before it is answered: its
        prompt (about 4 characters a token) plus the most it may generate."""
        chars = sum(len(m.get("content") or "") if isinstance(m.get("content"), str) else len(json.dumps(m))
                    for m in body.get("messages", []))
        max_out = body.get("max_completion_tokens") or body.get("max_tokens") or 0
        return chars // 4 + 1 + int(max_out)

    @staticmethod
    def _parse_logprobs(choice: Any, shown: str) -> tuple[list[TokenLogprob] | None, str | None]:
        """``choices[0].logprobs.content`` as TokenLogprobs, or (None, why not)."""
        lp = choice.get("logprobs") if isinstance(choice, dict) else None
        content = lp.get("content") if isinstance(lp, dict) else None
        if not isinstance(content, list):
            return None, (f"logprobs were requested but the server returned none ({shown}); "
                          "use a server that supports logprobs/top_logprobs (vLLM, OpenAI, judgelab serve)")
        out = []
        for entry in content:
            try:
                top = [(str(t["token"]), float(t["logprob"])) for t in entry.get("top_logprobs") or []]
                out.append(TokenLogprob(token=str(entry["token"]), logprob=float(entry["logprob"]), top=top))
            except (KeyError, TypeError, ValueError, AttributeError):
                return None, f"malformed logprobs entry from {shown}: {_snippet(json.dumps(entry, default=str))!r}"
        return out, None

    @staticmethod
    def _parse(resp: httpx.Response, shown: str) -> tuple[Generation, Any]:
        """Turn a 200 response into (Generation, choices[0]), or raise _Retryable('malformed')."""
        try:
            data = resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise _Retryable("malformed", f"non-JSON body from {shown}: {_snippet(resp.text)!r}", url_fault=False)
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise _Retryable("malformed", f"no choices[0].message in response from {shown}: {_snippet(resp.text)!r}",
                             url_fault=False)
        if not isinstance(message, dict):
            raise _Retryable("malformed", f"choices[0].message is not an object ({shown})", url_fault=False)
        content = message.get("content")
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if not isinstance(reasoning, str):
            reasoning = None
        if content is not None and not isinstance(content, str):
            raise _Retryable("malformed", f"choices[0].message.content is {type(content).__name__} ({shown})",
                             url_fault=False)
        if content is None and not reasoning:
            raise _Retryable("malformed", f"no message content in response from {shown}", url_fault=False)
        text = content or ""
        if reasoning and "<think>" not in text:
            # Keep the trace where the verdict parser looks for reasoning. With no content (the
            # model ran out of tokens while thinking) the <think> stays open: a parse failure
            # with the reasoning kept, which is the honest outcome.
            text = f"<think>{reasoning}</think>{text}" if content is not None else f"<think>{reasoning}"
        usage = data.get("usage") or {}
        if not isinstance(usage, dict):
            usage = {}

        def _int(v: Any) -> int:
            try:
                return int(v or 0)
            except (TypeError, ValueError):
                return 0

        gen = Generation(
            text=text,
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            finish_reason=choice.get("finish_reason") if isinstance(choice, dict) else None,
        )
        return gen, choice

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
            gen.logprobs, why = self._parse_logprobs(choice, ep.shown)
            if why is not None:
                # Not worth a retry: the same server will answer the same way. The text is
                # dropped (an error Generation has none) so no caller mistakes it for an answer
                # scored from logprobs.
                raise _Permanent("no_logprobs", why)
        return gen

    async def _post(self, client: httpx.AsyncClient, ep: _Endpoint, body: dict[str, Any]) -> tuple[Generation, Any]:
        url = ep.url + "/chat/completions"
        try:
            # A total deadline: httpx's timeout is per read, so a server trickling bytes could
            # otherwise hold a slot forever.
            async with asyncio.timeout(self.config.timeout_s):
                resp = await client.post(url, json=body)
        except (TimeoutError, httpx.TimeoutException):
            raise _Retryable("timeout", f"timed out after {self.config.timeout_s:g}s ({ep.shown})")
        except httpx.TransportError as e:
            raise _Retryable("connection", f"{type(e).__name__} to {ep.shown}: {_snippet(str(e)) or 'no detail'}")
        status = resp.status_code
        if status == 200:
            return self._parse(resp, ep.shown)
        detail = f"HTTP {status} from {ep.shown}: {_snippet(resp.text)!r}"
        if status == 429:
            raise _Retryable("rate_limited", detail, _parse_retry_after(resp.headers.get("retry-after")),
                             url_fault=False)
        if status == 408 or status >= 500:
            raise _Retryable("server_error" if status >= 500 else "timeout", detail)
        # Any other 4xx (bad request, auth, unknown model, context too long): retrying cannot help.
        raise _Permanent(f"http_{status}", detail)

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
        return gen

    async def _generate(self, request: GenerationRequest, waited: list[float]) -> Generation:
        client, sem = self._ensure_client()
        body = self._body(request)
        self.stats.requests += 1
        t0 = time.perf_counter()
        estimate = self._estimate_tokens(body) if self.limiter.tokens is not None else 0
        last: _Retryable | None = None
        avoid: _Endpoint | None = None
        total = self.config.max_retries + 1
        for attempt in range(1, total + 1):
            # Every attempt is a request the API counts, so each one passes the limiter.
            waited[0] += await self.limiter.acquire(estimate)
            async with sem:
                ep = self._pick(avoid)
                ep.in_flight += 1
                ep.requests += 1
                self.stats.attempts += 1
                try:
                    gen = await self._attempt(client, ep, body)
                except _Retryable as e:
                    last = e
                    self.stats.faults[e.kind] += 1
                    if e.url_fault:
                        self._mark(ep, ok=False)
                        avoid = ep
                except _Permanent as e:
                    self.stats.faults[e.kind] += 1
                    self.stats.failed += 1
                    msg = self._scrub(f"{e.detail} (permanent, attempts {attempt})")
                    log.warning("openai backend: %s", msg)
                    return Generation(text="", error=msg, attempts=attempt,
                                      latency_s=time.perf_counter() - t0)
                except Exception as e:  # a bug or an exotic httpx error: still a value, never a raise
                    self.stats.faults["unexpected"] += 1
                    self.stats.failed += 1
                    msg = self._scrub(f"unexpected {type(e).__name__} calling {ep.shown}: {_snippet(str(e))} "
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
                    self.stats.succeeded += 1
                    return gen
                finally:
                    ep.in_flight -= 1
            if attempt < total:
                self.stats.retries += 1
                delay = self._backoff(attempt - 1, last.retry_after)
                log.debug("openai backend: %s %s; retry %d/%d in %.3fs", last.kind, self._scrub(last.detail),
                          attempt, self.config.max_retries, delay)
                if delay > 0:
                    await asyncio.sleep(delay)
        assert last is not None
        self.stats.failed += 1
        msg = self._scrub(f"{last.kind}: {last.detail} (gave up, attempts {total})")
        log.warning("openai backend: %s", msg)
        return Generation(text="", error=msg, attempts=total, latency_s=time.perf_counter() - t0)
