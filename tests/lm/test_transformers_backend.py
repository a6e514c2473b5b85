"""TransformersBackend: the Backend protocol over a local model through the DynamicBatcher."""

from __future__ import annotations

import asyncio

from judgelab.lm import make_backend
from judgelab.lm.transformers import TransformersBackend
from judgelab.judges.config import JudgeConfig
from judgelab.lm.config import TransformersBackendConfig
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import PairwiseItem, PointwiseItem
from judgelab.lm.types import TextBackend, GenerationRequest, SamplingParams


def _items(n: int) -> list:
    items: list = []
    for i in range(n):
        items.append(PointwiseItem(id=f"p{i}", prompt=f"Write a line about {i}.", response=f"Line number {i}."))
        items.append(PairwiseItem(id=f"q{i}", prompt=f"Say {i}.", response_a=f"{i}", response_b=f"It is {i}!"))
    return items


def test_backend_protocol_and_judge_batches(tiny_causal_lm) -> None:
    backend = TransformersBackend.from_model(*tiny_causal_lm, name="tiny", batch_size=8, max_wait_ms=50)
    assert isinstance(backend, TextBackend)
    assert backend.identity() == {"backend": "transformers", "model": "tiny", "dtype": "float32"}
    cfg = JudgeConfig(name="tiny-judge", sampling={"max_new_tokens": 4})
    judge = LLMJudge(cfg, backend=backend)
    items = _items(6)
    verdicts = judge.judge(items)
    assert [v.item_id for v in verdicts] == [it.id for it in items]
    for v, it in zip(verdicts, items):
        assert v.error is None
        assert v.mode == ("pointwise" if isinstance(it, PointwiseItem) else "pairwise")
        assert v.parsed or v.parse_error  # random model: parse failures are values
        assert v.prompt_tokens > 0 and 1 <= v.completion_tokens <= 4
    stats = backend.batcher.stats
    assert stats.requests == 12 and stats.max_batch_size > 1 and stats.batches < 12
    judge.close()


def test_backend_failure_is_a_generation_error(tiny_causal_lm) -> None:
    model, tok = tiny_causal_lm
    backend = TransformersBackend.from_model(model, tok, batch_size=2, max_wait_ms=1)

    async def main():
        # A role the chat template does not know still renders; an invalid message type fails.
        bad = GenerationRequest(messages=[{"role": "user"}], params=SamplingParams(max_new_tokens=2))  # type: ignore[list-item]
        good = GenerationRequest(messages=[{"role": "user", "content": "hi"}], params=SamplingParams(max_new_tokens=2))
        out = await asyncio.gather(backend.generate(bad), backend.generate(good))
        await backend.aclose()
        return out

    bad, good = asyncio.run(main())
    assert bad.error and bad.text == ""
    # The good request shared the failed batch or ran alone; either way nothing raised.
    assert good.error is None or good.error == bad.error


def test_from_config_real_smollm2(smollm2_path: str) -> None:
    backend = make_backend(TransformersBackendConfig(model=smollm2_path, batch_size=4, device="cpu"))
    assert isinstance(backend, TransformersBackend)
    # dtype "auto" is resolved in the identity (bf16 on CPUs with bf16 matrix instructions, else fp32)
    from judgelab.models.devices import pick_dtype

    expected = str(pick_dtype("auto", "cpu")).removeprefix("torch.")
    assert backend.identity()["dtype"] == expected and backend.identity()["model"] == smollm2_path
    judge = LLMJudge(JudgeConfig(backend={"type": "transformers", "model": smollm2_path}, sampling={"max_new_tokens": 8}),
                     backend=backend)
    v = judge.judge([PointwiseItem(id="x", prompt="Say hi.", response="Hi!")])[0]
    assert v.error is None and v.raw != ""
    judge.close()


def test_abandoned_rows_stop_generating(tiny_causal_lm):
    """Issue 25: a row whose client is gone stops at the next token; the batch ends when none is
    left, instead of running to max_new_tokens while every other client waits."""
    import asyncio

    from judgelab.lm.batcher import DynamicBatcher
    from judgelab.lm.local import LocalGenerator
    from judgelab.lm.types import SamplingParams

    gen = LocalGenerator(*tiny_causal_lm)
    params = SamplingParams(max_new_tokens=120, temperature=1.0, seed=1)
    msgs = [[{"role": "user", "content": f"tell me a long story {i}"}] for i in range(2)]
    calls = {"n": 0}

    def stop_row0_after_3() -> list[bool]:
        calls["n"] += 1
        return [calls["n"] > 3, False]

    out = gen.generate_batch(msgs, params, should_stop=stop_row0_after_3)
    assert out[0].completion_tokens <= 5 and out[1].completion_tokens > 20  # row 1 went on (no eos this early)

    async def main() -> tuple[float, int]:
        batcher = DynamicBatcher(gen, batch_size=4, max_wait_ms=1)
        task = asyncio.ensure_future(batcher.submit(msgs[0], SamplingParams(max_new_tokens=4000, temperature=1.0, seed=2)))
        await asyncio.sleep(0.5)
        task.cancel()  # the client went away
        t0 = asyncio.get_running_loop().time()
        quick = await batcher.submit(msgs[1], SamplingParams(max_new_tokens=4, temperature=0.0))
        waited = asyncio.get_running_loop().time() - t0
        await batcher.aclose()
        return waited, quick.completion_tokens

    waited, n = asyncio.run(main())
    gen.close()
    assert n <= 4 and waited < 5.0, waited  # 4000 tokens would take far longer than this
