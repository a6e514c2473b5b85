"""Typed settings of policy training (GRPO against a judge reward): how the judge becomes a reward,
which prompts, GRPO and LoRA knobs. ``TrainPolicyConfig`` (judgelab.train.policy) holds them side by
side. LoRA, PEFT and the device/bf16 rule are shared with judge training (judgelab.train.settings); the
judge's GRPO stage has its own JudgeGRPOSettings (other knobs: gold agreement reward, format bonus).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.data.prompts import PromptsConfig
from judgelab.train.settings import LoraSettings  # noqa: F401 (the shared one, re-exported)


class RewardConfig(StrictModel):
    mode: Literal["pointwise", "pairwise-reference", "group-tournament"] = Field(
        "pointwise", description="How the judge becomes a reward (see judgelab.train.rewards)."
    )
    tournament: Literal["round-robin", "knockout", "elo"] = Field(
        "round-robin", description="group-tournament only: how the group's completions are ranked."
    )
    both_orders: bool = Field(True, description="Judge pairwise comparisons in both orders (position swap).")
    unparsed_reward: float = Field(
        0.0, description="Reward when the verdict fails to parse (0.0 = worst, so breaking the judge never pays)."
    )
    references: Literal["auto", "responses", "generate"] = Field(
        "auto",
        description="pairwise-reference: 'responses' = the run's responses.jsonl (first sample per prompt), "
        "'generate' = greedy samples of the initial policy, 'auto' = responses when they cover every prompt.",
    )


class PromptSource(PromptsConfig):
    """The prompts a policy trains on: the shared prompt config, split 'train' by default, and
    ``source: run`` for the run directory's prompts.jsonl."""

    source: str = Field("creative-v1", description="Shipped set name, JSONL file, HF dataset folder, or 'run' (run_dir/prompts.jsonl).")
    split: str | None = Field("train", description="Prompt split to train on.")


class GRPOSettings(StrictModel):
    learning_rate: float = Field(5e-5, gt=0)
    beta: float = Field(0.0, ge=0, description="KL coefficient; 0 = no reference model (TRL logs kl only when > 0).")
    num_generations: int = Field(8, ge=2, description="Completions per prompt (the GRPO group).")
    max_completion_length: int = Field(48, ge=1, description="Tokens per completion.")
    per_device_train_batch_size: int | None = Field(
        None, ge=1, description="Completions per device per step (default: num_generations = one prompt per step)."
    )
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_steps: int = Field(40, ge=1)
    temperature: float = Field(1.0, gt=0, description="Rollout sampling temperature.")
    save_steps: int = Field(10, ge=1, description="Save a checkpoint every this many steps (and at the last step).")
    keep_final_optimizer: bool = Field(
        False, description="Keep optimizer/scheduler state in the final checkpoint once training is complete "
        "(needed only to train it further; ~2x the model's size).",
    )
    logging_steps: int = Field(1, ge=1)
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (worth it from ~1B parameters).")
    bf16: bool | None = Field(
        None, description="bf16 mixed precision of the update; null = on where bf16 is fast (CUDA with bf16, "
        "CPUs with AMX: forward/backward ~2-4x faster than fp32 there).",
    )
    seed: int = 0
    use_vllm: bool = Field(False, description="Roll out with vLLM (TRL's use_vllm); needs vllm installed.")
    vllm_mode: Literal["colocate", "server"] = "colocate"
    extra: dict[str, Any] = Field(default_factory=dict, description="Any other trl.GRPOConfig field, passed through.")
