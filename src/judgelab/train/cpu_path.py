"""What TRL's trainers do differently on a CPU here: measured to be what dominated training time.

TRL 1.16 is tuned for GPUs, and two of its choices cost most of a CPU training step
(SmolLM2-135M, 2 cores, bf16 autocast on an AVX512-BF16 CPU; ``bench/bench_grpo_step.py``):

- **The fused LM head.** Every trainer patches the model with ``add_fused_lm_head``: log-probs in
  vocabulary tiles, recomputed in the backward, fp32, and, without Triton, over *every* position
  (prompt included). ``use_plain_lm_head`` re-patches it on CPU: the LM head runs once, under the
  trainer's autocast, on the labelled positions only, log-softmax in fp32; it returns the same
  ``FusedCausalLMOutput`` fields. Forward+backward of 32 x 108 tokens: 31 s fused vs 12 s plain.
- **Rollouts under autocast.** Autocast re-casts every fp32 weight at each decode step. With bf16
  on, a CPU rollout runs on a bf16 copy of the weights taken once per step (``bf16_weights``):
  32 x 48 sampled tokens 6.3 s vs 7.8 s under autocast and 13.2 s fp32 (AVX512-BF16); on an AMX
  CPU autocast was even slower than fp32. Like vLLM rollouts of an fp32 trainer, the sampling
  distribution is then the bf16 policy's. On one process the parameters' storage is swapped in place
  (no extra memory); under data parallelism (several processes) the rollout runs on a separate bf16
  copy instead (``bf16_copy``): swapping a parameter's ``.data`` to another dtype resets its gradient
  accumulator, which drops the hooks DDP all-reduces gradients through (the ranks would then drift
  apart). Both run the same bf16 weights, so the samples are the same.

On CUDA nothing changes. ``grpo_trainer_class`` / ``sft_trainer_class`` are the trainers every
judgelab stage builds (policy GRPO, judge SFT, judge GRPO); on every device they also print
through ``judgelab.train.console`` (a progress bar; the metric dicts go to the log).
"""

from __future__ import annotations

import contextlib
import types
from pathlib import Path
from typing import Any, Iterator

from judgelab.train.console import judgelab_console
from judgelab.train.param_trace import add_param_trace


@contextlib.contextmanager
def bf16_weights(model: Any) -> Iterator[None]:
    """Swap a model's fp32 parameters for bf16 copies for the duration of the block, then put the
    very same fp32 tensors back (the optimizer and gradients never see the copies)."""
    import torch

    saved = []
    with torch.no_grad():
        for p in model.parameters():  # tied weights are one parameter: cast once, seen by both uses
            if p.dtype == torch.float32:
                saved.append((p, p.data))
                p.data = p.data.to(torch.bfloat16)
    try:
        yield
    finally:
        for p, data in saved:
            p.data = data


def bf16_copy(model: Any) -> Any:
    """A copy of ``model`` whose fp32 parameters are bf16 (no fp32 copy made on the way; tied weights
    stay one parameter; buffers as they are): the very weights ``bf16_weights`` would swap in, with
    the trained model left untouched."""
    import copy

    import torch

    memo: dict[int, Any] = {}
    with torch.no_grad():
        for p in model.parameters():
            if p.dtype == torch.float32:
                memo[id(p)] = torch.nn.Parameter(p.detach().to(torch.bfloat16), requires_grad=False)
        dup = copy.deepcopy(model, memo)
    for m in dup.modules():
        # Forwards patched on the instance (TRL's fused LM head, judgelab's plain one, accelerate's
        # autocast wrapper) close over the *original* model, so the copy would run the fp32 weights:
        # the copy runs its class's forward, which is what those patches run for generation anyway.
        vars(m).pop("forward", None)
    return dup


@contextlib.contextmanager
def bf16_rollout_model(trainer: Any) -> Iterator[None]:
    """For the block, TRL's rollout (which unwraps ``trainer.model_wrapped``) samples from bf16
    weights: swapped in place on one process, a separate copy under several (see the module docstring)."""
    if trainer.accelerator.num_processes <= 1:
        with bf16_weights(trainer.model_wrapped):
            yield
        return
    wrapped = trainer.model_wrapped
    trainer.model_wrapped = bf16_copy(trainer.accelerator.unwrap_model(wrapped))
    try:
        yield
    finally:
        trainer.model_wrapped = wrapped


def _plain_head_applies(model: Any) -> bool:
    cfg = model.config.get_text_config()
    scaled = any(getattr(cfg, k, None) not in (None, 1.0) for k in
                 ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling"))
    moe = bool(getattr(cfg, "output_router_logits", False))
    return cfg is model.config and not scaled and not moe and model.get_output_embeddings() is not None


_OUTPUTS = ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


def use_plain_lm_head(model: Any, *, temperature: float = 1.0, entropy_grad: bool = False,
                      outputs: tuple[str, ...] = ("log_probs",)) -> bool:
    """Replace TRL's fused LM head (``model(..., labels=..., fused_lm_head=True)``) on ``model`` by
    a plain one with the same outputs: ``outputs`` names the per-token fields computed, as in
    ``add_fused_lm_head`` (the others are None; ``log_probs`` always). Only text-only models
    without logit scaling, soft-capping or MoE routing are re-patched (the others keep TRL's
    head); returns whether it was."""
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    unknown = set(outputs) - set(_OUTPUTS)
    if unknown:
        raise ValueError(f"unknown fused-head outputs {sorted(unknown)}; known: {', '.join(_OUTPUTS)}")
    if not _plain_head_applies(model):
        return False
    want = set(outputs)
    trl_forward = model.forward  # TRL's patched forward: the model's own one when fused_lm_head is False

    def forward(self: Any, *args: Any, fused_lm_head: bool = False, labels: Any = None, shift_labels: Any = None,
                num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        if not fused_lm_head or kwargs.get("output_router_logits"):
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                               num_items_in_batch=num_items_in_batch, **kwargs)
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state
        if shift_labels is None:
            hidden, labels = hidden[:, :-1], labels[:, 1:]
        else:
            labels = shift_labels
        mask = labels != -100
        targets = labels[mask]
        logits = self.get_output_embeddings()(hidden[mask]).float() / temperature  # (valid tokens, vocab)
        log_probs = torch.log_softmax(logits, dim=-1)
        per_token = {"log_probs": log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)}
        if "entropy" in want:
            with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
                per_token["entropy"] = -(log_probs.exp() * log_probs).sum(-1)
        with torch.no_grad():
            if "log_sum_sq_probs" in want:
                per_token["log_sum_sq_probs"] = torch.logsumexp(2 * log_probs, dim=-1)
            if "mean_logits" in want:
                per_token["mean_logits"] = logits.mean(-1)
            if "is_top1" in want:
                per_token["is_top1"] = logits.argmax(-1) == targets
        del logits, log_probs
        # per-token values back on the (batch, positions) grid, zero where ignored
        fields = {k: v.new_zeros(mask.shape).masked_scatter(mask, v) for k, v in per_token.items()}
        count = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(loss=-fields["log_probs"].sum() / count, label_mask=mask, **fields)

    model.forward = types.MethodType(forward, model)
    return True


def plain_lm_head_on_cpu(trainer: Any, *, outputs: tuple[str, ...], temperature: float = 1.0) -> None:
    """After a TRL trainer patched its model(s) with the fused head: re-patch them on a CPU.
    ``outputs`` = the fields the trainer asked ``add_fused_lm_head`` for on its model (TRL 1.16:
    GRPO log_probs + entropy, SFT log_probs + entropy + is_top1); its reference model, like TRL's,
    gets log_probs only."""
    if trainer.accelerator.device.type != "cpu":
        return
    args = trainer.args
    entropy_grad = getattr(args, "entropy_coef", 0.0) != 0.0 or bool(getattr(args, "use_adaptive_entropy", False))
    for m, fields in ((trainer.model, outputs), (getattr(trainer, "ref_model", None), ("log_probs",))):
        if m is not None:
            base = m.get_base_model() if hasattr(m, "get_base_model") else m
            use_plain_lm_head(base, temperature=temperature, entropy_grad=entropy_grad, outputs=fields)


def grpo_trainer_class() -> Any:
    from trl import GRPOTrainer

    class JudgelabGRPOTrainer(GRPOTrainer):
        """TRL's GRPOTrainer with the CPU changes of this module (plain LM head, bf16 rollouts)."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            plain_lm_head_on_cpu(self, outputs=("log_probs", "entropy"), temperature=self.temperature)
            judgelab_console(self, f"grpo {Path(self.args.output_dir).name}")
            add_param_trace(self)

        def _generate(self, prompts: list) -> Any:
            import torch

            if self.accelerator.device.type != "cpu":
                return super()._generate(prompts)
            with torch.autocast(device_type="cpu", enabled=False):
                if not self.args.bf16:
                    return super()._generate(prompts)
                with bf16_rollout_model(self):
                    return super()._generate(prompts)

    return JudgelabGRPOTrainer


def sft_trainer_class() -> Any:
    from trl import SFTTrainer

    class JudgelabSFTTrainer(SFTTrainer):
        """TRL's SFTTrainer with the plain LM head on a CPU."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            plain_lm_head_on_cpu(self, outputs=("log_probs", "entropy", "is_top1"))
            judgelab_console(self, f"sft {Path(self.args.output_dir).name}")
            add_param_trace(self)

    return JudgelabSFTTrainer
