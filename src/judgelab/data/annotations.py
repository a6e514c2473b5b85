"""Reading a run's gold annotations: the labelled rows of ``annotations/pairs.jsonl``
(``PairAnnotation``) and ``annotations/points.jsonl`` (``PointAnnotation``), optionally one split.

Used by judge training (its training data) and judge evaluation (its held-out gold). Rows are
type-checked on load (a malformed row is a DataError naming file and line); rows the gold judge
failed on (no label, no score) are skipped; a row repeated by a resumed ``annotate`` run counts
once, its last version. A missing file reads as no rows. Reads only; writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from judgelab.data.jsonl import iter_jsonl
from judgelab.data.records import PairAnnotation, PointAnnotation
from judgelab.data.rundir import RunDir

A = TypeVar("A", PairAnnotation, PointAnnotation)


def _latest(path: Path, record: type[A], keep: Callable[[A], bool]) -> list[A]:
    """The rows of ``path`` that ``keep`` accepts, one per id (the last one written wins)."""
    if not path.exists():
        return []
    out: dict[str, A] = {}
    for i, d in iter_jsonl(path):
        row = record.from_dict(d, where=f"{path}:{i}")
        if keep(row):
            out[row.id] = row
    return list(out.values())


def read_pairs(run_dir: str | Path, split: str | None = None) -> list[PairAnnotation]:
    """Gold pair annotations with a label (failed rows skipped), optionally one split."""
    return _latest(RunDir(run_dir).pairs, PairAnnotation,
                   lambda p: p.label in ("A", "B", "tie") and (split is None or p.split == split))


def read_points(run_dir: str | Path, split: str | None = None) -> list[PointAnnotation]:
    """Gold point annotations with a score (failed rows skipped), optionally one split."""
    return _latest(RunDir(run_dir).points, PointAnnotation,
                   lambda p: p.score is not None and (split is None or p.split == split))
