"""judgelab.lm.local and judgelab.lm.batcher: LocalGenerator (batched chat generation) and DynamicBatcher."""

from __future__ import annotations

import asyncio
import threading
import time


from judgelab.lm.batcher import DynamicBatcher
from judgelab.lm.local import LocalGenerator
from judgelab.lm.types import Generation, SamplingParams

CHATS = [
    [{"role": "user", "content": "hello"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a much longer prompt than the first one"}],
    [{"role": "user", "content": "third"}],
]


def test_batched_greedy_equals_one_at_a_time(tiny_causal_lm) -> None:
    model, tok = tiny_causal_lm
    gen = LocalGenerator(model, tok)
    p = SamplingParams(max_new_tokens=6)
    batched = gen.generate_batch(CHATS, p)
    singles = [gen.generate_batch([c], p)[0] for c in CHATS]
    assert [g.text for g in batched] == [g.text for g in singles]
    for b, s in zip(batched, singles):
        # Left padding is not counted as prompt.
        assert b.prompt_tokens == s.prompt_tokens > 0
        assert 1 <= b.completion_tokens <= 6
        assert b.finish_reason in ("stop", "length") and b.latency_s > 0
    assert [b.prompt_tokens for b in batched] == [len(tok(gen.render(c), add_special_tokens=False)["input_ids"]) for c in CHATS]


def test_sampling_is_seeded_and_varies(tiny_causal_lm) -> None:
    gen = LocalGenerator(*tiny_causal_lm)
    a = gen.generate_batch(CHATS, SamplingParams(max_new_tokens=8, temperature=1.0, seed=7))
    b = gen.generate_batch(CHATS, SamplingParams(max_new_tokens=8, temperature=1.0, seed=7))
    c = gen.generate_batch(CHATS, SamplingParams(max_new_tokens=8, temperature=1.0, seed=8))
    assert [g.text for g in a] == [g.text for g in b]
    assert [g.text for g in a] != [g.text for g in c]


def test_stops_at_eos_and_strips_special_tokens(tiny_causal_lm) -> None:
    import torch

    model, tok = tiny_causal_lm
    # A head that always prefers EOS (after 1 free token would need state; EOS at once is enough).
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[tok.eos_token_id] = 10.0
    model.lm_head = head
    out = LocalGenerator(model, tok).generate_batch(CHATS, SamplingParams(max_new_tokens=5))
    for g in out:
        assert g.text == "" and g.finish_reason == "stop" and g.completion_tokens == 1


def test_real_smollm2_answers(smollm2_path: str) -> None:
    from judgelab.models.loading import load_model

    # fp32: there left-padded batches are exactly batch-invariant; bf16 (dtype "auto" on CPUs with
    # bf16 matrix instructions) rounds differently with padding and can change a greedy token.
    gen = LocalGenerator(*load_model(smollm2_path, dtype="float32"))
    chats = [
        [{"role": "user", "content": "What is 2+2? Answer with one number."}],
        [{"role": "user", "content": "Name the capital of France in one word."}],
    ]
    p = SamplingParams(max_new_tokens=12)
    out = gen.generate_batch(chats, p)
    assert "4" in out[0].text, out
    # Left-padded batching gives the same greedy text as one at a time.
    assert gen.generate_batch(chats[1:], p)[0].text == out[1].text
    assert out[0].finish_reason == "stop" and out[0].completion_tokens < 12
    assert "<|im_end|>" not in out[0].text


class RecordingGenerator:
    """A real (not mocked) TextGenerator: echoes the last user message; records batch shapes."""

    def __init__(self, delay_s: float = 0.02, fail_on: str | None = None):
        self.batches: list[tuple[int, tuple]] = []
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def generate_batch(self, messages_list, params):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self.delay_s)
            texts = [m[-1]["content"] for m in messages_list]
            if self.fail_on is not None and self.fail_on in texts:
                raise RuntimeError("boom")
            self.batches.append((len(messages_list), params.key()))
            return [Generation(text=t, completion_tokens=len(t)) for t in texts]
        finally:
            with self._lock:
                self.active -= 1


def _msg(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"item {i}"}]


def test_batcher_batches_concurrent_requests_in_order() -> None:
    g = RecordingGenerator()

    async def main():
        b = DynamicBatcher(g, batch_size=4, max_wait_ms=50)
        out = await asyncio.gather(*(b.submit(_msg(i), SamplingParams(max_new_tokens=3)) for i in range(10)))
        await b.aclose()
        return out, b.stats

    out, stats = asyncio.run(main())
    assert [o.text for o in out] == [f"item {i}" for i in range(10)]
    assert sorted(n for n, _ in g.batches) == [2, 4, 4]
    assert stats.max_batch_size == 4 and stats.batches == 3 and stats.requests == 10
    assert g.max_active == 1  # never two generate calls at once


def test_batcher_groups_by_sampling_params() -> None:
    g = RecordingGenerator()
    greedy, hot = SamplingParams(max_new_tokens=3), SamplingParams(max_new_tokens=3, temperature=0.7, seed=1)

    async def main():
        b = DynamicBatcher(g, batch_size=8, max_wait_ms=30)
        out = await asyncio.gather(*(b.submit(_msg(i), greedy if i % 2 else hot) for i in range(8)))
        await b.aclose()
        return out

    out = asyncio.run(main())
    assert [o.text for o in out] == [f"item {i}" for i in range(8)]
    assert sorted(g.batches) == sorted([(4, greedy.key()), (4, hot.key())])


def test_batcher_single_request_waits_at_most_max_wait() -> None:
    g = RecordingGenerator(delay_s=0.0)

    async def main():
        b = DynamicBatcher(g, batch_size=64, max_wait_ms=30)
        t0 = time.perf_counter()
        r = await b.submit(_msg(0), SamplingParams())
        dt = time.perf_counter() - t0
        await b.aclose()
        return r, dt

    r, dt = asyncio.run(main())
    assert r.text == "item 0" and 0.02 <= dt < 1.0


def test_batcher_failure_is_a_value_and_batcher_survives() -> None:
    g = RecordingGenerator(fail_on="item 1")

    async def main():
        b = DynamicBatcher(g, batch_size=2, max_wait_ms=30)
        first = await asyncio.gather(*(b.submit(_msg(i), SamplingParams()) for i in range(2)))
        after = await b.submit(_msg(5), SamplingParams())
        await b.aclose()
        closed = await b.submit(_msg(6), SamplingParams())
        return first, after, closed, b.stats

    first, after, closed, stats = asyncio.run(main())
    assert all(g.error and "boom" in g.error and g.text == "" for g in first)
    assert after.error is None and after.text == "item 5"
    assert closed.error == "batcher is closed"
    assert stats.failed_batches == 1


def test_batcher_rebinds_to_a_new_loop() -> None:
    g = RecordingGenerator(delay_s=0.0)
    b = DynamicBatcher(g, batch_size=2, max_wait_ms=1)
    assert asyncio.run(b.submit(_msg(1), SamplingParams())).text == "item 1"
    assert asyncio.run(b.submit(_msg(2), SamplingParams())).text == "item 2"


def test_batcher_with_real_tiny_model(tiny_causal_lm) -> None:
    gen = LocalGenerator(*tiny_causal_lm)
    p = SamplingParams(max_new_tokens=4)
    expected = [g.text for g in gen.generate_batch(CHATS, p)]

    async def main():
        b = DynamicBatcher(gen, batch_size=8, max_wait_ms=50)
        out = await asyncio.gather(*(b.submit(c, p) for c in CHATS))
        await b.aclose()
        return out, b.stats

    out, stats = asyncio.run(main())
    assert [o.text for o in out] == expected
    assert stats.max_batch_size == 3
