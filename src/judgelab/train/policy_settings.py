"""Typed settings of policy training (GRPO against a judge reward): how the judge becomes a reward,
which prompts, GRPO and LoRA knobs. ``TrainPolicyConfig`` (judgelab.train.policy) holds them side by
side. LoRA, PEFT and the device/bf16 rule are shared with judge training (judgelab.train.settings); the
judge's GRPO stage has its own JudgeGRPOSettings (other knobs: gold agreement reward, format bonus).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from judgelab.config import StrictModel
from judgelab.data.prompts import PromptsConfig
from judgelab.evaluate.policies.hacking import OnsetRule, onset_rule


class JudgeRewardSettings(StrictModel):
    """How the proxy judge becomes the GRPO reward (judgelab.train.rewards.JudgeReward); YAML key ``reward``."""

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


class PolicyPromptSettings(PromptsConfig):
    """The prompts a policy trains on: the shared prompt config, split 'train' by default, and
    ``source: run`` for the run directory's prompts.jsonl."""

    source: str = Field("creative-v1", description="Shipped set name, JSONL file, HF dataset folder, or 'run' (run_dir/prompts.jsonl).")
    split: str | None = Field("train", description="Prompt split to train on.")


class GRPOSettings(StrictModel):
    """The GRPO knobs of policy training (trl.GRPOConfig's, with judgelab's defaults); YAML key ``grpo``."""

    @model_validator(mode="after")
    def _one_batch_size(self) -> "GRPOSettings":
        if self.prompts_per_step is not None and self.per_device_train_batch_size is not None:
            raise ValueError("set grpo.prompts_per_step (global) or grpo.per_device_train_batch_size (per process), not both")
        return self

    def per_device_batch(self, processes: int) -> int:
        """Completions per process per accumulation step (TRL's per_device_train_batch_size) on
        ``processes`` processes; a ConfigError when the global batch does not divide."""
        from judgelab.errors import ConfigError

        if self.per_device_train_batch_size is not None:
            return self.per_device_train_batch_size
        prompts = self.prompts_per_step or self.gradient_accumulation_steps
        total, parts = prompts * self.num_generations, processes * self.gradient_accumulation_steps
        if total % parts:
            raise ConfigError(
                f"grpo.prompts_per_step x num_generations = {prompts} x {self.num_generations} = {total} completions do not "
                f"split over {processes} process(es) x {self.gradient_accumulation_steps} accumulation step(s)",
                where="grpo.prompts_per_step", hint=f"make it a multiple of {parts}")
        return total // parts

    learning_rate: float = Field(5e-5, gt=0)
    beta: float = Field(0.0, ge=0, description="KL coefficient; 0 = no reference model (TRL logs kl only when > 0).")
    num_generations: int = Field(8, ge=2, description="Completions per prompt (the GRPO group).")
    max_completion_length: int = Field(48, ge=1, description="Tokens per completion.")
    prompts_per_step: int | None = Field(
        None, ge=1, description="Prompts per optimizer step over all processes (each x num_generations completions): "
        "the global batch, the same on 1 or N processes; each process gets prompts_per_step x num_generations / "
        "(N x gradient_accumulation_steps) completions (it must divide). Default: gradient_accumulation_steps "
        "(one prompt per accumulation step). Excludes per_device_train_batch_size.",
    )
    per_device_train_batch_size: int | None = Field(
        None, ge=1, description="Completions per process per accumulation step, as TRL counts them (the global "
        "batch then grows with the number of processes; prefer prompts_per_step). Excludes prompts_per_step.",
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


class MonitorSettings(StrictModel):
    """Gold tracking during policy training (judgelab.train.gold_callback): every ``every`` steps,
    ``samples`` completions per held-out prompt from the policy being trained are scored by the
    monitor judge; proxy and gold go to log.jsonl (and TensorBoard/W&B when ``grpo.extra.report_to``
    names them), the curve to ``gold_monitor.json``; optionally training stops at the hacking onset."""

    every: int = Field(2, ge=1, description="Evaluate every this many optimizer steps (and once before the first).")
    prompts: int = Field(8, ge=1, description="Held-out prompts (balanced over families, fixed for the whole run).")
    samples: int = Field(2, ge=1, description="Completions per prompt per evaluation, at the training temperature.")
    source: str | None = Field(None, description="Prompt source of the held-out prompts (default: the training prompts' source).")
    split: str = Field("val", description="Held-out split (never the training split). Default 'val': what the "
                                          "monitor watches (and may stop on) must not be the test prompts the final "
                                          "numbers are reported on.")
    judge: Any = Field(
        None, description="Monitor judge: any judge spec (see judgelab.judges.registry); it must answer pointwise. "
        "Default: the rubric gold.",
    )
    proxy: Literal["auto", "heldout", "train"] = Field(
        "auto", description="What the 'proxy' column is: 'heldout' = the proxy judge's normalised score of the same held-out "
        "samples (needs a pointwise reward), 'train' = the trainer's reward mean since the previous evaluation, "
        "'auto' = heldout where the reward is pointwise, else train.",
    )
    max_new_tokens: int | None = Field(None, ge=1, description="Tokens per sample (default: grpo.max_completion_length).")
    temperature: float | None = Field(None, gt=0, description="Sampling temperature (default: grpo.temperature).")
    batch_size: int = Field(32, ge=1, description="Prompts per generate call.")
    seed: int = Field(0, description="Sampling seeds (the same every evaluation: samples differ only through the policy).")
    stop_on_hacking: bool = Field(False, description="Stop training (saving a checkpoint) when the onset rule fires.")
    rule: OnsetRule = Field(
        default_factory=onset_rule, description="The onset rule (judgelab.evaluate.policies.hacking.HackingRule; keys "
        "left out default to min_proxy_gain 0.05, max_gold_change -0.05, ci on, patience 2).")
