"""Per-call token and latency accounting of a text backend, for the run log.

Every ``generate`` call is recorded (``UsageStats.record``) and logged at DEBUG (tokens, latency,
attempts, rate-limit wait); ``summary()`` is the one INFO line a backend logs when it is closed,
which is at the end of each stage that used it (annotation, evaluation, a training run's reward):
calls, failures, prompt/completion tokens, mean and p95 latency, retries, time spent waiting on
rate limits.

``CallCounts`` (calls, failures, attempts) is the part every backend account shares: the openai
backend's lifetime ``stats`` are CallCounts plus the faults it met.

Reads and writes nothing itself (lines go to the ``logging`` logger passed in).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from judgelab.lm.types import Generation


@dataclass
class CallCounts:
    """Calls of a text backend, the failed ones, and attempts (a retried call counts each try)."""

    calls: int = 0
    failed: int = 0
    attempts: int = 0

    def count(self, gen: Generation) -> None:
        self.calls += 1
        self.failed += gen.error is not None
        self.attempts += gen.attempts


@dataclass
class UsageStats(CallCounts):
    """A backend's calls since it was created or last closed, with tokens, latency and waits."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: list[float] = field(default_factory=list)
    rate_limit_wait_s: float = 0.0

    def record(self, gen: Generation, *, log: logging.Logger | None = None, label: str = "", waited_s: float = 0.0) -> None:
        self.count(gen)
        self.prompt_tokens += gen.prompt_tokens
        self.completion_tokens += gen.completion_tokens
        self.latency_s.append(gen.latency_s)
        self.rate_limit_wait_s += waited_s
        if log is not None and log.isEnabledFor(logging.DEBUG):
            log.debug("%s call: prompt_tokens=%d completion_tokens=%d latency=%.3fs attempts=%d rate_wait=%.3fs%s",
                      label, gen.prompt_tokens, gen.completion_tokens, gen.latency_s, gen.attempts, waited_s,
                      " error" if gen.error else "")

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.latency_s)
        return {
            "calls": self.calls, "failed": self.failed, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "attempts": self.attempts,
            "latency_mean_s": round(sum(lat) / len(lat), 4) if lat else 0.0,
            "latency_p95_s": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 4) if lat else 0.0,
            "rate_limit_wait_s": round(self.rate_limit_wait_s, 3),
        }

    def summary(self, label: str) -> str:
        d = self.as_dict()
        return (f"{label}: {d['calls']} calls ({d['failed']} failed), {d['prompt_tokens']:,} prompt + "
                f"{d['completion_tokens']:,} completion tokens, latency mean {d['latency_mean_s']:.2f}s "
                f"p95 {d['latency_p95_s']:.2f}s, {d['attempts'] - d['calls']} retries, "
                f"{d['rate_limit_wait_s']:.1f}s waiting on rate limits")
