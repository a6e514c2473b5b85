"""Typed configs for judges and their backends (selected by ``type``, from an open registry)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

from judgelab.config import StrictModel
from judgelab.lm.config import OpenAIBackendConfig, TransformersBackendConfig

__all__ = ["JudgeConfig", "JudgeSamplingConfig", "RubricBackendConfig", "RewardModelBackendConfig",
           "TransformersBackendConfig", "OpenAIBackendConfig", "validate_backend"]


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


# What a judge's ``backend`` may be: a text backend of judgelab.lm (transformers, openai, or one
# registered with judgelab.lm.register_backend), or a judge type that produces verdicts itself
# (rubric, reward_model, or one registered with judgelab.judges.registry.register_judge_type).
# Validated by ``type`` in JudgeConfig._backend, so the set is open to users.
BackendConfig = Any

# Judge types that are not text backends: their config models, by type. The registry adds to it.
JUDGE_BACKEND_CONFIGS: dict[str, type[BaseModel]] = {
    "rubric": RubricBackendConfig,
    "reward_model": RewardModelBackendConfig,
}


def backend_config_model(type_: str) -> type[BaseModel]:
    from judgelab import lm

    model = JUDGE_BACKEND_CONFIGS.get(type_) or lm.backend_config_model(type_)
    if model is None:
        known = sorted({*JUDGE_BACKEND_CONFIGS, *lm.BACKENDS})
        raise ValueError(f"unknown backend '{type_}' (known: {', '.join(known)}; register one in Python with "
                         "judgelab.lm.register_backend)")
    return model


def validate_backend(v: Any) -> BaseModel:
    """A backend mapping -> its typed config (by ``type``, default 'transformers')."""
    if isinstance(v, BaseModel):
        return v
    if not isinstance(v, dict):
        raise ValueError(f"backend must be a mapping with a 'type', got {type(v).__name__}")
    t = v.get("type", "transformers")
    model = backend_config_model(t)
    try:
        return model.model_validate({**v, "type": t})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ValueError(f"unknown key '{loc}' for backend type '{t}' (known keys: "
                             f"{', '.join(model.model_fields)})") from None
        raise ValueError(f"backend type '{t}', key '{loc}': {err['msg']}") from None


class JudgeSamplingConfig(StrictModel):
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0, description="0 = greedy.")
    top_p: float = Field(1.0, gt=0, le=1)
    seed: int = 0


class JudgeConfig(StrictModel):
    """A judge = prompt template + verdict parser + backend."""

    name: str = "judge"
    backend: BackendConfig = Field(
        default_factory=TransformersBackendConfig,
        description="Text backend (transformers, openai, or registered) or verdict backend (rubric, reward_model).")
    style: Literal["direct", "reasoning"] = Field("direct", description="Verdict only, or think first.")
    pointwise_template: str | None = Field(None, description="Template name or file path; default by style.")
    pairwise_template: str | None = Field(None, description="Template name or file path; default by style.")
    scale: tuple[int, int] = Field((1, 10), description="Pointwise score range, inclusive.")
    allow_tie: bool = True
    sampling: JudgeSamplingConfig = Field(default_factory=JudgeSamplingConfig)
    concurrency: int = Field(64, ge=1, description="Items in flight inside the judge (backends bound further).")
    mode: Literal["pointwise", "pairwise"] | None = Field(
        None, description="The one mode this judge answers in (a trained judge: the mode it was trained in); "
        "None: both. Rewards use a judge pointwise where it scores, evaluation compares pairwise where it compares.")

    @field_validator("backend", mode="before")
    @classmethod
    def _backend(cls, v: Any) -> Any:
        return validate_backend(v)

    @field_validator("scale")
    @classmethod
    def _scale_order(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] >= v[1]:
            raise ValueError(f"scale must be (low, high) with low < high, got {v}")
        return v
