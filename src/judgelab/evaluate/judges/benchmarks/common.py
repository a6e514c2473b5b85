"""Shared parts of the public judge benchmarks: reading their files, detecting their format,
asking a judge for scores or verdicts, and the result/table shape.

Reads a benchmark's rows from a local ``.jsonl`` / ``.json`` (JSON array or JSONL) / ``.parquet``
file, from a folder written by ``datasets.Dataset[Dict].save_to_disk``, or from a Hugging Face
dataset snapshot folder (``huggingface_hub.snapshot_download``: ``data/<split>-00000-of-00001.parquet``
and friends). Writes nothing; ``judgelab.evaluate.judges.benchmarks.run.evaluate_benchmark`` writes the results.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgelab.errors import DataError
from judgelab.judges.base import Judge
from judgelab.judges.types import FLIP, PairwiseItem, PointwiseItem, Verdict
from judgelab.progress import progress_bar

NEG_INF = float("-inf")
DATA_SUFFIXES = (".parquet", ".jsonl", ".json")
# `datasets` split file names in a hub snapshot: data/test-00000-of-00001.parquet,
# data/train-00000-of-00002-<hash>.parquet.
_SHARD = re.compile(r"^(?P<split>.+?)-\d{5}-of-\d{5}")


@dataclass
class Table:
    """Rows of one benchmark file (or one split of a dataset folder)."""

    rows: list[dict[str, Any]]
    where: str  # the file or folder, for error messages
    split: str | None = None
    sources: list[str] | None = None  # per row, the stem of the file it came from (None: a saved dataset)

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for row in self.rows[:50]:
            seen.update(dict.fromkeys(row))
        return list(seen)


# --------------------------------------------------------------------------- reading


def read_table(path: str | Path, split: str | None = None) -> Table:
    """Rows of a benchmark file or dataset folder (see the module docstring)."""
    p = Path(path)
    if not p.exists():
        raise DataError("benchmark data not found", where=str(p),
                        hint="give a .jsonl/.json/.parquet file, a save_to_disk folder or a dataset snapshot folder")
    if p.is_dir():
        if any((p / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
            return _read_saved_dataset(p, split)
        return _read_snapshot(p, split)
    if split is not None:
        raise DataError(f"--split '{split}' only applies to dataset folders", where=str(p), hint="drop --split for a single file")
    rows = _read_file(p)
    return Table(rows, str(p), sources=[p.stem] * len(rows))


def _read_saved_dataset(p: Path, split: str | None) -> Table:
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(str(p))
    except Exception as exc:  # datasets raises FileNotFoundError / ValueError variants
        raise DataError(f"not a readable save_to_disk folder ({type(exc).__name__}: {exc})", where=str(p)) from None
    if isinstance(ds, DatasetDict):
        name = _pick_split(list(ds), split, str(p))
        return Table(ds[name].to_list(), str(p), name)
    if split is not None and split != getattr(ds, "split", None):
        raise DataError(f"--split '{split}' given but the folder holds one dataset, not a DatasetDict", where=str(p),
                        hint="drop --split")
    return Table(ds.to_list(), str(p), None)


def _read_snapshot(p: Path, split: str | None) -> Table:
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in DATA_SUFFIXES
                   and not any(part.startswith(".") for part in f.relative_to(p).parts)
                   and f.name not in ("dataset_info.json", "dataset_infos.json"))
    if not files:
        raise DataError("no .parquet/.jsonl/.json data files in this folder", where=str(p),
                        hint="give a benchmark file, a save_to_disk folder or a dataset snapshot folder")
    by_split: dict[str, list[Path]] = {}
    for f in files:
        m = _SHARD.match(f.stem)
        by_split.setdefault(m.group("split") if m else f.stem, []).append(f)
    name = _pick_split(list(by_split), split, str(p))
    rows: list[dict[str, Any]] = []
    sources: list[str] = []
    for f in by_split[name]:
        got = _read_file(f)
        rows += got
        sources += [f.stem] * len(got)
    return Table(rows, str(p), name, sources)


def _pick_split(names: list[str], split: str | None, where: str) -> str:
    if split is not None:
        if split not in names:
            raise DataError(f"split '{split}' not in this dataset", where=where, hint=f"splits: {', '.join(sorted(names))}")
        return split
    if len(names) == 1:
        return names[0]
    raise DataError("this dataset has several splits", where=where, hint=f"pass --split, one of: {', '.join(sorted(names))}")


def _read_file(p: Path) -> list[dict[str, Any]]:
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(p).to_pylist()
        except Exception as exc:  # pyarrow.ArrowInvalid and friends
            raise DataError(f"not a readable Parquet file ({exc})", where=str(p)) from None
    if p.suffix not in (".jsonl", ".json"):
        raise DataError(f"unsupported file type '{p.suffix}'", where=str(p), hint="use .jsonl, .json, .parquet or a dataset folder")
    try:
        text = p.read_text(encoding="utf-8-sig")  # a leading byte-order mark (Windows editors) is not data
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                        where=f"{p}:{line}", hint="benchmark files are UTF-8 JSON/JSONL or Parquet") from None
    if p.suffix == ".json":
        # RM-Bench ships JSON arrays (data/total_dataset.json); fall back to JSONL for '.json' lines.
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, list):
            return [_as_row(r, str(p), i) for i, r in enumerate(data)]
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(_as_row(json.loads(line), f"{p}:{i}", None))
        except json.JSONDecodeError as exc:
            raise DataError(f"not JSON ({exc.msg})", where=f"{p}:{i}", hint="one JSON object per line") from None
    return rows


def _as_row(obj: Any, where: str, index: int | None) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise DataError(f"expected a JSON object, got {type(obj).__name__}", where=where if index is None else f"{where}[{index}]")
    return obj


# --------------------------------------------------------------------------- row helpers


def row_where(table: Table, i: int, row: dict[str, Any], id_key: str = "id") -> str:
    rid = row.get(id_key)
    return f"{table.where} row {i + 1}" + (f" ({id_key}={rid})" if rid is not None else "")  # 1-based, as editors count


def as_text(value: Any, what: str, where: str) -> str:
    """A string, or chat messages (the last user/assistant turn's content)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
        return str(value[-1]["content"])
    raise DataError(f"'{what}' must be a string or a list of {{role, content}} messages, got {type(value).__name__}", where=where)


def as_text_list(value: Any, what: str, where: str, *, length: int | None = None) -> list[str]:
    if not isinstance(value, (list, tuple)) or not value:
        raise DataError(f"'{what}' must be a non-empty list of responses, got {type(value).__name__}", where=where)
    if length is not None and len(value) != length:
        raise DataError(f"'{what}' must hold exactly {length} responses, has {len(value)}", where=where)
    return [as_text(v, what, where) for v in value]


def checked_rows(table: Table, needed: Sequence[str], benchmark: str, id_key: str = "id") -> Iterator[tuple[int, dict[str, Any], str]]:
    """(index, row, where) of each row of ``table``, once its ``needed`` columns are checked."""
    require_columns(table, needed, benchmark)
    for i, row in enumerate(table.rows):
        yield i, row, row_where(table, i, row, id_key)


def require_columns(table: Table, needed: Sequence[str], benchmark: str) -> None:
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise DataError(f"not in {benchmark} format: missing column(s) {', '.join(missing)}", where=table.where,
                        hint=f"columns found: {', '.join(table.columns) or 'none'}")


# --------------------------------------------------------------------------- asking the judge


def score_of(v: Verdict) -> float:
    """A verdict's score; an unparsed/failed verdict ranks below every parsed one (-inf), so a
    row whose responses all failed ties them all (RewardBench 2's generative script counts an
    unparseable row as a 4-way tie, 0.25, too)."""
    return float(v.score) if v.ok and v.score is not None else NEG_INF


async def ascore(judge: Judge, items: list[PointwiseItem], desc: str) -> list[Verdict]:
    with progress_bar(len(items), desc) as advance:
        return await judge.ajudge(items, on_result=lambda v: advance(1))


async def score_rows(judge: Judge, items: list[PointwiseItem], sizes: list[int], desc: str) -> tuple[list[list[float]], list[Verdict]]:
    """Scores of every row's responses (``items``: row after row, ``sizes[r]`` of row r) and the verdicts."""
    verdicts = await ascore(judge, items, desc)
    scores, k = [], 0
    for n in sizes:
        scores.append([score_of(v) for v in verdicts[k:k + n]])
        k += n
    return scores, verdicts


async def ajudge_both_orders(judge: Judge, items: list[PairwiseItem], desc: str) -> tuple[list[Verdict], list[Verdict]]:
    """Verdicts with the dataset's order (A first) and with A and B swapped."""
    with progress_bar(2 * len(items), desc) as advance:
        ab = await judge.ajudge(items, on_result=lambda v: advance(1))
        ba = await judge.ajudge([it.swapped() for it in items], on_result=lambda v: advance(1))
    return ab, ba


def unswapped(v: Verdict) -> str | None:
    """The preference of a swapped-order verdict, in the original order (None if unparsed)."""
    return FLIP[v.preference] if v.ok and v.preference else None


def require_pointwise(judge: Judge, benchmark: str) -> None:
    from judgelab.errors import JudgelabError
    from judgelab.judges.base import probe_mode_for

    if probe_mode_for(judge) != "pointwise":
        raise JudgelabError(f"{benchmark} ranks responses by their scores, but judge '{judge.name}' only answers "
                            f"{'/'.join(judge.modes)}", where="--judge", hint="use a judge that scores (pointwise mode)")


# --------------------------------------------------------------------------- numbers


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def rate(num: float, den: int) -> float | None:
    return num / den if den else None


def np_div(a: float, b: float) -> float:
    """a / b with numpy's float semantics (x/0 = ±inf, 0/0 = nan), as the peers' numpy code gets."""
    if b == 0 or math.isnan(b):
        if math.isnan(a) or a == 0 or math.isnan(b):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def np_min(a: float, b: float) -> float:
    """numpy.minimum: nan propagates (Python's min depends on argument order with nan)."""
    return math.nan if math.isnan(a) or math.isnan(b) else min(a, b)


def fmt(x: Any) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.3f}"
    return str(x)


def json_safe(obj: Any) -> Any:
    """NaN/inf are not JSON: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


TableRows = list[tuple[str, str, str]]
RowsFn = Callable[[dict[str, Any]], TableRows]
