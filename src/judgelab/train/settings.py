"""Settings shared by judge training and policy training: one LoRA config, one PEFT builder, one
rule for the trainer's device and mixed precision."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from judgelab.config import StrictModel


class LoraSettings(StrictModel):
    """peft.LoraConfig fields. A judge's ``lora: null`` (its default) or a policy's
    ``lora.enabled: false`` (its default) means a full fine-tune."""

    enabled: bool = Field(True, description="Train a LoRA adapter (merged into saved checkpoints); false = full fine-tune.")
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA alpha (scaling = alpha / r).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA branch.")
    target_modules: list[str] | str = Field(
        "all-linear", description="Module names to adapt, or 'all-linear' (every linear layer but the head)."
    )


def peft_config(lora: LoraSettings | None, task_type: str) -> Any:
    """The peft LoraConfig for ``lora`` (None for a full fine-tune)."""
    if lora is None or not lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
                      task_type=task_type)


def trainer_device_args(bf16: bool | None, device: str = "auto") -> dict[str, Any]:
    """``bf16`` / ``use_cpu`` for a transformers or TRL training config. TRL's configs default to
    bf16=True, and transformers refuses bf16 without a GPU unless told the run is on the CPU:
    decide both explicitly (bf16 where it is fast, see judgelab.models.fast_bf16). No device is
    named otherwise: the Trainer (and ``accelerate launch``) places the model."""
    import torch

    from judgelab.models.devices import want_bf16

    on_cuda = torch.cuda.is_available() and device != "cpu"
    out: dict[str, Any] = {"bf16": want_bf16(bf16, "cuda" if on_cuda else "cpu")}
    if not on_cuda:
        out["use_cpu"] = True
    return out
