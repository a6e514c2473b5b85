"""One background event loop per process, so sync callers (TRL reward functions, CLI) can run
judge coroutines while async clients (httpx, the dynamic batcher) stay bound to one loop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _forget_parents_loop() -> None:
    # A forked child inherits the parent's loop object but not its thread: waiting on it would hang.
    global _loop, _lock
    _loop, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_loop)


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            t = threading.Thread(target=_loop.run_forever, name="judgelab-aio", daemon=True)
            t.start()
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the shared background loop and wait for its result."""
    loop = background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("run_sync called from the judgelab loop itself; await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()
