"""Logprobs of the local transformers path (judgelab.lm.local, through the transformers backend):
correct (equal to a teacher-forced forward pass), batch-invariant under left padding, the raw
model distribution whatever the sampling settings, and the same samples with or without them."""

from __future__ import annotations

import asyncio
import dataclasses
import math

import pytest

from judgelab.lm.local import LocalGenerator
from judgelab.lm.transformers import TransformersBackend
from judgelab.lm.types import GenerationRequest, SamplingParams

CHATS = [
    [{"role": "user", "content": "hello"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a much longer prompt than the first one, "
                                                                               "so the others are left-padded"}],
    [{"role": "user", "content": "the third one"}],
]


@pytest.fixture
def peaked_lm(tiny_causal_lm):
    """The tiny random model with a sharpened head: a random model's next-token distribution is
    nearly uniform (every logprob ~ -log(vocab)), which would hide errors; this one is peaked."""
    import torch

    model, tok = tiny_causal_lm
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)
    return model, tok


def _teacher_forced(model, tok, gen: LocalGenerator, chat, token_ids: list[int]) -> list[list[float]]:
    """log-softmax rows at each generated position, from one forward pass over prompt + output."""
    import torch

    prompt = gen._ids(chat)
    ids = torch.tensor([prompt + token_ids])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0].float()
    lp = torch.log_softmax(logits, dim=-1)
    return [lp[len(prompt) - 1 + i].tolist() for i in range(len(token_ids))]


def test_logprobs_match_a_teacher_forced_pass_and_are_well_formed(peaked_lm) -> None:
    model, tok = peaked_lm
    gen = LocalGenerator(model, tok)
    k = 4
    (g,) = gen.generate_batch([CHATS[0]], SamplingParams(max_new_tokens=6, top_logprobs=k))
    assert g.logprobs is not None and len(g.logprobs) >= 1
    assert "".join(t.token for t in g.logprobs) == g.text
    ids = [t.id for t in g.logprobs]
    rows = _teacher_forced(model, tok, gen, CHATS[0], ids)
    for t, tid, row in zip(g.logprobs, ids, rows):
        assert t.logprob <= 0.0
        assert math.isclose(t.logprob, row[tid], abs_tol=1e-4)
        assert len(t.top) == k
        assert [lp for _, lp in t.top] == sorted((lp for _, lp in t.top), reverse=True)
        best = max(range(len(row)), key=row.__getitem__)
        assert t.top[0] == (tok.decode([best]), pytest.approx(row[best], abs=1e-4))
        assert t.top[0][0] == t.token and t.top[0][1] == t.logprob  # greedy: the chosen token is the top-1
    # A peaked model: the chosen tokens are far from uniform (-log(vocab) ~ -10.8).
    assert max(t.logprob for t in g.logprobs) > -5.0


def test_batched_logprobs_equal_alone_under_left_padding(peaked_lm) -> None:
    gen = LocalGenerator(*peaked_lm)
    p = SamplingParams(max_new_tokens=5, top_logprobs=3)
    batched = gen.generate_batch(CHATS, p)
    assert len({g.prompt_tokens for g in batched}) == 3  # different lengths: rows are left-padded
    for chat, b in zip(CHATS, batched):
        (alone,) = gen.generate_batch([chat], p)
        assert b.text == alone.text
        assert [t.token for t in b.logprobs] == [t.token for t in alone.logprobs]
        for tb, ta in zip(b.logprobs, alone.logprobs):
            assert tb.logprob == pytest.approx(ta.logprob, abs=1e-4)
            assert [a for a, _ in tb.top] == [a for a, _ in ta.top]
            assert [v for _, v in tb.top] == pytest.approx([v for _, v in ta.top], abs=1e-4)


def test_logprobs_are_the_raw_distribution_and_do_not_change_samples(peaked_lm) -> None:
    gen = LocalGenerator(*peaked_lm)
    sampled = SamplingParams(max_new_tokens=6, temperature=0.7, top_p=0.9, seed=11)
    plain = gen.generate_batch(CHATS, sampled)
    with_lp = gen.generate_batch(CHATS, dataclasses.replace(sampled, top_logprobs=2))
    assert [g.text for g in plain] == [g.text for g in with_lp]  # same RNG draws, same distribution
    assert all(g.logprobs is None for g in plain)
    greedy = gen.generate_batch(CHATS, SamplingParams(max_new_tokens=1, top_logprobs=2))
    for s, gr in zip(with_lp, greedy):
        # The first position depends only on the prompt: its alternatives are the same at
        # temperature 0.7 as greedy, i.e. not tempered.
        assert [a for a, _ in s.logprobs[0].top] == [a for a, _ in gr.logprobs[0].top]
        assert [v for _, v in s.logprobs[0].top] == pytest.approx([v for _, v in gr.logprobs[0].top], abs=1e-4)
        assert all(t.logprob <= 0.0 for t in s.logprobs)


def test_raw_prompt_and_response_format(peaked_lm) -> None:
    gen = LocalGenerator(*peaked_lm)
    (g,) = gen.generate_batch(["Once upon a time"], SamplingParams(max_new_tokens=3, top_logprobs=1))
    assert g.error is None and g.prompt_tokens == gen.count_tokens("Once upon a time") and len(g.logprobs) >= 1
    (bad,) = gen.generate_batch([CHATS[0]], SamplingParams(response_format={"type": "json_object"}))
    assert bad.text == "" and "response_format 'json_object' is not supported" in bad.error


def test_transformers_backend_concurrent_logprobs_equal_alone(peaked_lm) -> None:
    backend = TransformersBackend.from_model(*peaked_lm, name="tiny", batch_size=8, max_wait_ms=50)
    p = SamplingParams(max_new_tokens=4, top_logprobs=2)

    async def main():
        together = await asyncio.gather(*(backend.generate(GenerationRequest(c, p)) for c in CHATS))
        alone = [await backend.generate(GenerationRequest(c, p)) for c in CHATS]
        await backend.aclose()
        return together, alone

    together, alone = asyncio.run(main())
    assert backend.batcher.stats.max_batch_size == 3
    for t, a in zip(together, alone):
        assert t.error is None and t.text == a.text
        assert [x.logprob for x in t.logprobs] == pytest.approx([x.logprob for x in a.logprobs], abs=1e-4)
    assert backend.usage.calls == 0  # summary logged and reset on aclose
