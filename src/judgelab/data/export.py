"""Export gold annotations to training formats, and import external preference datasets.

Reads ``annotations/pairs.jsonl`` / ``annotations/points.jsonl`` of a run directory; writes
Parquet, JSONL, or a Hugging Face ``datasets`` folder (``save_to_disk``) with the columns TRL 1.16
expects:

- preferences (RewardTrainer / DPOTrainer): ``prompt``, ``chosen``, ``rejected``. In the default
  conversational format ``prompt`` is ``[{"role": "user", ...}]`` and ``chosen``/``rejected`` are
  ``[{"role": "assistant", ...}]`` (TRL concatenates prompt + chosen and applies the chat
  template); in the standard format all three are plain strings. Ties and unlabelled pairs are
  dropped by default. No ``margin`` column is written: RewardTrainer would use it in its loss.
- scores: ``prompt``, ``completion`` (same two formats), ``score``.

Metadata columns (ids, family, split, label...) ride along; trainers ignore them.

Import: a JSONL / Parquet / HF-folder dataset in chosen/rejected format becomes PairAnnotation
rows with the chosen response as A and ``label='A'``.
"""

from __future__ import annotations

import json
import math
import logging
from pathlib import Path
from typing import Any, Literal

from judgelab.data.jsonl import iter_jsonl, read_jsonl_tolerant, write_jsonl
from judgelab.data.records import PairAnnotation, PointAnnotation
from judgelab.data.rundir import RunDir, writable_dir
from judgelab.data.store import stable_hash
from judgelab.errors import DataError

log = logging.getLogger(__name__)

Format = Literal["parquet", "jsonl", "hf"]
FORMATS = ("parquet", "jsonl", "hf")


# ---------------------------------------------------------------------------------------------
# annotations -> rows


def load_pairs(run_dir: str | Path) -> list[PairAnnotation]:
    path = RunDir(run_dir).pairs
    return [PairAnnotation.from_dict(r, where=f"{path}:{i}") for i, r in enumerate(read_jsonl_tolerant(path), start=1)]


def load_points(run_dir: str | Path) -> list[PointAnnotation]:
    path = RunDir(run_dir).points
    return [PointAnnotation.from_dict(r, where=f"{path}:{i}") for i, r in enumerate(read_jsonl_tolerant(path), start=1)]


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def preference_rows(
    pairs: list[PairAnnotation], *, drop_ties: bool = True, conversational: bool = True
) -> list[dict[str, Any]]:
    """Pairs -> TRL preference rows. Ties are dropped (or kept with chosen=A, flagged ``label='tie'``,
    when ``drop_ties`` is False); pairs without a label (failed) are always dropped."""
    out = []
    for p in pairs:
        if p.label not in ("A", "B", "tie"):
            continue
        if p.label == "tie" and drop_ties:
            continue
        a_wins = p.label != "B"
        chosen, rejected = (p.response_a, p.response_b) if a_wins else (p.response_b, p.response_a)
        out.append(
            {
                "prompt": _user(p.prompt) if conversational else p.prompt,
                "chosen": _assistant(chosen) if conversational else chosen,
                "rejected": _assistant(rejected) if conversational else rejected,
                "id": p.id,
                "prompt_id": p.prompt_id,
                "chosen_id": p.response_a_id if a_wins else p.response_b_id,
                "rejected_id": p.response_b_id if a_wins else p.response_a_id,
                "label": p.label,
                "consistent": p.consistent,
                "family": p.family,
                "split": p.split,
                "judge": p.judge,
            }
        )
    return out


def score_rows(points: list[PointAnnotation], *, conversational: bool = True) -> list[dict[str, Any]]:
    """Points with a score -> TRL prompt/completion rows with a ``score`` column."""
    return [
        {
            "prompt": _user(p.prompt) if conversational else p.prompt,
            "completion": _assistant(p.response) if conversational else p.response,
            "score": float(p.score),
            "id": p.id,
            "prompt_id": p.prompt_id,
            "response_id": p.response_id,
            "family": p.family,
            "split": p.split,
            "judge": p.judge,
        }
        for p in points
        if p.score is not None
    ]


def to_dataset(rows: list[dict[str, Any]]):  # -> datasets.Dataset
    """Rows -> an in-memory ``datasets.Dataset`` (column types inferred by Arrow)."""
    from datasets import Dataset

    if not rows:
        return Dataset.from_dict({})
    return Dataset.from_list(rows)


def _finite(x: Any) -> Any:
    """NaN and infinities as None (JSON has no NaN: json.dumps would write an invalid bare NaN)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def write_rows(rows: list[dict[str, Any]], path: str | Path, fmt: Format) -> Path:
    """Write rows as ``path`` (.parquet / .jsonl file, or an HF dataset folder for ``hf``); a
    non-finite number is written as null."""
    p = Path(path)
    rows = [_finite(r) for r in rows]
    if fmt == "jsonl":
        write_jsonl(p, rows)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        p.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), p)
    elif fmt == "hf":
        to_dataset(rows).save_to_disk(str(p))
    else:
        raise DataError(f"unknown export format '{fmt}'", hint=f"use one of: {', '.join(FORMATS)}")
    return p


def export_run(
    run_dir: str | Path,
    out: str | Path,
    fmt: Format = "parquet",
    *,
    drop_ties: bool = True,
    conversational: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export a run's annotations into the folder ``out``: ``preferences.<ext>`` and
    ``scores.<ext>`` (for ``hf``: folders ``preferences/`` and ``scores/``). Returns a summary."""
    if fmt not in FORMATS:
        raise DataError(f"unknown export format '{fmt}'", where="--format", hint=f"use one of: {', '.join(FORMATS)}")
    rd = RunDir(run_dir)
    if not rd.pairs.exists() and not rd.points.exists():
        raise DataError(
            "no annotations found", where=str(rd.annotations_dir), hint="run `judgelab annotate --run DIR` first"
        )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError("--out is an existing file; export writes a folder (preferences.* and scores.*)",
                        where=str(out), hint="give a folder path")
    ext = {"parquet": ".parquet", "jsonl": ".jsonl", "hf": ""}[fmt]
    targets = [out / f"{n}{ext}" for n, src in (("preferences", rd.pairs), ("scores", rd.points)) if src.exists()]
    existing = [t for t in targets if t.exists()]
    if existing and not overwrite:
        raise DataError(f"{', '.join(t.name for t in existing)} already exist(s) in the output folder", where=str(out),
                        hint="pass --overwrite to replace, or give another --out")
    writable_dir(out, "--out")  # before anything is read or replaced
    if existing and fmt == "hf":
        import shutil

        for t in existing:  # save_to_disk refuses a non-empty folder
            shutil.rmtree(t) if t.is_dir() else t.unlink()
    summary: dict[str, Any] = {"format": fmt, "out": str(out), "conversational": conversational}
    if rd.pairs.exists():
        pairs = load_pairs(rd.root)
        rows = preference_rows(pairs, drop_ties=drop_ties, conversational=conversational)
        summary["preferences"] = {
            "path": str(write_rows(rows, out / f"preferences{ext}", fmt)),
            "rows": len(rows),
            "pairs": len(pairs),
            "dropped": len(pairs) - len(rows),
        }
    if rd.points.exists():
        points = load_points(rd.root)
        rows = score_rows(points, conversational=conversational)
        summary["scores"] = {"path": str(write_rows(rows, out / f"scores{ext}", fmt)), "rows": len(rows)}
    return summary


# ---------------------------------------------------------------------------------------------
# external preference data -> PairAnnotation


def _read_any(path: Path, split: str) -> list[dict[str, Any]]:
    if not path.exists():
        raise DataError("preference dataset not found", where=str(path), hint="give a .jsonl, .parquet or HF folder")
    if path.is_dir():
        from datasets import DatasetDict, load_from_disk

        try:
            ds = load_from_disk(str(path))
        except Exception as exc:  # datasets raises FileNotFoundError / ValueError variants
            raise DataError(f"not a saved HF dataset ({exc})", where=str(path), hint="use Dataset.save_to_disk") from None
        if isinstance(ds, DatasetDict):
            if split not in ds:
                raise DataError(f"split '{split}' not in dataset", where=str(path), hint=f"splits: {', '.join(ds)}")
            ds = ds[split]
        return ds.to_list()
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix in (".jsonl", ".json"):
        return [row for _, row in iter_jsonl(path)]
    raise DataError(f"unsupported file type '{path.suffix}'", where=str(path), hint="use .jsonl, .parquet or an HF folder")


def _text(value: Any, where: str, key: str) -> str:
    """A response given as a string or as messages (the last assistant turn is the response)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(m, dict) and "content" in m for m in value):
        turns = [m for m in value if m.get("role") == "assistant"] or value
        return str(turns[-1]["content"])
    raise DataError(f"'{key}' must be a string or a list of {{role, content}} messages", where=where)


def _prompt_text(row: dict[str, Any], where: str) -> str:
    prompt = row.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return str(users[-1]["content"])
    # Implicit prompt: the messages of `chosen` before its last assistant turn.
    chosen = row.get("chosen")
    if isinstance(chosen, list):
        users = [m for m in chosen if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return str(users[-1]["content"])
    raise DataError("row has no prompt", where=where, hint="need a 'prompt' column, or conversational 'chosen' with a user turn")


def import_preferences(
    path: str | Path, *, split: str = "train", source_name: str | None = None
) -> list[PairAnnotation]:
    """Read an external chosen/rejected dataset into PairAnnotation rows (chosen = A, label 'A')."""
    p = Path(path)
    rows = _read_any(p, split)
    name = source_name or p.stem
    out = []
    for i, row in enumerate(rows):
        where = f"{p}:row {i + 1}"
        for key in ("chosen", "rejected"):
            if key not in row:
                raise DataError(f"missing column '{key}'", where=where, hint="expected prompt/chosen/rejected columns")
        prompt = _prompt_text(row, where)
        chosen = _text(row["chosen"], where, "chosen")
        rejected = _text(row["rejected"], where, "rejected")
        prompt_id = str(row.get("prompt_id") or "p-" + stable_hash(prompt)[:12])
        rid = str(row.get("id") or f"{name}-{i}")
        out.append(
            PairAnnotation(
                id=rid,
                prompt_id=prompt_id,
                prompt=prompt,
                response_a_id=f"{rid}::chosen",
                response_b_id=f"{rid}::rejected",
                response_a=chosen,
                response_b=rejected,
                label="A",
                family=str(row.get("family") or ""),
                split=str(row.get("split") or split),
                judge=f"import:{name}",
            )
        )
    log.info("imported %d preference pairs from %s", len(out), p)
    return out


def import_into_run(path: str | Path, run_dir: str | Path, *, split: str = "train") -> int:
    """Write imported pairs as the run's ``annotations/pairs.jsonl`` (replacing it); returns the count."""
    rows = import_preferences(path, split=split)
    rd = RunDir(run_dir).ensure()
    write_jsonl(rd.pairs, [r.to_dict() for r in rows])
    (rd.annotations_dir / "import.json").write_text(json.dumps({"source": str(path), "pairs": len(rows)}))
    return len(rows)
