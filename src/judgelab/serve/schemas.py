"""The request shapes ``judgelab serve`` accepts (OpenAI's chat and legacy completions, OpenRLHF's
reward request) as pydantic models, and OpenAI's error shape.

What this server cannot honour is a 400 naming the parameter, never a silently ignored field:
``response_format`` other than ``text`` (no constrained decoding), ``tools``/``functions``,
non-zero ``frequency_penalty``/``presence_penalty``, ``logit_bias``, non-text ``modalities``/
``audio``, ``echo``/``suffix``/``best_of`` on completions, token-id prompts. Fields that do not
change the output (``user``, ``metadata``, ``store``, ``service_tier``, ``parallel_tool_calls``,
``reasoning_effort``) are accepted and ignored, as vLLM does. Errors use the OpenAI shape
``{"error": {"message", "type", "param", "code"}}``. Reads and writes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

MAX_TOP_LOGPROBS = 20  # OpenAI's cap


class BadRequest(Exception):
    """A request the server answers with an OpenAI error (``status``, default 400) instead of a result."""

    def __init__(self, message: str, param: str | None = None, status: int = 400, code: str | None = None,
                 type_: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.status, self.code, self.type = message, param, status, code, type_


def error_response(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                   code: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": type_, "param": param, "code": code}})


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant", "developer", "tool"]
    # A string, or OpenAI content parts ([{"type": "text", "text": ...}]); only text is supported.
    content: str | list[dict[str, Any]] | None = None
    tool_calls: Any = None  # refused (a conversation with tool calls cannot be rendered faithfully)
    function_call: Any = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise BadRequest(f"unsupported content part type {part.get('type')!r} (only 'text')", "messages")
            parts.append(part["text"])
        return "".join(parts)


class CommonRequest(BaseModel):
    """Fields chat and text completions share. Unknown fields are ignored (as vLLM does); known
    ones this server cannot honour get a 400 (``refuse_unsupported``)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1)  # int64, what torch.manual_seed takes
    n: int = Field(1, ge=1, le=16)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None

    def refuse_unsupported(self) -> None:
        if self.seed is not None and self.seed + self.n - 1 > 2**63 - 1:  # choice j is seeded seed + j
            raise BadRequest(f"seed + n - 1 must fit in a signed 64-bit integer (at most {2**63 - 1})", "seed")
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                raise BadRequest(f"{name} is not supported by judgelab serve (only 0)", name,
                                 code="unsupported_parameter")
        if self.logit_bias:
            raise BadRequest("logit_bias is not supported by judgelab serve", "logit_bias", code="unsupported_parameter")

    @property
    def include_usage(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.get("include_usage"))

    def stops(self) -> list[str]:
        return [s for s in ([self.stop] if isinstance(self.stop, str) else (self.stop or [])) if s]


class ChatCompletionRequest(CommonRequest):
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
            raise BadRequest("top_logprobs needs logprobs: true", "top_logprobs")
        rf = self.response_format
        if rf is not None and rf.get("type", "text") != "text":
            raise BadRequest(f"response_format type {rf.get('type')!r} is not supported by judgelab serve "
                             "(no constrained decoding; only 'text'): ask for the format in the prompt",
                             "response_format", code="unsupported_parameter")
        for name in ("tools", "functions"):
            if getattr(self, name):
                raise BadRequest(f"{name} are not supported by judgelab serve", name, code="unsupported_parameter")
        for name in ("tool_choice", "function_call"):
            if getattr(self, name) not in (None, "none", "auto"):
                raise BadRequest(f"{name} is not supported by judgelab serve", name, code="unsupported_parameter")
            if getattr(self, name) == "auto" and not (self.tools or self.functions):
                raise BadRequest(f"{name} is only allowed when {'tools' if name == 'tool_choice' else 'functions'} "
                                 "are given", name)
        for i, m in enumerate(self.messages):
            if m.role == "tool" or m.tool_calls or m.function_call:
                raise BadRequest("tool calls and tool results in the conversation are not supported by judgelab serve "
                                 "(they would be dropped from the prompt)", f"messages.{i}", code="unsupported_parameter")
        if self.audio or (self.modalities and set(self.modalities) != {"text"}):
            raise BadRequest("only text output is supported", "modalities", code="unsupported_parameter")

    @property
    def logprob_k(self) -> int:
        """top_logprobs for SamplingParams: logprobs alone still needs each token's own logprob,
        which the generator returns with at least one alternative."""
        return max(1, self.top_logprobs or 0) if self.logprobs else 0


class CompletionRequest(CommonRequest):
    max_tokens: int | None = Field(None, ge=1)
    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1)

    def refuse_unsupported(self) -> None:
        super().refuse_unsupported()
        if self.echo:
            raise BadRequest("echo is not supported by judgelab serve", "echo", code="unsupported_parameter")
        if self.suffix:
            raise BadRequest("suffix (insertion) is not supported by judgelab serve", "suffix",
                             code="unsupported_parameter")
        if self.best_of is not None and self.best_of != self.n:
            raise BadRequest("best_of is not supported by judgelab serve (only best_of = n)", "best_of",
                             code="unsupported_parameter")

    def prompts(self) -> list[str]:
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if not p:
            raise BadRequest("prompt is empty", "prompt")
        if all(isinstance(x, str) for x in p):
            return list(p)  # type: ignore[arg-type]
        raise BadRequest("token-id prompts are not supported by judgelab serve; send text", "prompt",
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
