"""Typed configs of the text backends judgelab ships (selected by ``type``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.models.devices import Device


class TransformersBackendConfig(StrictModel):
    type: Literal["transformers"] = "transformers"
    model: str = Field("smollm2-135m-instruct", description="HF hub id, local folder, or offline alias.")
    batch_size: int = Field(8, ge=1, description="Largest batch the dynamic batcher forms.")
    max_wait_ms: float = Field(5.0, ge=0, description="How long the batcher waits to fill a batch.")
    device: Device = Field("auto", description="'auto' (cuda:LOCAL_RANK when CUDA, else cpu), 'cpu', 'cuda', 'cuda:1'...")
    dtype: str = Field("auto", description="'auto' (bf16 on CUDA, fp32 on CPU), 'float32', 'bfloat16', 'float16'.")
    static_cache: bool = Field(False, description="CUDA only: static KV cache + compiled forward (faster decode).")
    max_input_tokens: int | None = Field(None, ge=1, description="Cut longer prompts from the left (None: no cut).")


class OpenAIBackendConfig(StrictModel):
    type: Literal["openai"] = "openai"
    model: str = Field(..., description="Model name the server expects.")
    base_urls: list[str] = Field(..., min_length=1, description="One or more .../v1 URLs, load-balanced.")
    api_key_env: str | None = Field(None, description="Name of the env var holding the API key (never logged).")
    concurrency: int = Field(16, ge=1, description="Requests in flight at once (all URLs together).")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout.")
    max_retries: int = Field(5, ge=0, description="Retries on timeouts, 429, 5xx and malformed responses.")
    backoff_base_s: float = Field(0.5, ge=0, description="First backoff; doubles each retry (with jitter).")
    backoff_max_s: float = Field(20.0, ge=0, description="Cap on one backoff.")
    reasoning_effort: str | None = Field(None, description="Passed through (e.g. gpt-oss: low/medium/high).")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="Merged into each request body.")
    requests_per_minute: float | None = Field(
        None, gt=0, description="Client-side limit on requests sent per minute, retries included (None: no limit).")
    tokens_per_minute: float | None = Field(
        None, gt=0, description="Client-side limit on tokens per minute: each request counts its estimated prompt "
        "tokens (characters / 4) plus max_tokens up front, as OpenAI counts it (None: no limit).")
    rate_burst_s: float = Field(
        1.0, gt=0, description="A rate limit's bucket holds this many seconds of its rate (the burst allowed).")
