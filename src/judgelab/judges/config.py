"""Typed configs for judges and their backends (registered by ``type``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from judgelab.config import StrictModel


class TransformersBackendConfig(StrictModel):
    type: Literal["transformers"] = "transformers"
    model: str = Field("smollm2-135m-instruct", description="HF hub id, local folder, or offline alias.")
    batch_size: int = Field(8, ge=1, description="Largest batch the dynamic batcher forms.")
    max_wait_ms: float = Field(5.0, ge=0, description="How long the batcher waits to fill a batch.")
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', 'cuda:1'...")
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


class RubricBackendConfig(StrictModel):
    type: Literal["rubric"] = "rubric"
    rubric: str = Field("gold", description="Registered rubric name.")


class RewardModelBackendConfig(StrictModel):
    """A scalar (Bradley-Terry) reward model used as a judge: pointwise score = the reward mapped
    onto the judge's scale; pairwise preference = the higher reward, strength = sigmoid(r_a - r_b)."""

    type: Literal["reward_model"] = "reward_model"
    model: str = Field(..., description="Folder of a sequence-classification checkpoint (train-judge output).")
    batch_size: int = Field(8, ge=1)
    max_wait_ms: float = Field(5.0, ge=0)
    max_length: int = Field(1024, ge=16, description="Truncate (prompt, response) to this many tokens.")
    device: str = "auto"
    dtype: str = "auto"
    temperature: float = Field(1.0, gt=0, description="Reward scale before the sigmoid that maps onto the score scale.")


BackendConfig = Annotated[
    TransformersBackendConfig | OpenAIBackendConfig | RubricBackendConfig | RewardModelBackendConfig,
    Field(discriminator="type"),
]

BACKEND_TYPES = ("transformers", "openai", "rubric", "reward_model")


class JudgeSamplingConfig(StrictModel):
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0, description="0 = greedy.")
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = 0


class JudgeConfig(StrictModel):
    """A judge = prompt template + verdict parser + backend."""

    name: str = "judge"
    backend: BackendConfig = Field(default_factory=TransformersBackendConfig)
    style: Literal["direct", "reasoning"] = Field("direct", description="Verdict only, or think first.")
    pointwise_template: str | None = Field(None, description="Template name or file path; default by style.")
    pairwise_template: str | None = Field(None, description="Template name or file path; default by style.")
    scale: tuple[int, int] = Field((1, 10), description="Pointwise score range, inclusive.")
    allow_tie: bool = True
    sampling: JudgeSamplingConfig = Field(default_factory=JudgeSamplingConfig)
    concurrency: int = Field(64, ge=1, description="Items in flight inside the judge (backends bound further).")

    @field_validator("backend", mode="before")
    @classmethod
    def _known_backend(cls, v: Any) -> Any:
        if isinstance(v, dict):
            t = v.get("type", "transformers")
            if t not in BACKEND_TYPES:
                raise ValueError(f"unknown backend '{t}' (known: {', '.join(BACKEND_TYPES)})")
        return v

    @field_validator("scale")
    @classmethod
    def _scale_order(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] >= v[1]:
            raise ValueError(f"scale must be (low, high) with low < high, got {v}")
        return v
