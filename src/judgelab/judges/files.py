"""Judging a JSONL file of items: the library behind `judgelab judge`.

Reads ITEMS.jsonl, one item per line: pointwise ``{"id", "prompt", "response"}`` or pairwise
``{"id", "prompt", "response_a", "response_b"}``, each with optional ``meta`` (e.g. ``{"family",
"constraints"}`` for the rubric judge). Writes VERDICTS.jsonl (one ``Verdict.to_dict()`` per line,
input order, written atomically at the end). Every verdict is committed to a SQLite judgment
store as it arrives (by default ``VERDICTS.store.sqlite`` beside the output), so a killed run
loses only what was in flight and a rerun judges only what is missing.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from judgelab.errors import DataError


def default_store_path(output_path: str | Path) -> Path:
    """``verdicts.jsonl`` -> ``verdicts.store.sqlite`` (same folder)."""
    out = Path(output_path)
    return out.with_name(f"{out.stem}.store.sqlite")


def check_paths(input_path: str | Path, output_path: str | Path, store_path: str | Path | None) -> None:
    """The store is neither the output nor the input (it would overwrite them), and the output's and
    the store's folders can be written; a ConfigError/DataError otherwise, before any judge loads."""
    from judgelab.data.rundir import writable_file
    from judgelab.errors import ConfigError

    if store_path is not None:
        store = Path(store_path).resolve()
        for other, what in ((output_path, "output"), (input_path, "input")):
            if store == Path(other).resolve():
                raise ConfigError(f"the store would overwrite the {what} file", where=f"--store {store_path}",
                                  hint="leave --store out for the default beside the output, give the store a file "
                                       "of its own, or pass --no-store")
    writable_file(output_path, "--output")
    if store_path is not None:
        writable_file(store_path, "--store")


def parse_item(row: dict[str, Any], where: str, constraints: bool = False) -> Any:
    """One JSONL row -> PointwiseItem or PairwiseItem; DataError naming ``where`` otherwise.
    ``constraints``: the judge scores against ``meta.constraints`` (the rubric), so they are checked."""
    from judgelab.judges.types import PairwiseItem, PointwiseItem

    hint = 'use {"id", "prompt", "response"} or {"id", "prompt", "response_a", "response_b"} (+ optional "meta")'
    if "id" not in row or not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool) or row["id"] == "":
        raise DataError("missing or empty 'id' (string or integer)", where=where, hint=hint)
    if not isinstance(row.get("prompt"), str):
        raise DataError("missing 'prompt' (string)", where=where, hint=hint)
    meta = row.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise DataError("'meta' must be an object", where=where, hint=hint)
    if constraints and meta.get("constraints") is not None:  # checked now, not as one failure per item later
        from judgelab.data.prompts import check_constraints

        check_constraints(meta["constraints"], where, str(row.get("id")))
    known = {"id", "prompt", "response", "response_a", "response_b", "meta"}
    extra = sorted(set(row) - known)
    if extra:
        raise DataError(f"unknown field(s) {', '.join(repr(k) for k in extra)}", where=where, hint=hint)
    has_point, has_pair = "response" in row, ("response_a" in row or "response_b" in row)
    if has_point and has_pair:
        raise DataError("has both 'response' and 'response_a'/'response_b'", where=where, hint=hint)
    if has_point:
        if not isinstance(row["response"], str):
            raise DataError("'response' must be a string", where=where, hint=hint)
        return PointwiseItem(id=str(row["id"]), prompt=row["prompt"], response=row["response"], meta=meta)
    if has_pair:
        for k in ("response_a", "response_b"):
            if not isinstance(row.get(k), str):
                raise DataError(f"missing '{k}' (string)", where=where, hint=hint)
        return PairwiseItem(id=str(row["id"]), prompt=row["prompt"], response_a=row["response_a"],
                            response_b=row["response_b"], meta=meta)
    raise DataError("no response: neither 'response' nor 'response_a'/'response_b'", where=where, hint=hint)


def read_items(path: str | Path, constraints: bool = False) -> list[Any]:
    """All items of a JSONL file; the first bad line raises DataError naming file:line.
    ``constraints``: check each item's ``meta.constraints`` (for a judge that reads them)."""
    from judgelab.data.jsonl import iter_jsonl
    from judgelab.data.records import unique_ids

    rows = ((f"{path}:{lineno}", f"on line {lineno}", parse_item(row, f"{path}:{lineno}", constraints))
            for lineno, row in iter_jsonl(path))
    items = unique_ids(rows, within="a file")
    if not items:
        raise DataError("no items", where=str(path), hint="one JSON object per line")
    return items


def _reads_constraints(cfg: Any) -> bool:
    """Whether the judge (a resolved config), or a member of the ensemble, is the rubric, which
    scores against each item's ``meta.constraints``; other judges ignore them."""
    from judgelab.judges.config import JudgeConfig
    from judgelab.judges.registry import EnsembleConfig, resolve_judge_spec

    if isinstance(cfg, EnsembleConfig):
        return any(_reads_constraints(resolve_judge_spec(m)) for m in cfg.members)
    return isinstance(cfg, JudgeConfig) and getattr(cfg.backend, "type", None) == "rubric"


def judge_file(config: Any, input_path: str | Path, output_path: str | Path, store_path: str | Path | None = None) -> dict[str, Any]:
    """Judge every item of ``input_path`` and write verdicts to ``output_path``; return a summary.

    ``store_path`` None: no store (nothing cached, nothing resumable)."""
    from judgelab.data.jsonl import write_jsonl
    from judgelab.data.store import JudgmentStore
    from judgelab.judges.registry import load_judge, resolve_judge_spec
    from judgelab.progress import progress_bar

    check_paths(input_path, output_path, store_path)
    config = resolve_judge_spec(config)  # once: read for the items' check, then built
    rubric = _reads_constraints(config)
    items = read_items(input_path, constraints=rubric)  # before any model loads: fails fast
    store = JudgmentStore(store_path) if store_path else None
    t0 = time.perf_counter()
    judge = load_judge(config, store=store)
    try:
        with progress_bar(len(items), f"judging with {judge.name}") as advance:
            verdicts = judge.judge(items, on_result=lambda v: advance(1))
    finally:
        judge.close()
        if store is not None:
            store.close()
    seconds = time.perf_counter() - t0
    write_jsonl(output_path, [v.to_dict() for v in verdicts])
    errors = Counter(v.error for v in verdicts if v.error is not None)
    return {
        "errors": errors.most_common(3),  # the commonest failures, (message, count)
        "count": len(verdicts),
        "pointwise": sum(v.mode == "pointwise" for v in verdicts),
        "pairwise": sum(v.mode == "pairwise" for v in verdicts),
        "parsed": sum(v.parsed for v in verdicts),
        "parse_failures": sum((not v.parsed) and v.error is None for v in verdicts),
        "failures": sum(v.error is not None for v in verdicts),
        "cached": sum(v.cached for v in verdicts),
        "seconds": round(seconds, 2),
        "output": str(output_path),
        "generic_only": _generic_only(items) if rubric else 0,
    }


def _generic_only(items: list[Any]) -> int:
    """Items a rubric scores on its generic criteria only: no constraints in ``meta`` and no family
    that implies some (judgelab.judges.rubric.gold.constraints_of)."""
    from judgelab.judges.rubric.gold import constraints_of

    return sum(not constraints_of(it.meta) for it in items)
