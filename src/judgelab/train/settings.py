"""Settings shared by judge training and policy training: one LoRA config, one PEFT builder, one
rule for the trainer's device and mixed precision, the check of a ``grpo.extra``, and the rules of
data-parallel runs (batch sizes are global and split over the processes; the main process writes
what every process reads; sharded weights gathered for saving)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.errors import ConfigError


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


# --------------------------------------------------------------------------- data parallel
# One process or many (``accelerate launch``, ``torchrun``): batch sizes in judgelab's configs are
# global, per step of the whole run; each process gets its share. On one process nothing changes.

def world_size() -> int:
    """Processes of the data-parallel run: accelerate's ``PartialState().num_processes`` once it
    exists, else the launcher's ``WORLD_SIZE`` (1 for a plain ``python``/``judgelab`` process).
    Never creates the state itself: the trainer's arguments pick its device (``use_cpu``)."""
    import os

    from accelerate import PartialState

    if PartialState._shared_state:
        return int(PartialState().num_processes)
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main_process() -> bool:
    """Rank 0 of the run (or the only process)."""
    import os

    return int(os.environ.get("RANK", "0") or 0) == 0


def per_device(total: int, *, what: str, where: str, divide_by: int = 1) -> int:
    """``total`` (a global count per optimizer step) split over the processes (and ``divide_by``
    accumulation steps); a ConfigError naming the setting when it does not divide."""
    n = world_size() * divide_by
    if total % n:
        across = f"{world_size()} process(es)" + (f" x {divide_by} accumulation steps" if divide_by > 1 else "")
        raise ConfigError(f"{what} = {total} does not split evenly over {across}", where=where,
                          hint=f"make it a multiple of {n}, or run on a number of processes that divides it")
    return total // n


def main_process_first() -> Any:
    """A context: rank 0 runs the block first, the others after it (to read what it wrote); a no-op
    on one process."""
    import contextlib

    if world_size() <= 1:
        return contextlib.nullcontext()
    from accelerate import PartialState

    return PartialState().main_process_first()


def gathered_state_dict(trainer: Any) -> dict[str, Any] | None:
    """The full state dict of a sharded model (DeepSpeed, FSDP), gathered the way ``Trainer.save_model``
    gathers it (collective: every process calls it; complete on the main process); None when the
    model is not sharded (the unwrapped model's own weights are complete)."""
    from accelerate.utils import DistributedType

    acc = trainer.accelerator
    if acc.distributed_type not in (DistributedType.DEEPSPEED, DistributedType.FSDP):
        return None
    return acc.get_state_dict(trainer.model_wrapped)


def check_grpo_extra(extra: dict[str, Any], *, where: str) -> None:
    """A ConfigError for keys of a ``grpo.extra`` that trl.GRPOConfig does not know (with the nearest one)."""
    if not extra:
        return
    import dataclasses

    from trl import GRPOConfig

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    unknown = sorted(set(extra) - known)
    if unknown:
        import difflib

        near = {u: difflib.get_close_matches(u, known, n=1) for u in unknown}
        hint = "; ".join(f"{u}: did you mean {m[0]}?" for u, m in near.items() if m) or "see trl.GRPOConfig's fields"
        raise ConfigError(f"grpo.extra has key(s) trl.GRPOConfig does not know: {', '.join(unknown)}",
                          where=where, hint=hint)
    _check_grpo_extra_types(extra, where)


def _check_grpo_extra_types(extra: dict[str, Any], where: str) -> None:
    """Each value against its trl.GRPOConfig field's annotation (pydantic's lax rules: "1e-4" from a
    --set is a float), so a wrong type fails here, not inside the trainer after the models load."""
    import typing

    from pydantic import TypeAdapter, ValidationError
    from trl import GRPOConfig

    try:
        hints = typing.get_type_hints(GRPOConfig)
    except Exception:  # an annotation this Python cannot resolve: leave the check to the trainer
        return
    for key, value in extra.items():
        hint = hints.get(key)
        if hint is None:
            continue
        try:
            TypeAdapter(hint).validate_python(value)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise ConfigError(f"bad value {value!r} for trl.GRPOConfig.{key}: {msg}", where=f"{where}.{key}",
                              hint=f"expected {getattr(hint, '__name__', None) or str(hint).replace('typing.', '')}") from None
        except Exception:  # a type pydantic cannot build a validator for: the trainer checks it
            continue
