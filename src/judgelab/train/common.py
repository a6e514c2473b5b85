"""Shared pieces of judge training: the typed config (``TrainJudgeConfig``), the gold annotations
of its split (read by judgelab.data.annotations) turned into judge prompts rendered with the SAME
templates the Judge uses at inference, running one trainer stage, and saving a checkpoint folder
that ``judgelab.models.load_model`` loads and that carries a ``judgelab_judge.json`` (the
JudgeConfig to use it as a judge; ``train.results.TrainedJudgeResult``).

Reads: ``run_dir/annotations/pairs.jsonl`` and ``points.jsonl``. Writes: the checkpoint folder
(``save_judge``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from judgelab.config import StrictModel
from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError
from judgelab.judges.config import JudgeConfig
from judgelab.judges.registry import JUDGE_FILE
from judgelab.judges.types import Style
from judgelab.train.results import JudgeStageStats, TrainedJudgeResult
from judgelab.train.settings import LoraSettings, gathered_state_dict, per_device, trainer_device_args
from judgelab.train.settings import peft_config as _peft_config

log = logging.getLogger(__name__)

JudgeKind = Literal[
    "direct-sft",
    "reward-model",
    "reasoning-sft",
    "reasoning-grpo",
    "reasoning-sft-grpo",
    "verdict-sft-grpo",
    "grpo-only",
]
KINDS: tuple[str, ...] = JudgeKind.__args__  # type: ignore[attr-defined]

# Verdict tokens as the shipped templates ask for them; "[[C]]" is a tie.


class JudgeGRPOSettings(StrictModel):
    """The judge's GRPO stage: reward = agreement of the parsed verdict with the gold label."""

    max_steps: int = Field(10, ge=1, description="Optimizer steps of the GRPO stage.")
    learning_rate: float = Field(5e-6, gt=0, description="Learning rate of the GRPO stage.")
    num_generations: int = Field(4, ge=2, description="Completions sampled per judge prompt (the GRPO group).")
    prompts_per_step: int = Field(1, ge=1, description="Judge prompts per optimizer step over all processes (x "
                                  "num_generations completions; prompts_per_step x num_generations must divide over N processes).")
    max_completion_length: int = Field(256, ge=1, description="Longest judge completion sampled, in tokens.")
    beta: float = Field(0.0, ge=0, description="KL coefficient against the starting model (0 = no reference model).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the completions.")
    format_reward_weight: float = Field(
        0.1, ge=0, description="Extra reward for a parseable verdict (a small shaping term)."
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="Any other trl.GRPOConfig field, passed through.")


class TrainJudgeConfig(StrictModel):
    """How to train one judge from gold annotations (``judgelab train-judge``)."""

    name: str | None = Field(None, description="Judge name; default: the kind. Output goes to run_dir/judges/<name>.")
    kind: JudgeKind = Field(
        "direct-sft",
        description=(
            "direct-sft: SFT on verdicts (non-reasoning judge); reward-model: Bradley-Terry scalar head; "
            "reasoning-sft: SFT on gold reasoning traces; reasoning-grpo / grpo-only: GRPO from the base model; "
            "reasoning-sft-grpo: distil traces then GRPO (the study's reasoning judge); "
            "verdict-sft-grpo: SFT on verdicts only, then GRPO (ablation without gold traces)."
        ),
    )
    model: str = Field("smollm2-135m-instruct", description="Base model: offline alias, local folder or HF hub id.")
    mode: Literal["pointwise", "pairwise"] = Field("pairwise", description="Train a pointwise scorer or a pairwise comparer.")
    lora: LoraSettings | None = Field(None, description="LoRA settings; null = full fine-tune.")
    learning_rate: float = Field(2e-5, gt=0, description="Learning rate of the SFT / reward-model stage.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training data (SFT / reward model).")
    max_steps: int = Field(-1, description="If > 0, stop the SFT / reward-model stage after this many steps (overrides epochs).")
    batch_size: int = Field(8, ge=1, description="Examples per step over all processes (SFT / reward model); each of N "
                            "data-parallel processes gets batch_size / N (it must divide).")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    max_length: int = Field(1024, ge=16, description="Longest tokenized training example (prompt + target).")
    seed: int = Field(0, description="Seed for data order, init and sampling.")
    trace_info: Literal["full", "names"] = Field(
        "full", description="Trace-information ablation (reasoning kinds): 'full' distils the gold's traces as written "
        "(with the rubric's exact deductions, e.g. 'length: 60w > 40 (-4.0)'); 'names' keeps only the criterion names "
        "(judgelab.judges.rubric.gold.names_only_trace), so the judge cannot learn the scoring program itself.")
    arm: str | None = Field(None, description="The study arm this judge replicates (set by a run's judge_seeds: "
                            "'direct-sft-j1' is a seed of arm 'direct-sft'); default: its own name.")
    grpo: JudgeGRPOSettings = Field(default_factory=JudgeGRPOSettings, description="GRPO stage settings (kinds with grpo).")
    output_dir: str | None = Field(None, description="Checkpoint folder; default run_dir/judges/<name>.")
    swap_augment: bool = Field(
        True, description="Add a position-swapped copy of every pair (label flipped) so the judge cannot learn a position prior."
    )
    include_ties: bool = Field(True, description="Train on gold ties as '[[C]]' (SFT/GRPO); reward models always skip ties.")
    scale: tuple[int, int] = Field((1, 10), description="Pointwise score range (must match the gold annotations).")
    split: str = Field("train", description="Annotation split to train on.")
    max_examples: int | None = Field(None, ge=1, description="Use at most this many annotation rows (quick runs).")
    bf16: bool | None = Field(None, description="bf16 mixed precision; null = on where bf16 is fast (CUDA with bf16, CPUs with AMX).")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (large models).")
    logging_steps: int = Field(5, ge=1, description="Log training metrics every N steps.")
    inference_dtype: str = Field(
        "auto", description="dtype the trained judge is served in (its judgelab_judge.json backend): 'auto' (bf16 where "
        "it is fast: CUDA, CPUs with AMX or AVX512-BF16, where judge prompts prefill ~2x faster; else fp32), "
        "'bfloat16' (forced: emulated and ~5x slower on CPUs without those instructions), 'float32'.",
    )
    inference_batch_size: int = Field(8, ge=1, description="Largest batch the served judge's batcher forms.")

    @field_validator("max_steps")
    @classmethod
    def _max_steps(cls, v: int) -> int:
        if v != -1 and v < 1:
            raise ValueError(f"max_steps must be -1 (train for `epochs`) or >= 1, got {v}")
        return v

    @field_validator("scale")
    @classmethod
    def _scale_order(cls, v: tuple[int, int]) -> tuple[int, int]:
        return JudgeConfig._scale_order(v)  # the rule of the scale the trained judge is served with

    @property
    def judge_name(self) -> str:
        return self.name or self.kind

    @property
    def style(self) -> Style:
        """Prompt style the trained judge is used with at inference."""
        return "direct" if self.kind in ("direct-sft", "reward-model") else "reasoning"

    def resolve_output_dir(self, run_dir: str | Path | None) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        if run_dir is None:
            raise ConfigError("no output_dir and no run directory", where="train-judge", hint="set output_dir or --run")
        return RunDir(run_dir).judge_dir(self.judge_name)


# --------------------------------------------------------------------------- annotations


# --------------------------------------------------------------------------- trainer plumbing


def common_trainer_args(cfg: TrainJudgeConfig, out_dir: Path, *, stage: str) -> dict[str, Any]:
    """Arguments shared by SFTConfig / RewardConfig / GRPOConfig. No device is named: the Trainer
    (and ``accelerate launch`` for several GPUs) places the model."""
    return dict(
        output_dir=str(out_dir / "trainer" / stage),
        seed=cfg.seed,
        **trainer_device_args(cfg.bf16),
        gradient_checkpointing=cfg.gradient_checkpointing,
        logging_steps=cfg.logging_steps,
        save_strategy="no",  # the final model is saved once, merged, by save_judge
        report_to="none",
        gradient_accumulation_steps=cfg.grad_accum,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def supervised_args(cfg: TrainJudgeConfig, out_dir: Path, *, stage: str) -> dict[str, Any]:
    """``common_trainer_args`` plus the schedule of the SFT / reward-model stage (GRPO has its own: ``cfg.grpo``)."""
    return {**common_trainer_args(cfg, out_dir, stage=stage), "learning_rate": cfg.learning_rate,
            "num_train_epochs": cfg.epochs, "max_steps": cfg.max_steps,
            "per_device_train_batch_size": per_device(cfg.batch_size, what="batch_size", where="train-judge batch_size"),
            "max_length": cfg.max_length}


def run_stage(make_trainer: Callable[[], Any], stage: str, examples: int) -> tuple[Any, dict[str, Any]]:
    """Build a trainer and train it; returns (trainer, the stage's stats, ``JudgeStageStats``'s shape)."""
    t0 = time.perf_counter()
    trainer = make_trainer()
    result = trainer.train()
    stats = JudgeStageStats(stage=stage, examples=examples, steps=trainer.state.global_step, train_loss=result.training_loss,
                            wall_s=round(time.perf_counter() - t0, 2), log_history=trainer.state.log_history)
    return trainer, stats.model_dump()


def peft_config(cfg: TrainJudgeConfig, task_type: str) -> Any:
    return _peft_config(cfg.lora, task_type)


def load_base(spec: str, task: Literal["causal-lm", "seq-cls"]) -> tuple[Any, Any]:
    """Load the base model on CPU in fp32; the Trainer moves it to its device (no hard-coded placement)."""
    from judgelab.models.loading import load_model

    model, tok = load_model(spec, task=task, num_labels=1, device="cpu", dtype="float32")
    if task == "seq-cls":
        # transformers reports the new scalar head as MISSING from the checkpoint: by design (a
        # causal LM has none yet). The CLI routes that load report to its log file.
        log.info("reward model from %s: its scalar head is new (MISSING from the checkpoint by design)", spec)
    model.train()
    return model, tok


def unwrap_merged(model: Any) -> Any:
    """A PEFT model -> the base model with the adapter merged in; anything else unchanged."""
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return model
    if isinstance(model, PeftModel):
        return model.merge_and_unload()
    return model


def save_judge(
    trainer: Any,
    tokenizer: Any,
    out_dir: Path,
    cfg: TrainJudgeConfig,
    *,
    backend: Literal["transformers", "reward_model"],
    stages: list[dict[str, Any]],
    model: Any = None,
) -> Path:
    """Save the trained weights (a LoRA adapter merged in) + tokenizer to ``out_dir`` and write
    ``judgelab_judge.json`` beside them (``stages``: the stats of every stage that trained the model,
    ``run_stage``'s). Every process calls it: under DeepSpeed ZeRO-3 or FSDP the trainer's
    accelerator gathers the sharded weights (a collective), and the main process writes.
    ``model``: the (merged) model to save when the caller already has it; default: the trainer's."""
    state = gathered_state_dict(trainer)
    if not trainer.accelerator.is_main_process:
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    if state is None:  # one process or DDP: every process holds the full weights
        unwrap_merged(model if model is not None else trainer.model).save_pretrained(str(out_dir), safe_serialization=True)
    else:
        _save_gathered(trainer, state, cfg, backend, out_dir)
    tokenizer.save_pretrained(str(out_dir))
    meta = TrainedJudgeResult(judge=judge_config_for(out_dir, cfg, backend), mode=cfg.mode, kind=cfg.kind, base_model=cfg.model,
                              train_config=cfg.model_dump(mode="json"), stages=stages)  # type: ignore[arg-type]
    meta.write(out_dir / JUDGE_FILE)
    return out_dir


def _save_gathered(trainer: Any, state: dict[str, Any], cfg: TrainJudgeConfig, backend: str, out_dir: Path) -> None:
    """Main process: save gathered weights; a LoRA adapter is merged on a CPU copy that holds them
    (the trainer's own model is a shard there, nothing to merge)."""
    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
    if cfg.lora is None or not cfg.lora.enabled:
        model.save_pretrained(str(out_dir), state_dict=state, safe_serialization=True)
        return
    from peft import get_peft_model

    task = "seq-cls" if backend == "reward_model" else "causal-lm"
    base, _ = load_base(cfg.model, task)  # the architecture; every weight comes from the gathered state
    full = get_peft_model(base, peft_config(cfg, "SEQ_CLS" if task == "seq-cls" else "CAUSAL_LM"))
    full.load_state_dict({k: v.detach().float().cpu() for k, v in state.items()}, strict=True)
    full.merge_and_unload().save_pretrained(str(out_dir), safe_serialization=True)


def judge_config_for(out_dir: Path, cfg: TrainJudgeConfig, backend: str) -> dict[str, Any]:
    """The JudgeConfig (as a dict) that uses this checkpoint the way it was trained."""
    bcfg: dict[str, Any] = {"type": backend, "model": str(out_dir.resolve()), "dtype": cfg.inference_dtype,
                            "batch_size": cfg.inference_batch_size}
    if backend == "reward_model":
        bcfg["max_length"] = cfg.max_length
    jc = JudgeConfig.model_validate(
        {
            "name": cfg.judge_name,
            "backend": bcfg,
            "style": cfg.style,
            "scale": list(cfg.scale),
            "allow_tie": cfg.include_ties,
            "mode": cfg.mode,
            # A reasoning judge generates as long as it was trained to (its GRPO completion cap).
            "sampling": {"max_new_tokens": 16 if cfg.style == "direct" else cfg.grpo.max_completion_length},
        }
    )
    return jc.model_dump(mode="json")
