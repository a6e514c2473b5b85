"""Client-side rate limits (judgelab.lm.ratelimit) with an injected clock, and the openai backend
under a limit against a real local server (tests/fault_server.py): bounded throughput, per-call
DEBUG accounting and one INFO summary line on close."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from judgelab.lm.config import OpenAIBackendConfig
from judgelab.lm.openai import OpenAIBackend
from judgelab.lm.ratelimit import RateLimiter, TokenBucket
from judgelab.lm.types import GenerationRequest, SamplingParams


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.t = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, dt: float) -> None:
        self.sleeps.append(dt)
        self.t += dt


def test_requests_per_minute_spaces_requests() -> None:
    clock = FakeClock()
    lim = RateLimiter(requests_per_minute=60, clock=clock, sleep=clock.sleep)  # 1/s, burst of 1

    async def go():
        return [await lim.acquire() for _ in range(5)]

    waits = asyncio.run(go())
    assert waits[0] == 0.0 and waits[1:] == pytest.approx([1.0] * 4)
    assert clock.t - 100.0 == pytest.approx(4.0) and lim.acquired == 5


def test_tokens_per_minute_with_a_request_bigger_than_the_bucket() -> None:
    clock = FakeClock()
    lim = RateLimiter(tokens_per_minute=600, burst_s=1.0, clock=clock, sleep=clock.sleep)  # 10 tokens/s, bucket 10

    async def go():
        a = await lim.acquire(25)  # bigger than the bucket: goes now (bucket full), leaves a debt of 15
        b = await lim.acquire(5)  # waits for the debt and its own 5: (15 + 5) / 10 = 2 s
        lim.charge(10)  # the last response was 10 tokens bigger than estimated
        c = await lim.acquire(10)  # (10 + 10) / 10 = 2 s
        return a, b, c

    a, b, c = asyncio.run(go())
    assert a == 0.0 and b == pytest.approx(2.0) and c == pytest.approx(2.0)


def test_concurrent_waiters_are_served_in_order_and_the_rate_holds() -> None:
    clock = FakeClock()
    lim = RateLimiter(requests_per_minute=120, burst_s=2.0, clock=clock, sleep=clock.sleep)  # 2/s, burst 4
    order: list[int] = []

    async def one(i: int) -> None:
        await lim.acquire()
        order.append(i)

    async def go():
        await asyncio.gather(*(one(i) for i in range(10)))

    asyncio.run(go())
    assert order == list(range(10))
    assert clock.t - 100.0 == pytest.approx((10 - 4) / 2)  # 4 at once, then 2 a second


def test_bucket_refills_up_to_capacity_only() -> None:
    clock = FakeClock()
    b = TokenBucket(rate_per_s=1.0, capacity=3.0, clock=clock)
    b.take(3.0)
    clock.t += 100.0
    assert b.wait_time(3.0) == 0.0 and b.wait_time(4.0) == 0.0  # capped at the capacity
    b.take(3.0)
    assert b.wait_time(1.0) == pytest.approx(1.0)


def test_openai_backend_under_a_limit_and_its_accounting(fault_server, caplog) -> None:
    srv = fault_server()
    cfg = OpenAIBackendConfig(model="judge-model", base_urls=[srv.url], requests_per_minute=600, rate_burst_s=0.5,
                              max_retries=0, concurrency=8)
    b = OpenAIBackend(cfg)  # 10 requests/s, 5 at once
    n = 12

    async def go():
        try:
            return await asyncio.gather(*(b.generate(GenerationRequest([{"role": "user", "content": f"item {i}"}],
                                                                       SamplingParams(max_new_tokens=3)))
                                          for i in range(n)))
        finally:
            await b.aclose()

    caplog.set_level(logging.DEBUG, logger="judgelab.lm.openai")
    t0 = time.perf_counter()
    gens = asyncio.run(go())
    elapsed = time.perf_counter() - t0
    assert all(g.error is None for g in gens) and srv.requests == n
    assert elapsed >= 0.6  # 5 at once, then 7 more at 10/s: at least 0.7 s (generous lower bound)
    calls = [r for r in caplog.records if r.levelno == logging.DEBUG and "call: prompt_tokens=" in r.getMessage()]
    assert len(calls) == n and all("completion_tokens=3" in r.getMessage() for r in calls)
    (summary,) = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "calls (" in r.getMessage()]
    prompt_tokens = sum(g.prompt_tokens for g in gens)
    assert f"openai backend judge-model: {n} calls (0 failed), {prompt_tokens:,} prompt + {3 * n} completion" in summary
    assert "waiting on rate limits" in summary and b.limiter.waited_s > 0.5
