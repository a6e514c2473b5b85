"""What goes over the wire to an OpenAI-compatible server: the chat-completions request body, the
tokens a request counts against a rate limit, and the response read back into a ``Generation``
(text, reasoning, usage, logprobs), with every malformed answer turned into a typed failure.

Pure functions of their inputs (the backend in judgelab.lm.openai sends and retries); reads and
writes nothing. Error texts name the server by its shown (redacted) URL, never the raw one.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from judgelab.lm.config import OpenAIBackendConfig
from judgelab.lm.types import Generation, GenerationRequest, TokenLogprob
from judgelab.redact import redact


class Retryable(Exception):
    """One attempt failed in a way worth retrying; ``kind`` names it for stats."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None, url_fault: bool = True):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after
        # 429 and malformed bodies say little about the URL's health; connection errors, timeouts
        # and 5xx do.
        self.url_fault = url_fault


class Permanent(Exception):
    """One attempt failed in a way a retry cannot fix (a 4xx, no logprobs when asked)."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def redact_url(url: str) -> str:
    """The URL for logs and errors: no userinfo at all, secret query parameters masked."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
        url = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return redact(url)


def parse_retry_after(value: str | None) -> float | None:
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


def snippet(text: str, n: int = 200) -> str:
    """``text`` on one line, cut to ``n`` characters: enough of a server's answer to name it."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


def request_body(config: OpenAIBackendConfig, request: GenerationRequest) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for one request."""
    p = request.params
    body: dict[str, Any] = {
        "model": config.model,
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
    if config.reasoning_effort is not None:
        body["reasoning_effort"] = config.reasoning_effort
    extra = config.extra_body
    if "max_completion_tokens" in extra:
        # OpenAI reasoning models reject max_tokens next to max_completion_tokens.
        body.pop("max_tokens")
    body.update(extra)
    return body


def estimate_tokens(body: dict[str, Any]) -> int:
    """What a request counts against a tokens-per-minute limit before it is answered: its
    prompt (about 4 characters a token) plus the most it may generate."""
    chars = sum(len(m.get("content") or "") if isinstance(m.get("content"), str) else len(json.dumps(m))
                for m in body.get("messages", []))
    max_out = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    return chars // 4 + 1 + int(max_out)


def parse_logprobs(choice: Any, shown: str) -> tuple[list[TokenLogprob] | None, str | None]:
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
            return None, f"malformed logprobs entry from {shown}: {snippet(json.dumps(entry, default=str))!r}"
    return out, None


def _message(resp: httpx.Response, shown: str) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """(the response's JSON, its choices[0], choices[0].message), or raise Retryable('malformed')."""
    try:
        data = resp.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise Retryable("malformed", f"non-JSON body from {shown}: {snippet(resp.text)!r}", url_fault=False)
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise Retryable("malformed", f"no choices[0].message in response from {shown}: {snippet(resp.text)!r}",
                        url_fault=False)
    if not isinstance(message, dict):
        raise Retryable("malformed", f"choices[0].message is not an object ({shown})", url_fault=False)
    return data, choice, message


def _count(v: Any) -> int:
    """A usage count as the server sent it, 0 when absent or not a number."""
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def parse_response(resp: httpx.Response, shown: str) -> tuple[Generation, Any]:
    """Turn a 200 response into (Generation, choices[0]), or raise Retryable('malformed')."""
    data, choice, message = _message(resp, shown)
    content = message.get("content")
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if not isinstance(reasoning, str):
        reasoning = None
    if content is not None and not isinstance(content, str):
        raise Retryable("malformed", f"choices[0].message.content is {type(content).__name__} ({shown})",
                        url_fault=False)
    if content is None and not reasoning:
        raise Retryable("malformed", f"no message content in response from {shown}", url_fault=False)
    text = content or ""
    if reasoning and "<think>" not in text:
        # Keep the trace where the verdict parser looks for reasoning. With no content (the
        # model ran out of tokens while thinking) the <think> stays open: a parse failure
        # with the reasoning kept, which is the honest outcome.
        text = f"<think>{reasoning}</think>{text}" if content is not None else f"<think>{reasoning}"
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        usage = {}
    gen = Generation(
        text=text,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        finish_reason=choice.get("finish_reason") if isinstance(choice, dict) else None,
    )
    return gen, choice
