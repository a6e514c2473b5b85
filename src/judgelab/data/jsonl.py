"""JSONL reading/writing with errors that name file and line, and crash-safe appends."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from judgelab.errors import DataError


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_number, object) for each non-blank line; bad lines raise DataError naming file:line."""
    p = Path(path)
    if not p.exists():
        raise DataError("file not found", where=str(p), hint="check the path")
    with p.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
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
    out = []
    with p.open("r", encoding="utf-8") as fh:
        lines = fh.readlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # torn final write from a killed process
            raise DataError("malformed JSON", where=f"{p}:{i + 1}") from None
    return out


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    """Write atomically: a crash leaves either the old file or the new one."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)


def append_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows and fsync, so a killed process loses at most the rows not yet written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
