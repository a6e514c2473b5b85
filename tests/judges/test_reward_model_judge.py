"""RewardModelJudge on a tiny random seq-cls Llama: batched scores equal one-at-a-time scores,
pairwise verdicts follow the higher reward, pointwise scores land on the judge's own scale (any
scale, no text round trip), and closing mid-run fails waiting items instead of hanging."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from judgelab.judges.reward_model import RewardModelJudge, reward_to_score, rm_input_ids
from judgelab.judges.types import PairwiseItem, PointwiseItem


@pytest.fixture(scope="module")
def tiny_rm():
    from judgelab.models.testing import tiny_model

    return tiny_model(task="seq-cls", seed=3)


def _run(coro):
    return asyncio.run(coro)


def test_batched_scores_match_single(tiny_rm) -> None:
    model, tok = tiny_rm
    j = RewardModelJudge(model, tok, batch_size=4, max_wait_ms=50, max_length=64)
    texts = [("p", "short"), ("a longer prompt here", "a much longer response with many words"), ("p", "x")]
    single = [j.score_batch([rm_input_ids(tok, p, r, 64)])[0] for p, r in texts]
    batched = j.score_batch([rm_input_ids(tok, p, r, 64) for p, r in texts])
    assert batched == pytest.approx(single, abs=1e-4)


def test_16_bit_reward_models_score_each_sequence_alone_by_default(tiny_rm) -> None:
    """bf16: a reward must not depend on its batch partners (padding width and batch shape change
    bf16 rounding on machines with native bf16). By default a 16-bit model scores each sequence in
    its own forward pass, so a reward equals its score alone bit for bit, whatever the partners;
    fp32 keeps batching (partners change nothing measurable there: the test above)."""
    import copy

    import torch

    model, tok = tiny_rm
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    j = RewardModelJudge(bf16, tok, max_length=256)
    assert j.batch_invariant and j.identity()["batch_invariant"] is True
    assert not RewardModelJudge(model, tok).batch_invariant  # fp32 default: batched
    assert "batch_invariant" not in RewardModelJudge(model, tok).identity()  # fp32: batched, as before
    # the loaded dtype is part of the cache identity: bf16 and fp32 verdicts never share cache entries
    assert (j.identity()["dtype"], RewardModelJudge(model, tok).identity()["dtype"]) == ("bfloat16", "float32")
    a = rm_input_ids(tok, "Write a haiku.", "Soft rain on the roof", 256)
    long = rm_input_ids(tok, "Tell me a long story " * 8, "Once upon a time " * 12, 256)
    calls = []
    real = j._forward
    j._forward = lambda batch: calls.append([len(x) for x in batch]) or real(batch)  # type: ignore[method-assign]
    alone = j.score_batch([a])[0]
    for partners in ([a, long], [long, long, a, long]):
        calls.clear()
        got = j.score_batch(partners)
        assert got[partners.index(a)] == alone  # exact, not approximately
        assert calls == [[len(x)] for x in partners]  # one sequence per forward pass, no padding
    forced = RewardModelJudge(model, tok, batch_invariant=True)
    assert forced.batch_invariant and forced.score_batch([a, long])[0] == forced.score_batch([a])[0]


@pytest.mark.parametrize("scale", [(1, 10), (1, 5), (0, 1)])
def test_verdicts_on_the_judges_scale_and_batched(tiny_rm, scale) -> None:
    model, tok = tiny_rm
    j = RewardModelJudge(model, tok, batch_size=4, max_wait_ms=50, max_length=64, temperature=2.0, scale=scale)
    resps = [f"response number {i}" + "!" * i for i in range(6)]
    rewards = [j.score_batch([rm_input_ids(tok, "prompt", r, 64)])[0] for r in resps]
    items = [PointwiseItem(id=str(i), prompt="prompt", response=r) for i, r in enumerate(resps)]
    items.append(PairwiseItem(id="p", prompt="prompt", response_a=resps[0], response_b=resps[1]))

    async def go():
        out = await j.ajudge(items)
        await j.aclose()
        return out

    vs = _run(go())
    assert all(v.ok for v in vs)
    assert j.batches < len(resps) + 2  # 8 sequences went through fewer forward passes
    lo, hi = scale
    for v, r in zip(vs[:6], rewards):
        assert v.score == pytest.approx(lo + (hi - lo) / (1 + math.exp(-r / 2.0)), abs=1e-6)
        assert lo <= v.score <= hi and v.raw.startswith("reward=")
    assert vs[6].preference == ("A" if rewards[0] > rewards[1] else "B") and vs[6].raw.startswith("reward_a=")


def test_reward_to_score_bounds() -> None:
    assert reward_to_score(0.0) == 5.5
    assert reward_to_score(1e9) == pytest.approx(10.0) and reward_to_score(-1e9) == pytest.approx(1.0)


def test_truncation_keeps_the_response_end(tiny_rm) -> None:
    _, tok = tiny_rm
    ids = rm_input_ids(tok, "p " * 200, "the end", 32)
    assert len(ids) == 32 and "end" in tok.decode(ids)


def test_reward_model_from_yaml_as_a_1_to_5_judge(tiny_rm, tmp_path: Path) -> None:
    from judgelab.judges.registry import load_judge

    model, tok = tiny_rm
    model.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    (tmp_path / "rm.yaml").write_text(
        f"name: rm15\nscale: [1, 5]\nbackend:\n  type: reward_model\n  model: {tmp_path / 'rm'}\n  device: cpu\n")
    judge = load_judge(str(tmp_path / "rm.yaml"))
    assert judge.scale == (1.0, 5.0) and judge.name == "rm15"
    v1, v2, p = judge.judge([PairwiseItem(id="a", prompt="p", response_a="x", response_b="y"),
                             PairwiseItem(id="b", prompt="p", response_a="y", response_b="x"),
                             PointwiseItem(id="c", prompt="p", response="some answer")])
    assert v1.ok and v2.ok and {v1.preference, v2.preference} == {"A", "B"}  # order-invariant by construction
    assert p.ok and 1.0 <= p.score <= 5.0 and p.raw.startswith("reward=")  # the score itself, unrounded
    judge.close()


def test_close_mid_run_fails_waiting_items_instead_of_hanging(tiny_rm) -> None:
    model, tok = tiny_rm
    j = RewardModelJudge(model, tok, batch_size=2, max_wait_ms=1, max_length=64)
    real = j.score_batch

    def slow(batch):
        import time

        time.sleep(0.3)
        return real(batch)

    j.score_batch = slow  # type: ignore[method-assign]

    async def go():
        items = [PointwiseItem(id=str(i), prompt="p", response=f"r{i}") for i in range(6)]
        tasks = [asyncio.create_task(j.ajudge_one(it)) for it in items]
        await asyncio.sleep(0.1)  # first batch in flight, the rest queued
        await j.aclose()
        return await asyncio.wait_for(asyncio.gather(*tasks), 5)

    vs = _run(go())
    assert len(vs) == 6
    closed = [v for v in vs if v.error]
    assert closed and all("closed" in v.error for v in closed) and all(not v.parsed for v in closed)


def test_close_while_collecting_a_batch_fails_its_items(tiny_rm) -> None:
    model, tok = tiny_rm
    j = RewardModelJudge(model, tok, batch_size=8, max_wait_ms=60_000, max_length=64)  # waits for a full batch

    async def go():
        items = [PointwiseItem(id=str(i), prompt="p", response=f"r{i}") for i in range(2)]
        tasks = [asyncio.create_task(j.ajudge_one(it)) for it in items]
        await asyncio.sleep(0.1)  # both queued, the batcher waits for six more
        await j.aclose()
        return await asyncio.wait_for(asyncio.gather(*tasks), 5)

    vs = _run(go())
    assert [("closed" in (v.error or "")) for v in vs] == [True, True]
