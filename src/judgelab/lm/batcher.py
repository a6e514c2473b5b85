"""One dynamic batcher for every local model call: text generation (``LocalGenerator``) and
reward-model forward passes alike.

``DynamicBatcher(work).submit(payload, params)`` queues one payload (chat messages, token ids...)
and resolves when its batch has run. Concurrent submits with the same ``params`` (grouped by
``params.key()`` when it has one) form batches of up to ``batch_size``, waiting at most
``max_wait_ms`` for a batch to fill; batches run one at a time in a worker thread (models are not
thread-safe), and while one runs the next forms. The oldest waiting request decides which group
runs next, so no group starves.

``work`` is a callable ``(payloads, params) -> results`` (one result per payload) or a
``TextGenerator`` (its ``generate_batch``). A failed batch fails its own requests only: with
``on_error`` each gets ``on_error(exc)`` as its result (text generation: ``Generation(error=...)``),
without it each gets the exception. Bound to the event loop of its first ``submit``; it rebinds if
that loop has closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from judgelab.lm.types import Generation, Messages, SamplingParams

log = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")


@runtime_checkable
class TextGenerator(Protocol):
    """Something that turns a batch of chat conversations into Generations (same params for all)."""

    def generate_batch(self, messages_list: Sequence[Messages], params: SamplingParams) -> list[Generation]: ...


def generation_error(exc: BaseException) -> Generation:
    """A failed text batch: every request gets an empty Generation naming the error."""
    msg = str(exc) if isinstance(exc, BatcherClosed) else f"{type(exc).__name__}: {exc}"
    return Generation(text="", error=msg)


class BatcherClosed(RuntimeError):
    def __init__(self) -> None:
        super().__init__("batcher is closed")


@dataclass
class BatcherStats:
    """Batches run so far: how many of each size (which gives requests, batches and the largest),
    how many failed, and the time spent running them."""

    batch_sizes: dict[int, int] = field(default_factory=dict)
    failed_batches: int = 0
    busy_s: float = 0.0

    def record(self, size: int, busy_s: float, failed: bool) -> None:
        self.batch_sizes[size] = self.batch_sizes.get(size, 0) + 1
        self.failed_batches += failed
        self.busy_s += busy_s

    @property
    def requests(self) -> int:
        return sum(size * n for size, n in self.batch_sizes.items())

    @property
    def batches(self) -> int:
        return sum(self.batch_sizes.values())

    @property
    def max_batch_size(self) -> int:
        return max(self.batch_sizes, default=0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "batches": self.batches,
            "max_batch_size": self.max_batch_size,
            "mean_batch_size": (self.requests / self.batches) if self.batches else 0.0,
            "failed_batches": self.failed_batches,
            "busy_s": round(self.busy_s, 3),
            "batch_sizes": dict(sorted(self.batch_sizes.items())),
        }


@dataclass
class _Pending:
    payload: Any
    params: Any
    future: asyncio.Future
    t_submit: float

    @property
    def group(self) -> Any:
        key = getattr(self.params, "key", None)
        return key() if callable(key) else self.params


class DynamicBatcher(Generic[P, R]):
    """Collects concurrent ``submit`` calls into batches for ``work`` (see the module docstring)."""

    def __init__(
        self,
        work: Callable[[list[P], Any], list[R]] | TextGenerator,
        batch_size: int = 8,
        max_wait_ms: float = 5.0,
        on_error: Callable[[BaseException], R] | None = None,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if isinstance(work, TextGenerator):
            self.generator: TextGenerator | None = work
            self.work: Callable[[list[P], Any], list[R]] = work.generate_batch  # type: ignore[assignment]
            on_error = on_error or generation_error  # type: ignore[assignment]
        else:
            self.generator, self.work = None, work
        self.on_error = on_error
        self.batch_size = batch_size
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.stats = BatcherStats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._closed = False
        self._inflight: list[_Pending] = []

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._worker is not None and not self._worker.done():
            return
        if self._loop is not None and self._loop is not loop and not self._loop.is_closed():
            raise RuntimeError("DynamicBatcher is already serving another running event loop")
        self._loop = loop
        self._pending = []
        self._wakeup = asyncio.Event()
        self._worker = loop.create_task(self._run(), name="judgelab-batcher")

    def _resolve(self, p: _Pending, exc: BaseException) -> None:
        if p.future.done():
            return
        if self.on_error is not None:
            p.future.set_result(self.on_error(exc))
        else:
            p.future.set_exception(exc)

    async def submit(self, payload: P, params: Any = None) -> R:
        """Queue one payload; resolves when its batch has run."""
        if params is None and self.generator is not None:
            params = SamplingParams()
        if self._closed:
            if self.on_error is not None:
                return self.on_error(BatcherClosed())
            raise BatcherClosed()
        self._bind()
        assert self._loop is not None and self._wakeup is not None
        fut: asyncio.Future = self._loop.create_future()
        self._pending.append(_Pending(payload, params, fut, time.monotonic()))
        self._wakeup.set()
        return await fut

    def _take_batch(self) -> list[_Pending] | None:
        """The oldest request's group (up to batch_size) if full or past its wait; else None."""
        if not self._pending:
            return None
        key = self._pending[0].group
        same = [p for p in self._pending if p.group == key]
        waited = time.monotonic() - self._pending[0].t_submit
        if len(same) < self.batch_size and waited < self.max_wait_s:
            return None
        batch = same[: self.batch_size]
        chosen = {id(p) for p in batch}
        self._pending = [p for p in self._pending if id(p) not in chosen]
        return batch

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            batch = self._take_batch()
            if batch is None:
                self._wakeup.clear()
                timeout = None
                if self._pending:
                    timeout = max(0.0, self.max_wait_s - (time.monotonic() - self._pending[0].t_submit))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
                continue
            live = [p for p in batch if not p.future.done()]  # a cancelled client needs no result
            if not live:
                continue
            await self._run_batch(live)

    async def _run_batch(self, batch: list[_Pending]) -> None:
        t0 = time.perf_counter()
        self._inflight = batch
        failure: BaseException | None = None
        results: list[Any] = []
        try:
            if getattr(self.generator, "supports_cancel", False):
                # Rows whose client went away (disconnect, timeout: the future is cancelled) stop
                # generating at the next token; the batch ends when none is left (future.done()
                # is read from the generation thread: a plain flag read).
                results = await asyncio.to_thread(self.work, [p.payload for p in batch], batch[0].params,  # type: ignore[call-arg]
                                                  should_stop=lambda: [p.future.cancelled() for p in batch])
            else:
                results = await asyncio.to_thread(self.work, [p.payload for p in batch], batch[0].params)
            if len(results) != len(batch):
                raise RuntimeError(f"batch work returned {len(results)} results for {len(batch)} requests")
        except Exception as exc:  # noqa: BLE001 - a model failure is a per-request value, not a crash
            log.exception("batch of %d failed", len(batch))
            failure = exc
        self.stats.record(len(batch), time.perf_counter() - t0, failed=failure is not None)
        self._inflight = []
        for i, p in enumerate(batch):
            if failure is not None:
                self._resolve(p, failure)
            elif not p.future.done():
                p.future.set_result(results[i])

    async def aclose(self) -> None:
        """Stop the worker; requests still waiting or in flight get 'batcher is closed'."""
        self._closed = True
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._worker
        for p in self._pending + self._inflight:
            self._resolve(p, BatcherClosed())
        self._pending, self._inflight = [], []
