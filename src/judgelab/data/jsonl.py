"""JSONL reading/writing with errors that name file and line, and crash-safe appends.

Crash safety: ``write_jsonl`` replaces a file atomically (a private temp file per writer, then
``os.replace``: two processes writing the same output never see each other's temp file, the last
complete write wins); ``append_jsonl`` fsyncs each batch and, before appending, cuts a torn last
line left by a killed writer (so a new row is never glued onto half an old one); the tolerant
reader skips such a torn last line. Every reader names file:line (and the byte offset for bytes
that are not UTF-8) and ignores a UTF-8 byte-order mark at the start of the file.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from judgelab.errors import DataError

log = logging.getLogger(__name__)


_BOM = "\ufeff"


def _decode(raw: bytes, first: bool) -> str:
    """A line's text; the first line loses a UTF-8 byte-order mark (editors on Windows write one, and
    json.loads refuses it)."""
    text = raw.decode("utf-8")
    return text.removeprefix(_BOM) if first else text


def _lines(p: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file (a leading BOM dropped); a line that is not UTF-8 is a DataError naming it."""
    offset = 0
    with p.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                yield lineno, _decode(raw, lineno == 1)
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte offset {offset + exc.start} of the file)",
                                where=f"{p}:{lineno}", hint="save the file as UTF-8") from None
            offset += len(raw)


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_number, object) for each non-blank line; bad lines raise DataError naming file:line."""
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", where=str(p), hint="check the path")
    for lineno, line in _lines(p):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"malformed JSON ({exc.msg} at column {exc.colno})",
                where=f"{p}:{lineno}",
                hint="each line must be one JSON object",
            ) from None
        if not isinstance(obj, dict):
            raise DataError(
                f"expected a JSON object, got {type(obj).__name__}",
                where=f"{p}:{lineno}",
                hint="each line must be one JSON object",
            )
        yield lineno, obj



def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path)]


def read_jsonl_tolerant(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a file this project appends to; a torn last line (crash mid-write) is dropped."""
    p = Path(path)
    if not p.exists():
        return []
    with p.open("rb") as fh:
        raw_lines = fh.readlines()  # split on b"\n" only, like the writers
    out = []
    offset = 0
    for i, raw in enumerate(raw_lines):
        last = i == len(raw_lines) - 1
        try:
            line = _decode(raw, i == 0)
        except UnicodeDecodeError as exc:
            if last and not raw.endswith(b"\n"):
                break  # a write cut inside a multi-byte character: torn, like any cut line
            raise DataError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte offset {offset + exc.start} of the file)",
                            where=f"{p}:{i + 1}", hint="save the file as UTF-8") from None
        offset += len(raw)
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if last:
                break  # torn final write from a killed process
            raise DataError("malformed JSON", where=f"{p}:{i + 1}") from None
    return out


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    """Write atomically: a crash leaves either the old file or the new one."""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Replace ``path`` with ``text`` atomically, through a temp file private to this writer (two
    processes writing the same output never trip over each other's temp file; the last wins)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def cut_torn_tail(path: str | os.PathLike) -> int:
    """If the file's last line has no newline (a write cut short by a crash), truncate it away
    (a last line that is a whole JSON object only gets its newline); returns the bytes removed."""
    p = Path(path)
    if not p.exists():
        return 0
    with p.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # scan back for the last newline (in blocks: a torn line can be long)
        pos, keep = size, 0
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            i = block.rfind(b"\n")
            if i >= 0:
                keep = pos + i + 1
                break
        fh.seek(keep)
        tail = fh.read(size - keep)
        try:  # a complete row that only lost its newline is kept
            whole = isinstance(json.loads(_decode(tail, keep == 0)), dict)
        except (UnicodeDecodeError, json.JSONDecodeError):
            whole = False
        if whole:
            fh.seek(size)
            fh.write(b"\n")
        else:
            fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    if whole:
        return 0
    log.warning("%s: cut a torn last line (%d bytes) left by an interrupted write", p, size - keep)
    return size - keep


def append_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows and fsync, so a killed process loses at most the rows not yet written. A torn
    last line from an earlier crash is cut first (``cut_torn_tail``)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    cut_torn_tail(p)
    with p.open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
