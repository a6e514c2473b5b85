"""Judgment store: SQLite in WAL mode, keyed by a hash of (judge identity, template, inputs,
sampling seed, sample index) computed by ``Judge.key``. A repeated request is answered from the
store; each verdict is committed as soon as it exists, so a killed process loses at most the
requests in flight.

Reads/writes one SQLite file (plus its ``-wal``/``-shm`` side files):
  - ``judgments(key PRIMARY KEY, judge, mode, item_id, verdict JSON, created_at)``
  - ``store_meta(name PRIMARY KEY, value)`` holding ``schema_version``.

Concurrency: several processes and threads may write at once. WAL lets readers run beside one
writer; a long busy timeout (plus a retry loop around opening, where SQLite can report "locked"
without calling the busy handler) serialises writers. The first verdict written for a key wins
(``INSERT OR IGNORE``): verdicts for one key are interchangeable, and keeping the first makes the
stored value stable when two workers race on the same item. Inside one process the connection
is guarded by a lock so threads and the asyncio loop can share it; a forked child notices the
pid change and opens its own connection (SQLite connections must not cross a fork).

Several ranks (``accelerate launch``/``torchrun``: WORLD_SIZE > 1): the store file has one writer per
run, rank 0. Rank r > 0 writes its own shard beside it, ``judgments.rank<r>.sqlite`` (holding a
shared flock on ``.judgments.rank<r>.sqlite.lock`` while open), and reads its shard plus, on rank 0's node,
the store file. The next process that opens the store alone (WORLD_SIZE 1: the next stage of
``judgelab run``, the next command) merges the shards into it (first verdict per key wins, as
always) and deletes them; ``merge_shards`` does it explicitly. One process (WORLD_SIZE unset) reads
and writes the store file exactly as before.

WAL needs shared memory between the processes that open a file, so the store must live on a local
disk of the machine whose processes open it: SQLite's WAL does not work over a network file system
(NFS, SMB, many cluster home folders). Across nodes only rank 0's node opens the store file; other
nodes write (and read) only their own shards. Put the run directory on a local disk, or keep only
rank 0's node's store there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from judgelab.errors import DataError
from judgelab.models.devices import dist_rank

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
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

# SQLite's default limit on bound parameters is 999 in old builds; stay well under it.
_CHUNK = 500
_OPEN_TRIES = 50


def stable_hash(obj: Any) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def shard_path(path: str | Path, rank: int) -> Path:
    """Rank ``rank``'s shard of the store at ``path``: ``judgments.sqlite`` -> ``judgments.rank1.sqlite``."""
    p = Path(path)
    return p.with_name(f"{p.stem}.rank{rank}{p.suffix}")


def _shard_lock(shard: Path) -> Path:
    return shard.with_name(f".{shard.name}.lock")


def _is_locked(e: sqlite3.OperationalError) -> bool:
    msg = str(e).lower()
    return "locked" in msg or "busy" in msg


class JudgmentStore:
    """Verdicts by key, shared safely between threads and processes.

    ``get``/``get_many`` return the verdict dicts written by ``put``/``put_many``.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0):
        self.path = Path(path)
        self.timeout_s = timeout_s
        if self.path.exists() and self.path.is_dir():
            raise DataError("judgment store path is a directory", where=str(self.path), hint="give a .sqlite file path")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self.hits = 0
        self.misses = 0
        self.writes = 0
        rank, local_rank, world = dist_rank()
        # Rank r > 0 of a launched job writes its own shard (one writer per file); see the module doc.
        self.write_path = shard_path(self.path, rank) if world > 1 and rank > 0 else self.path
        self._reads_store = self.write_path != self.path and rank == local_rank  # on rank 0's node
        self._table = "judgments"
        self._shard_fd: int | None = None
        if self.write_path != self.path:
            self._hold_shard()
        self._connect()
        self.merged = self._merge_shards() if world == 1 else 0

    def _hold_shard(self) -> None:
        """Hold this rank's shard lock, shared (several stores of one rank may be open), while the
        store is open: a merge takes it exclusively, so it skips a shard still being written."""
        fd = os.open(_shard_lock(self.write_path), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._shard_fd = fd

    def _merge_shards(self) -> int:
        """Copy the rank shards beside the store into it (first verdict per key wins), then delete
        them; a shard whose writer still has it open is left for a later open. Returns rows added."""
        pattern = re.compile(rf"{re.escape(self.path.stem)}\.rank\d+{re.escape(self.path.suffix)}")
        added = 0
        for shard in sorted(self.path.parent.glob(f"{self.path.stem}.rank*{self.path.suffix}")):
            if not pattern.fullmatch(shard.name):
                continue
            fd = os.open(_shard_lock(shard), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    log.info("judgment store shard %s is still being written; merged later", shard)
                    continue
                added += self._merge_one(shard)
                for f in (shard, shard.with_name(shard.name + "-wal"), shard.with_name(shard.name + "-shm")):
                    f.unlink(missing_ok=True)
            finally:
                os.close(fd)
        if added:
            log.info("judgment store %s: merged %d verdicts from rank shards", self.path, added)
        return added

    def _merge_one(self, shard: Path) -> int:
        with self._lock:
            c = self._c()
            c.execute("ATTACH DATABASE ? AS shard", (str(shard),))
            try:
                if not c.execute("SELECT 1 FROM shard.sqlite_master WHERE type='table' AND name='judgments'").fetchone():
                    return 0
                c.execute("BEGIN IMMEDIATE")
                try:
                    before = c.total_changes
                    c.execute("INSERT OR IGNORE INTO main.judgments(key, judge, mode, item_id, verdict, created_at) "
                              "SELECT key, judge, mode, item_id, verdict, created_at FROM shard.judgments "
                              "ORDER BY created_at, key")
                    n = c.total_changes - before
                    c.execute("COMMIT")
                except BaseException:
                    c.execute("ROLLBACK")
                    raise
            finally:
                c.execute("DETACH DATABASE shard")
        return n

    def _attach_store(self, conn: sqlite3.Connection) -> None:
        """A shard's connection also reads the run's store file (rank 0's), through a view."""
        self._table = "judgments"
        if not (self._reads_store and self.path.exists()):
            return
        conn.execute("ATTACH DATABASE ? AS run_store", (str(self.path),))
        if conn.execute("SELECT 1 FROM run_store.sqlite_master WHERE type='table' AND name='judgments'").fetchone():
            # The store's verdict first: after the merge it is the one kept (first verdict wins).
            conn.execute("CREATE TEMP VIEW IF NOT EXISTS all_judgments AS SELECT * FROM run_store.judgments UNION ALL "
                         "SELECT * FROM main.judgments WHERE key NOT IN (SELECT key FROM run_store.judgments)")
            self._table = "all_judgments"
        else:  # rank 0 is creating it this very moment: this rank reads its shard only
            conn.execute("DETACH DATABASE run_store")

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """Open (or reopen after a fork) the connection and make sure the schema exists."""
        deadline = time.monotonic() + self.timeout_s
        delay = 0.005
        for attempt in range(_OPEN_TRIES):
            try:
                conn = sqlite3.connect(
                    str(self.write_path), timeout=self.timeout_s, check_same_thread=False, isolation_level=None
                )
            except sqlite3.Error as e:
                raise DataError(f"cannot open judgment store: {e}", where=str(self.write_path)) from e
            try:
                conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
                # Switching to WAL needs an exclusive moment; under contention SQLite may answer
                # "locked" at once instead of waiting, hence the retry loop around the whole open.
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    log.warning("judgment store %s: journal_mode is %s, not wal", self.write_path, mode)
                conn.execute("PRAGMA synchronous=NORMAL")  # durable across a process kill in WAL mode
                self._init_schema(conn)
                if self.write_path != self.path:
                    self._attach_store(conn)
            except sqlite3.DatabaseError as e:
                conn.close()
                if isinstance(e, sqlite3.OperationalError) and _is_locked(e) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.2)
                    continue
                raise DataError(
                    f"not a usable judgment store ({e})",
                    where=str(self.write_path),
                    hint="point the store at a new file, or delete this one if it is not needed",
                ) from e
            self._conn, self._pid = conn, os.getpid()
            if attempt:
                log.debug("judgment store %s opened after %d retries", self.path, attempt)
            return conn
        raise DataError("judgment store stayed locked while opening", where=str(self.path))

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        # One IMMEDIATE transaction (not executescript, which commits on its own) so two
        # processes creating the store at once cannot both insert a schema version.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                conn.execute(stmt)
            row = conn.execute("SELECT value FROM store_meta WHERE name='schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO store_meta(name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                found = SCHEMA_VERSION
            else:
                found = int(row[0])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if found != SCHEMA_VERSION:
            raise DataError(
                f"judgment store has schema version {found}, this judgelab reads version {SCHEMA_VERSION}",
                where=str(self.path),
                hint="use a judgelab version that matches, or point the store at a new file",
            )

    def _c(self) -> sqlite3.Connection:
        """The connection for this process (callers hold ``self._lock``)."""
        if self._conn is None:
            if self._pid == -2:
                raise DataError("judgment store is closed", where=str(self.path))
            return self._connect()
        if self._pid != os.getpid():
            # Forked child: the inherited connection belongs to the parent; never touch it
            # (closing it could corrupt the parent's locks), just open our own.
            self._conn = None
            return self._connect()
        return self._conn

    @property
    def schema_version(self) -> int:
        with self._lock:
            row = self._c().execute("SELECT value FROM store_meta WHERE name='schema_version'").fetchone()
        return int(row[0])

    # -- reads --------------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._c().execute(f"SELECT verdict FROM {self._table} WHERE key=?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Verdicts for those of ``keys`` that are stored (missing keys are absent)."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            c = self._c()
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                q = f"SELECT key, verdict FROM {self._table} WHERE key IN ({','.join('?' * len(chunk))})"
                for k, blob in c.execute(q, chunk):
                    out[k] = json.loads(blob)
        self.hits += len(out)
        self.misses += len(wanted) - len(out)
        return out

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return self._c().execute(f"SELECT 1 FROM {self._table} WHERE key=?", (key,)).fetchone() is not None

    def count(self, judge: str | None = None) -> int:
        with self._lock:
            if judge is None:
                return self._c().execute(f"SELECT COUNT(*) FROM {self._table}").fetchone()[0]
            return self._c().execute(f"SELECT COUNT(*) FROM {self._table} WHERE judge=?", (judge,)).fetchone()[0]

    def rows(self, judge: str | None = None) -> Iterator[dict[str, Any]]:
        """All rows (key, judge, mode, item_id, verdict dict, created_at), oldest first."""
        q = f"SELECT key, judge, mode, item_id, verdict, created_at FROM {self._table}"
        args: tuple[Any, ...] = ()
        if judge is not None:
            q, args = q + " WHERE judge=?", (judge,)
        with self._lock:
            fetched = self._c().execute(q + " ORDER BY created_at, key", args).fetchall()
        for k, j, m, iid, blob, t in fetched:
            yield {"key": k, "judge": j, "mode": m, "item_id": iid, "verdict": json.loads(blob), "created_at": t}

    # -- writes -------------------------------------------------------------------------------

    def put(self, key: str, verdict: dict[str, Any], *, judge: str, mode: str, item_id: str) -> bool:
        """Store one verdict (committed before returning). Returns False when ``key`` was already
        stored (the first verdict is kept)."""
        blob = json.dumps(verdict, ensure_ascii=False)
        with self._lock:
            cur = self._c().execute(
                "INSERT OR IGNORE INTO judgments(key, judge, mode, item_id, verdict, created_at) VALUES (?,?,?,?,?,?)",
                (key, judge, mode, item_id, blob, time.time()),
            )
            inserted = cur.rowcount == 1
        if inserted:
            self.writes += 1
        return inserted

    def put_many(self, rows: Iterable[tuple[str, dict[str, Any], str, str, str]]) -> int:
        """Store (key, verdict, judge, mode, item_id) rows in one transaction; returns how many
        were new."""
        now = time.time()
        data = [(k, j, m, iid, json.dumps(v, ensure_ascii=False), now) for k, v, j, m, iid in rows]
        with self._lock:
            c = self._c()
            c.execute("BEGIN IMMEDIATE")
            try:
                before = c.total_changes
                c.executemany(
                    "INSERT OR IGNORE INTO judgments(key, judge, mode, item_id, verdict, created_at) VALUES (?,?,?,?,?,?)",
                    data,
                )
                n = c.total_changes - before
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        self.writes += n
        return n

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn, self._pid = None, -2
            if self._shard_fd is not None:
                os.close(self._shard_fd)  # releases the shard's lock: a merge may take it now
                self._shard_fd = None

    def __enter__(self) -> "JudgmentStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Picklable (multiprocessing spawn): the child reopens the same file.
        return {"path": str(self.path), "timeout_s": self.timeout_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], timeout_s=state["timeout_s"])  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"JudgmentStore({str(self.path)!r})"


def merge_shards(path: str | Path) -> int:
    """Merge the rank shards of the store at ``path`` into it (returns the verdicts added): in a plain
    process opening the store does it; on rank 0 of a launched job call this after a barrier."""
    with JudgmentStore(path) as store:
        if store.write_path != store.path:
            return 0  # rank r > 0: rank 0 merges
        return store.merged or store._merge_shards()
