"""Typed configs for judges and their backends (selected by ``type``, from an open registry)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator, model_validator

from judgelab.config import StrictModel
from judgelab.models.devices import Device
from judgelab.lm.config import TransformersBackendConfig

__all__ = ["JudgeConfig", "JudgeSamplingConfig", "logprob_variant", "RubricBackendConfig", "RewardModelBackendConfig",
           "validate_backend"]


class RubricBackendConfig(StrictModel):
    type: Literal["rubric"] = "rubric"
    rubric: str = Field("gold", description="Registered rubric name.")
    noise: float = Field(0.0, ge=0, description=(
        "Standard deviation (score points, 1-10 scale) of a fixed noise added to every score: a pseudo-random "
        "function of (noise_seed, prompt, response), so one response always gets the same score. A noisy gold is "
        "a benign, imperfect proxy (the specificity control: its errors carry no exploitable structure)."))
    noise_seed: int = Field(0, description="Seed of the noise function (another seed: another noisy judge).")


class RewardModelBackendConfig(StrictModel):
    """A scalar (Bradley-Terry) reward model used as a judge: pointwise score = the reward mapped
    onto the judge's scale; pairwise preference = the higher reward, strength = sigmoid(r_a - r_b)."""

    type: Literal["reward_model"] = "reward_model"
    model: str = Field(..., description="Folder of a sequence-classification checkpoint (train-judge output).")
    batch_size: int = Field(8, ge=1)
    max_wait_ms: float = Field(5.0, ge=0)
    max_length: int = Field(1024, ge=16, description="Truncate (prompt, response) to this many tokens.")
    device: Device = "auto"
    dtype: str = "auto"
    temperature: float = Field(1.0, gt=0, description="Reward scale before the sigmoid that maps onto the score scale.")
    batch_invariant: bool | None = Field(
        None, description="Score each sequence in its own forward pass, so a reward never depends on what it was "
        "batched with (exact; slower). Default (None): on when the model runs in 16-bit floats (bf16/fp16, where "
        "padding and batch shape change the rounding), off in fp32 (partners change a reward by < 1e-5 there).")


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
        if err["type"] == "extra_forbidden" and loc == "api_key" and "api_key_env" in model.model_fields:
            # a key written into a config file ends up in run.json, logs and shell history
            raise ValueError("'api_key' is not accepted in a config: put the key in an environment variable and "
                             "name it with api_key_env (e.g. api_key_env: OPENAI_API_KEY)") from None
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
    verdict_from: Literal["text", "logprobs"] = Field(
        "text", description="How the verdict is read: 'text' parses what the judge wrote; 'logprobs' reads the "
        "probabilities of the verdict token (G-Eval): pointwise score = expectation over the score tokens "
        "after the 'Score:' marker, pairwise p_a = P(A) at the verdict letter. Needs a backend that returns "
        "logprobs (transformers, or an OpenAI-compatible server that returns top_logprobs); see "
        "judgelab.judges.logprob.")
    top_logprobs: int = Field(
        20, ge=1, le=20, description="With verdict_from: logprobs, how many alternatives per token the backend "
        "returns (OpenAI allows at most 20). The valid verdict tokens must be among them to count.")
    response_format: Literal["text", "json"] = Field(
        "text", description="'json' asks backends that support structured output (OpenAI-compatible servers with "
        "JSON-schema support, e.g. vLLM, OpenAI) for a JSON verdict {reasoning, score | winner} (the keys the "
        "parser reads) and defaults the templates to {mode}_json. Backends without it return an error, never "
        "free text silently.")

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

    @model_validator(mode="after")
    def _logprob_fits(self) -> "JudgeConfig":
        if self.verdict_from != "logprobs":
            return self
        btype = getattr(self.backend, "type", "")
        if btype in JUDGE_BACKEND_CONFIGS:
            raise ValueError(f"verdict_from: logprobs needs a text backend (transformers, openai, or registered); "
                             f"backend '{btype}' produces verdicts without token probabilities")
        if self.mode != "pairwise" and not (0 <= self.scale[0] and self.scale[1] <= 10):
            raise ValueError(f"verdict_from: logprobs reads single score tokens, so the scale must lie within 0-10 "
                             f"(got {list(self.scale)}); use scale: [1, 10] or smaller (below 10 for tokenizers that write '10' as "
                             f"'1' '0', as SmolLM2's does), or mode: pairwise")
        if self.response_format == "json":
            raise ValueError("verdict_from: logprobs reads the verdict token after its marker; response_format: json "
                             "moves it into a JSON object -- use one or the other")
        return self


def logprob_variant(cfg: JudgeConfig, *, top_logprobs: int = 20, suffix: str = "-logprob") -> JudgeConfig:
    """The same judge reading its verdicts from the verdict token's probabilities (greedy decoding,
    so the verdict position is the model's most likely answer): the ablation of a trained direct
    judge ("Score: 7" / "[[A]]") as a smooth judge. Raises ConfigError when the judge cannot have
    one (a verdict backend, a scale beyond 0-10)."""
    from judgelab.errors import ConfigError

    data = cfg.model_dump()
    data.update(name=cfg.name + suffix, verdict_from="logprobs", top_logprobs=top_logprobs)
    data["sampling"] = {**data["sampling"], "temperature": 0.0}
    try:
        return JudgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"no logprob variant of judge '{cfg.name}': {exc.errors()[0]['msg']}", where=cfg.name,
                          hint="logprob verdicts need a text backend and a pointwise scale within 0-10") from None


# The one default gold judge (the CPU quickstart's): the programmatic rubric, reasoning style,
# 1-10 scale. Every stage that defaults its gold (annotate, evaluate, train-policy's proxy and
# monitor, best-of-n, a run config) uses this, so its verdicts share one cache identity.
GOLD_DEFAULTS: dict[str, Any] = {
    "name": "gold", "backend": {"type": "rubric", "rubric": "gold"}, "style": "reasoning", "scale": (1, 10),
}


def default_gold() -> JudgeConfig:
    """The default gold judge (``GOLD_DEFAULTS``), registered as ``rubric-gold`` too."""
    return JudgeConfig.model_validate(GOLD_DEFAULTS)


def gold_defaults(v: Any) -> Any:
    """A partial gold mapping (``--set gold.concurrency=4``) keeps the default gold's values for the
    keys it leaves out, instead of falling back to JudgeConfig's (a local SmolLM2 judge)."""
    return {**GOLD_DEFAULTS, **v} if isinstance(v, dict) else v


# A config's gold judge field: a partial mapping is completed from GOLD_DEFAULTS (gold_defaults).
GoldJudgeConfig = Annotated[JudgeConfig, BeforeValidator(gold_defaults)]
