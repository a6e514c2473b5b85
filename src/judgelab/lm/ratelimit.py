"""Client-side rate limits for API backends: requests per minute and tokens per minute, as token
buckets that refill continuously (the shape OpenAI and most hosted APIs enforce).

``RateLimiter(rpm, tpm).acquire(tokens)`` waits until one more request and ``tokens`` more tokens
fit, then takes them; waiters are served first come, first served. A bucket holds at most
``burst_s`` seconds of its rate (hosted APIs enforce per-minute limits over shorter windows, so a
full minute's burst at start-up would itself draw 429s). A request costing more than a full
bucket waits for a full bucket and leaves it in debt: the long-run rate still holds, and no
request waits forever. The clock and sleep are injectable, so tests need not wait in real time.

Reads and writes nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """``rate_per_s`` units refill per second, up to ``capacity``; ``take`` may go into debt."""

    def __init__(self, rate_per_s: float, capacity: float, clock: Clock = time.monotonic):
        if rate_per_s <= 0 or capacity <= 0:
            raise ValueError("rate and capacity must be positive")
        self.rate = float(rate_per_s)
        self.capacity = float(capacity)
        self.clock = clock
        self.level = float(capacity)  # starts full
        self._t = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self._t) * self.rate)
        self._t = now

    def wait_time(self, cost: float) -> float:
        """Seconds until ``cost`` (capped at the capacity) is available; 0 if now."""
        self._refill()
        need = min(cost, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, cost: float) -> None:
        self._refill()
        self.level -= cost


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits together (either may be None: unlimited)."""

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None, *,
                 burst_s: float = 1.0, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep):
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        # At least one request's worth, or a low rpm could never admit anything.
        self.requests = (TokenBucket(requests_per_minute / 60.0, max(1.0, requests_per_minute / 60.0 * burst_s), clock)
                         if requests_per_minute else None)
        self.tokens = (TokenBucket(tokens_per_minute / 60.0, max(1.0, tokens_per_minute / 60.0 * burst_s), clock)
                       if tokens_per_minute else None)
        self.sleep = sleep
        self.waited_s = 0.0  # total time callers spent waiting here
        self.acquired = 0
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def enabled(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def _lock_for_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # an asyncio.Lock is bound to one loop
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    async def acquire(self, tokens: float = 0.0) -> float:
        """Wait for room for one request of ``tokens`` tokens, take it; return the seconds waited."""
        if not self.enabled:
            return 0.0
        waited = 0.0
        # The lock makes waiters first come, first served: a small request cannot overtake a big
        # one forever.
        async with self._lock_for_loop():
            while True:
                delay = max(self.requests.wait_time(1.0) if self.requests else 0.0,
                            self.tokens.wait_time(tokens) if self.tokens else 0.0)
                if delay <= 0:
                    break
                await self.sleep(delay)
                waited += delay
            if self.requests:
                self.requests.take(1.0)
            if self.tokens:
                self.tokens.take(tokens)
        self.waited_s += waited
        self.acquired += 1
        return waited

    def charge(self, tokens: float) -> None:
        """Take ``tokens`` more (a request turned out bigger than its estimate)."""
        if self.tokens is not None and tokens > 0:
            self.tokens.take(tokens)
