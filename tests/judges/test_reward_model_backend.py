"""RewardModelBackend on a tiny random seq-cls Llama: batched scores equal one-at-a-time scores,
pairwise verdicts follow the higher reward, pointwise scores map onto the (1, 10) scale."""

from __future__ import annotations

import asyncio
import math
import re
from pathlib import Path

import pytest

from judgelab.judges.backends.reward_model import RewardModelBackend, reward_to_score, rm_input_ids
from judgelab.judges.types import GenerationRequest, PairwiseItem, PointwiseItem


@pytest.fixture(scope="module")
def tiny_rm():
    from judgelab.models import tiny_model

    return tiny_model(task="seq-cls", seed=3)


def _run(coro):
    return asyncio.run(coro)


def test_batched_scores_match_single(tiny_rm) -> None:
    model, tok = tiny_rm
    be = RewardModelBackend(model, tok, batch_size=4, max_wait_ms=50, max_length=64)
    texts = [("p", "short"), ("a longer prompt here", "a much longer response with many words"), ("p", "x")]
    single = [be.score_batch([rm_input_ids(tok, p, r, 64)])[0] for p, r in texts]
    batched = be.score_batch([rm_input_ids(tok, p, r, 64) for p, r in texts])
    assert batched == pytest.approx(single, abs=1e-4)


def test_generate_pairwise_pointwise_and_batching(tiny_rm) -> None:
    model, tok = tiny_rm
    be = RewardModelBackend(model, tok, batch_size=4, max_wait_ms=50, max_length=64, temperature=2.0)
    resps = [f"response number {i}" + "!" * i for i in range(6)]
    rewards = [be.score_batch([rm_input_ids(tok, "prompt", r, 64)])[0] for r in resps]

    async def go():
        reqs = [GenerationRequest(messages=[], item=PointwiseItem(id=str(i), prompt="prompt", response=r))
                for i, r in enumerate(resps)]
        reqs.append(GenerationRequest(messages=[], item=PairwiseItem(id="p", prompt="prompt", response_a=resps[0], response_b=resps[1])))
        out = await asyncio.gather(*(be.generate(r) for r in reqs))
        await be.aclose()
        return out

    gens = _run(go())
    assert all(g.error is None for g in gens)
    assert be.batches < len(resps) + 2  # 8 sequences went through fewer forward passes
    for g, r in zip(gens[:6], rewards):
        score = float(re.search(r"Score: ([\d.]+)", g.text).group(1))
        assert score == pytest.approx(1 + 9 / (1 + math.exp(-r / 2.0)), abs=0.006)
    want = "[[A]]" if rewards[0] > rewards[1] else "[[B]]"
    assert gens[6].text.endswith(want) and gens[6].text.startswith("reward_a=")


def test_missing_item_is_an_error_value(tiny_rm) -> None:
    model, tok = tiny_rm
    be = RewardModelBackend(model, tok)
    g = _run(be.generate(GenerationRequest(messages=[{"role": "user", "content": "x"}])))
    assert g.error and g.text == ""


def test_reward_to_score_bounds() -> None:
    assert reward_to_score(0.0) == 5.5
    assert reward_to_score(1e9) == pytest.approx(10.0) and reward_to_score(-1e9) == pytest.approx(1.0)


def test_truncation_keeps_the_response_end(tiny_rm) -> None:
    _, tok = tiny_rm
    ids = rm_input_ids(tok, "p " * 200, "the end", 32)
    assert len(ids) == 32 and "end" in tok.decode(ids)


def test_from_config_through_judge(tiny_rm, tmp_path: Path) -> None:
    from judgelab.judges.config import JudgeConfig
    from judgelab.judges.judge import Judge

    model, tok = tiny_rm
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    judge = Judge(JudgeConfig(backend={"type": "reward_model", "model": str(tmp_path), "device": "cpu"}))
    v1, v2 = judge.judge([PairwiseItem(id="a", prompt="p", response_a="x", response_b="y"),
                          PairwiseItem(id="b", prompt="p", response_a="y", response_b="x")])
    assert v1.ok and v2.ok and {v1.preference, v2.preference} == {"A", "B"}  # order-invariant by construction
    judge.close()


def test_close_mid_run_fails_waiting_requests_instead_of_hanging(tiny_rm) -> None:
    model, tok = tiny_rm
    be = RewardModelBackend(model, tok, batch_size=2, max_wait_ms=1, max_length=64)
    real = be.score_batch

    def slow(batch):
        import time

        time.sleep(0.3)
        return real(batch)

    be.score_batch = slow  # type: ignore[method-assign]

    async def go():
        reqs = [GenerationRequest(messages=[], item=PointwiseItem(id=str(i), prompt="p", response=f"r{i}")) for i in range(6)]
        tasks = [asyncio.create_task(be.generate(r)) for r in reqs]
        await asyncio.sleep(0.1)  # first batch in flight, the rest queued
        await be.aclose()
        return await asyncio.wait_for(asyncio.gather(*tasks), 5)

    gens = _run(go())
    assert len(gens) == 6
    closed = [g for g in gens if g.error]
    assert closed and all("closed" in g.error for g in closed)


def test_close_while_collecting_a_batch_fails_its_requests(tiny_rm) -> None:
    model, tok = tiny_rm
    be = RewardModelBackend(model, tok, batch_size=8, max_wait_ms=60_000, max_length=64)  # waits for a full batch

    async def go():
        reqs = [GenerationRequest(messages=[], item=PointwiseItem(id=str(i), prompt="p", response=f"r{i}")) for i in range(2)]
        tasks = [asyncio.create_task(be.generate(r)) for r in reqs]
        await asyncio.sleep(0.1)  # both taken off the queue, the worker waits for six more
        await be.aclose()
        return await asyncio.wait_for(asyncio.gather(*tasks), 5)

    gens = _run(go())
    assert [("closed" in (g.error or "")) for g in gens] == [True, True]
