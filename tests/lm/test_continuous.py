"""Continuous batching (judgelab.lm.continuous) on a tiny random model: greedy output equal to the
static path, a short request finishing during a long prompt's prefill, cancellation freeing the slot,
oversized requests refused with the engine still serving (and restarted after a crash), seeded and
logprob requests on the static path, and the engine's thread stopped on close. Orderings are
asserted through completion events, never wall-clock times."""

from __future__ import annotations

import asyncio
import time

import pytest
import torch

from judgelab.lm.continuous import ContinuousGenerator, ContinuousOptions, RequestTooLarge, unsupported_reason
from judgelab.lm.local import LocalGenerator
from judgelab.lm.types import SamplingParams

PROMPTS = [[{"role": "user", "content": "Tell me about cats."}],
           [{"role": "user", "content": "And the sea, at some length, please?"}],
           [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Numbers."}],
           "a raw completion prompt"]


@pytest.fixture
def engine(tiny_causal_lm):
    """Factory: ``engine(**ContinuousOptions fields, slow_s=0)`` -> ContinuousGenerator over the tiny
    model (each forward pass slowed by ``slow_s``); every engine is closed at teardown (its loop runs
    on a non-daemon thread)."""
    model, tok = tiny_causal_lm
    with torch.no_grad():
        model.lm_head.weight.mul_(3.0)  # less flat than random: no near-ties between top tokens
    made: list[ContinuousGenerator] = []

    def make(slow_s: float = 0.0, **opts) -> ContinuousGenerator:
        if slow_s:
            model.register_forward_hook(lambda *a: time.sleep(slow_s))
        cont = ContinuousGenerator(LocalGenerator(model, tok), ContinuousOptions(**opts))
        made.append(cont)
        return cont

    yield make
    for cont in made:
        cont.close()


def test_greedy_output_equals_the_static_path(engine) -> None:
    cont = engine(num_blocks=4, max_batch_tokens=16)  # small steps: prompts prefilled in several chunks
    sp = SamplingParams(max_new_tokens=10)
    static = [cont.generator.generate_batch([p], sp)[0] for p in PROMPTS]
    streamed: list[int] = []

    async def go():
        together = asyncio.gather(*(cont.generate(p, sp) for p in PROMPTS))
        one = cont.generate(PROMPTS[0], sp, on_token=lambda tid, lp: streamed.append(tid))
        return await asyncio.gather(together, one)

    continuous, alone = asyncio.run(go())
    for s, c in zip(static, continuous):
        assert (c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens, c.error) == \
               (s.text, s.finish_reason, s.prompt_tokens, s.completion_tokens, None)
    assert alone.text == static[0].text and cont.generator.decode(streamed) == alone.text
    assert cont.stats.requests == 5 and cont.stats.static == 0


def test_a_short_request_finishes_during_a_long_prefill(engine) -> None:
    """A 1,200-token prompt is prefilled in 16-token chunks; a short request (itself two chunks)
    sent once it has started is done before the long one has its first token (transformers' FIFO
    order would make it wait for the whole prefill)."""
    cont = engine(slow_s=0.02, num_blocks=8, max_batch_tokens=16)
    long_prompt = [{"role": "user", "content": "word " * 1200}]
    events: list[str] = []

    async def go():
        long = asyncio.ensure_future(cont.generate(long_prompt, SamplingParams(max_new_tokens=3),
                                                   on_token=lambda tid, lp: events.append("long token")))
        while not cont.active():
            await asyncio.sleep(0.005)
        short = await cont.generate(PROMPTS[0], SamplingParams(max_new_tokens=2))
        events.append("short done")
        return short, await long

    short, long = asyncio.run(go())
    assert short.error is None and long.error is None and long.prompt_tokens > 1200
    assert events.index("short done") < events.index("long token"), events


def test_cancel_stops_a_request_and_frees_its_slot(engine) -> None:
    cont = engine(slow_s=0.01, num_blocks=4)
    tokens: list[int] = []

    async def go():
        victim = asyncio.ensure_future(cont.generate(PROMPTS[1], SamplingParams(max_new_tokens=500),
                                                     on_token=lambda tid, lp: tokens.append(tid)))
        while len(tokens) < 3:
            await asyncio.sleep(0.005)
        victim.cancel()  # what a disconnected client does
        with pytest.raises(asyncio.CancelledError):
            await victim
        n_at_cancel = len(tokens)
        after = await cont.generate(PROMPTS[0], SamplingParams(max_new_tokens=4))
        return n_at_cancel, after

    n_at_cancel, after = asyncio.run(go())
    assert after.error is None and after.completion_tokens == 4
    assert len(tokens) == n_at_cancel < 500  # nothing streamed after the cancel
    assert cont.active() == [] and cont.stats.cancelled == 1 and cont.stats.in_flight == 0


def test_an_oversized_request_is_refused_and_the_engine_serves_on(engine) -> None:
    cont = engine(num_blocks=1)  # 256 tokens
    assert cont.too_large(100, 100) is None
    assert "--cb-blocks" in cont.too_large(200, 100)

    async def go():
        with pytest.raises(RequestTooLarge, match="more than the KV cache"):
            await cont.generate(PROMPTS[1], SamplingParams(max_new_tokens=250))
        ok = await cont.generate(PROMPTS[0], SamplingParams(max_new_tokens=3))
        # A request the checks did not see (added to the engine directly) stops its loop: the next
        # request restarts it.
        mgr = cont._mgr
        mgr.add_request([1] * 600, request_id="too-big", max_new_tokens=2)
        while mgr.background_thread_status.fatal_error is None:
            await asyncio.sleep(0.01)
        again = await cont.generate(PROMPTS[0], SamplingParams(max_new_tokens=3))
        return ok, again

    ok, again = asyncio.run(go())
    assert ok.error is None and again.error is None and again.text == ok.text
    assert cont.stats.too_large == 1 and cont.stats.restarts == 1


def test_seeded_and_logprob_requests_take_the_static_path(engine) -> None:
    cont = engine(slow_s=0.005, num_blocks=4)
    seeded = SamplingParams(max_new_tokens=6, temperature=0.9, seed=7)
    with_logprobs = SamplingParams(max_new_tokens=4, top_logprobs=2)
    ref_seeded = cont.generator.generate_batch([PROMPTS[0]], seeded)[0]
    ref_lp = cont.generator.generate_batch([PROMPTS[1]], with_logprobs)[0]

    async def go():  # beside a request in the engine: the static path runs while its loop is paused
        return await asyncio.gather(cont.generate(PROMPTS[2], SamplingParams(max_new_tokens=30)),
                                    cont.generate(PROMPTS[0], seeded), cont.generate(PROMPTS[1], with_logprobs))

    running, s, lp = asyncio.run(go())
    assert running.error is None and running.completion_tokens == 30
    assert s.text == ref_seeded.text
    assert lp.text == ref_lp.text and [t.logprob for t in lp.logprobs] == pytest.approx(
        [t.logprob for t in ref_lp.logprobs], abs=1e-5)
    assert cont.stats.static == 2 and cont.stats.requests == 1
    assert cont.static_reason(SamplingParams(response_format={"type": "json_object"})) == "response_format"


def test_close_stops_the_engine_thread(engine) -> None:
    cont = engine(num_blocks=2)
    asyncio.run(cont.generate(PROMPTS[0], SamplingParams(max_new_tokens=2)))
    thread = cont._mgr._generation_thread
    assert thread.is_alive() and not thread.daemon
    cont.close()
    assert not thread.is_alive() and cont._mgr is None
    late = asyncio.run(cont.generate(PROMPTS[0], SamplingParams(max_new_tokens=2)))
    assert "closed" in late.error and cont._mgr is None  # an error value; the engine is not restarted
    # the model is free again: the static path runs without a loop to pause
    assert cont.generator.generate_batch([PROMPTS[0]], SamplingParams(max_new_tokens=2))[0].error is None


def test_a_model_whose_config_the_engine_cannot_honour_is_refused(tiny_causal_lm) -> None:
    model, _ = tiny_causal_lm
    assert unsupported_reason(model) is None
    model.generation_config.repetition_penalty = 1.1
    assert "repetition_penalty" in unsupported_reason(model)
