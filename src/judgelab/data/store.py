"""Judgment store: SQLite in WAL mode, keyed by a hash of (judge identity, template, inputs,
sampling seed, sample index). A repeated request is answered from the store; each verdict is
committed as soon as it exists, so a killed process loses at most the requests in flight.

Concurrency: several processes may write at once (WAL + busy timeout); inside one process the
connection is guarded by a lock so threads and the asyncio loop can share it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY,
    judge TEXT NOT NULL,
    mode TEXT NOT NULL,
    item_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS judgments_judge ON judgments(judge);
"""


def stable_hash(obj: Any) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgmentStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), timeout=60.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=60000")
        self._conn.executescript(_SCHEMA)
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT verdict FROM judgments WHERE key=?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, verdict: dict[str, Any], *, judge: str, mode: str, item_id: str) -> None:
        blob = json.dumps(verdict, ensure_ascii=False)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO judgments(key, judge, mode, item_id, verdict, created_at) VALUES (?,?,?,?,?,?)",
                (key, judge, mode, item_id, blob, time.time()),
            )
        self.writes += 1

    def count(self, judge: str | None = None) -> int:
        with self._lock:
            if judge is None:
                return self._conn.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
            return self._conn.execute("SELECT COUNT(*) FROM judgments WHERE judge=?", (judge,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> "JudgmentStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
