"""Finding and reading a run's result files for the report. A report is built from whatever a run
has, so nothing here raises on a missing or broken file: a result file is read through its typed
model (``ResultFile.read``), and one that does not validate comes back as ``Unreadable`` (logged),
which its section names instead of guessing at its content. JSONL logs and samples are read
row by row, torn lines skipped.

Reads (never writes): ``run.json``, typed result files below ``eval/`` and ``policies/``, a policy's
training log ``policies/<name>/log.jsonl`` and sample files ``eval/policies/<name>/samples-step-N.jsonl``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from judgelab.data.results import ResultFile
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError

log = logging.getLogger(__name__)

R = TypeVar("R", bound=ResultFile)


@dataclass(frozen=True)
class Unreadable:
    """A result file the report cannot use (torn, another schema, a malformed field), and why;
    its section says so instead of showing it."""

    path: Path
    problem: str
    hint: str | None = None


def read_result(cls: type[R], path: Path) -> R | Unreadable | None:
    """``path`` read as a ``cls`` result file; None when there is no such file."""
    if not path.exists():
        return None
    try:
        return cls.read(path)
    except DataError as exc:
        log.warning("report leaves out %s", exc)
        return Unreadable(path, exc.what, exc.hint)


def find_results(cls: type[R], rd: RunDir, pattern: str, skip: Path | None = None) -> list[tuple[Path, R | Unreadable]]:
    """Every file below ``RUN/eval/`` whose name matches ``pattern`` (``skip`` not read), read as ``cls``, by path."""
    if not rd.eval_dir.is_dir():
        return []
    found: list[tuple[Path, R | Unreadable]] = []
    for f in sorted(rd.eval_dir.rglob(pattern)):
        if skip is not None and f.resolve() == skip.resolve():
            continue
        r = read_result(cls, f)
        if r is not None:
            found.append((f, r))
    return found


def as_dict(x: Any) -> dict[str, Any]:
    """``x`` if it is a dict, else an empty one (a field of a file that may hold anything)."""
    return x if isinstance(x, dict) else {}


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path`` if the file exists and holds one, else None (logged if unreadable):
    for files that have no typed model (``run.json``)."""
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("skipping unreadable %s: %s", path, exc)
        return None
    return d if isinstance(d, dict) else None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file; torn lines skipped, a missing file gives no rows."""
    rows = []
    try:
        for line in path.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line of a killed run
    except OSError:
        pass
    return rows


def train_curve(rd: RunDir, name: str) -> tuple[list[int], list[float]]:
    """A policy's training reward per step, from its ``log.jsonl``."""
    rows = [r for r in read_jsonl(rd.policy_dir(name) / "log.jsonl") if "reward" in r and "step" in r]
    return [int(r["step"]) for r in rows], [float(r["reward"]) for r in rows]
