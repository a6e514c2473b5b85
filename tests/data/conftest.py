"""Fixtures for the store tests: real local OpenAI-compatible servers (tests/fault_server.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# --import-mode=importlib does not put tests/ on sys.path; the helper module lives there.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from fault_server import FaultServer  # noqa: E402


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    """Factory: ``fault_server(fault_rate=0.2, ...)`` starts a server; all stop at teardown."""
    started: list[FaultServer] = []

    def make(**kw: Any) -> FaultServer:
        s = FaultServer(**kw).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
