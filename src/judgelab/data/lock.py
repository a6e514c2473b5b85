"""One writer per output: an advisory lock (``fcntl.flock``) on a small lock file beside what a
stage writes.

Why: two processes appending to one ``responses.jsonl`` / ``pairs.jsonl`` or replacing one
verdicts file interleave rows, judge everything twice and race on the final rewrite. With the
lock the second process stops at once with a one-line ``BusyError`` (CLI exit 2) that names the
output, the holder's pid and what to do; once the holder is done, rerunning answers everything
from the judgment store (cache hits, nothing judged twice).

Reads/writes ``<folder>/.<name>.lock`` (holds the pid and start time of the writer, for the
message; the lock itself is the flock, which the kernel drops when its holder dies, so a killed
writer never leaves a stale lock). Inside one process the lock is re-entrant (``judgelab run``
calls stages that take it in turn; a nested call on the same output passes through).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from judgelab.errors import DataError, JudgelabError

_held: dict[str, int] = {}  # lock path -> depth, for this process
_guard = threading.Lock()


class BusyError(JudgelabError):
    """Another process is writing the same output."""


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of an output file or folder: ``.<name>.lock`` beside it."""
    p = Path(output).absolute()
    return p.with_name(f".{p.name}.lock")


def _holder(path: Path) -> str:
    """Who holds the lock, for the message. The holder writes its pid just after locking, so a
    read in that instant finds the file empty: look again for a moment."""
    for _ in range(20):
        try:
            text = path.read_text(encoding="utf-8").split()
        except OSError:
            break
        if len(text) >= 2 and text[0].isdigit():
            started = time.strftime("%H:%M:%S", time.localtime(float(text[1])))
            return f"process {text[0]} (since {started})"
        time.sleep(0.01)
    return "another process"


@contextlib.contextmanager
def writer_lock(output: str | os.PathLike, what: str, hint: str | None = None) -> Iterator[None]:
    """Hold the one-writer lock of ``output`` (a file or a folder) for the block, or raise
    BusyError at once when another process holds it. ``what`` names the output in the message."""
    path = lock_path(output)
    key = str(path)
    with _guard:
        if _held.get(key):
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                _held[key] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a file in the way, /proc, no permission: bad input, not a crash
        raise DataError(f"cannot write {what} here: {exc.strerror or exc}", where=str(Path(output)),
                        hint="give a path in a folder you can write to") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(
                f"{what} is being written by {_holder(path)}",
                where=str(Path(output)),
                hint=hint or "wait for it to finish and rerun (finished work is reused), or write elsewhere",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {time.time():.0f}\n".encode(), 0)
        with _guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _guard:
                _held.pop(key, None)
            # The lock file stays (unlinking it would let a third process lock a new inode while a
            # second still waits on the old one); only the flock is released.
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
