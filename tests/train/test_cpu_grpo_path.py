"""The CPU path of TRL training (judgelab.train.cpu_path): the plain LM head gives what TRL's fused
head gives (log-probs, entropy, top-1, loss, gradients), rollouts on temporary bf16 weights leave the trained fp32 parameters untouched
(a separate bf16 copy under data parallelism, the same weights), and the bf16 rule picks bf16 only where
the CPU has bf16 matrix instructions."""

from __future__ import annotations

import pytest
import torch

from judgelab.models import devices
from judgelab.models.testing import tiny_model
from judgelab.train.cpu_path import bf16_copy, bf16_weights, use_plain_lm_head


def _pair(temperature: float, seed: int = 3) -> tuple:
    from trl.trainer.utils import add_fused_lm_head

    model, plain = tiny_model(seed=seed)[0], tiny_model(seed=seed)[0]  # the same weights twice
    for m in (model, plain):
        add_fused_lm_head(m, temperature=temperature, outputs=("log_probs", "entropy", "is_top1"))
    assert use_plain_lm_head(plain, temperature=temperature, outputs=("log_probs", "entropy", "is_top1"))
    return model, plain


def _batch(vocab: int, keep: int) -> tuple:
    torch.manual_seed(0)
    ids = torch.randint(3, vocab, (4, 20))
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # left-padded prompts, as TRL batches them
    mask[2, :2] = 0
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-keep] = -100  # only the completion is scored
    return ids, mask, labels


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_plain_lm_head_matches_trls_fused_head(temperature: float) -> None:
    fused, plain = _pair(temperature)
    ids, mask, labels = _batch(fused.config.vocab_size, keep=7)
    ref = fused(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    out = plain(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    for field in ("log_probs", "entropy", "label_mask"):
        torch.testing.assert_close(getattr(out, field).float(), getattr(ref, field).float(), atol=1e-4, rtol=1e-4)
    assert torch.equal(out.is_top1.bool(), ref.is_top1.bool())
    torch.testing.assert_close(out.loss, ref.loss, atol=1e-5, rtol=1e-5)
    # the same gradients: the update trains the same thing
    ref.loss.backward()
    out.loss.backward()
    for (n, p), (_, q) in zip(fused.named_parameters(), plain.named_parameters()):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-5, rtol=1e-4, msg=n)


def test_plain_lm_head_computes_only_the_fields_asked_for() -> None:
    fused, plain = _pair(1.0)
    ids, mask, labels = _batch(fused.config.vocab_size, keep=5)
    for m in (fused, plain):
        out = m(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        assert out.log_sum_sq_probs is None and out.mean_logits is None  # not requested: None, as in TRL
    only_logps, _ = tiny_model(seed=3)
    use_plain_lm_head(only_logps)
    out = only_logps(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    assert out.log_probs is not None and out.entropy is None and out.is_top1 is None
    with pytest.raises(ValueError, match="unknown fused-head outputs"):
        use_plain_lm_head(only_logps, outputs=("log_probs", "logits"))


def test_plain_lm_head_leaves_ordinary_calls_alone() -> None:
    fused, plain = _pair(1.0)
    ids = torch.randint(3, fused.config.vocab_size, (2, 9))
    torch.testing.assert_close(plain(input_ids=ids).logits, fused(input_ids=ids).logits)
    out = plain(input_ids=ids, labels=ids)  # the model's own loss, not the fused one
    assert out.logits is not None and out.loss is not None


def test_plain_lm_head_entropy_carries_gradient_only_when_asked() -> None:
    from trl.trainer.utils import add_fused_lm_head

    for grad in (False, True):
        model, _ = tiny_model(seed=1)
        add_fused_lm_head(model, outputs=("log_probs", "entropy"))
        use_plain_lm_head(model, entropy_grad=grad, outputs=("log_probs", "entropy"))
        ids, mask, labels = _batch(model.config.vocab_size, keep=5)
        out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
        assert out.log_probs.requires_grad and out.entropy.requires_grad is grad


def test_bf16_weights_are_temporary_and_restore_the_same_tensors() -> None:
    model, _ = tiny_model(seed=2)
    before = {n: (p, p.data_ptr(), p.data.clone()) for n, p in model.named_parameters()}
    with bf16_weights(model):
        assert all(p.dtype == torch.bfloat16 for p in model.parameters())
        out = model(input_ids=torch.tensor([[5, 6, 7]])).logits
        assert torch.isfinite(out.float()).all()
    for n, p in model.named_parameters():
        param, ptr, values = before[n]
        assert p is param and p.data_ptr() == ptr and p.dtype == torch.float32  # the same storage, not a copy
        assert torch.equal(p.data, values)


def test_bf16_copy_is_what_the_swap_samples_from_and_leaves_the_model_alone() -> None:
    """Under DDP the rollout samples from ``bf16_copy``: the weights the in-place swap would give
    (so the samples are the same), tied weights still tied, the trained parameters untouched (their
    storage, dtype and gradient accumulator: DDP's hooks hang on it)."""
    model, _ = tiny_model(seed=2)
    ids = torch.tensor([[5, 6, 7, 8]])
    accumulators = {n: p.view_as(p).grad_fn.next_functions[0][0] for n, p in model.named_parameters()}
    before = {n: (p.data_ptr(), p.dtype) for n, p in model.named_parameters()}
    copy = bf16_copy(model)
    with torch.no_grad(), bf16_weights(model):
        swapped = model(input_ids=ids).logits
    with torch.no_grad():
        copied = copy(input_ids=ids).logits
    assert torch.equal(swapped, copied)
    assert all(p.dtype == torch.bfloat16 and not p.requires_grad for p in copy.parameters())
    assert copy.get_output_embeddings().weight is copy.get_input_embeddings().weight  # tied, as in the model
    for n, p in model.named_parameters():
        assert (p.data_ptr(), p.dtype) == before[n]
    # the in-place swap above reset the accumulators (why DDP cannot use it); a copy touches none
    model2, _ = tiny_model(seed=2)
    acc2 = {n: p.view_as(p).grad_fn.next_functions[0][0] for n, p in model2.named_parameters()}
    bf16_copy(model2)
    assert all(p.view_as(p).grad_fn.next_functions[0][0] is acc2[n] for n, p in model2.named_parameters())
    assert any(p.view_as(p).grad_fn.next_functions[0][0] is not accumulators[n] for n, p in model.named_parameters())


def test_bf16_weights_restore_after_an_error() -> None:
    model, _ = tiny_model(seed=2)
    with pytest.raises(RuntimeError, match="boom"), bf16_weights(model):
        raise RuntimeError("boom")
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize(("amx", "avx512_bf16", "fast"), [(False, False, False), (True, False, True), (False, True, True)])
def test_bf16_rule_on_cpu(monkeypatch, amx: bool, avx512_bf16: bool, fast: bool) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    assert devices.fast_bf16("cpu") is fast
    assert devices.want_bf16(None, "cpu") is fast
    assert devices.want_bf16(False, "cpu") is False
    assert devices.pick_dtype("auto", "cpu") == (torch.bfloat16 if fast else torch.float32)
    assert devices.pick_dtype("float32", "cpu") == torch.float32
