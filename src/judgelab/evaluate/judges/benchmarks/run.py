"""A judge on one public benchmark (``judgelab eval-judge --data PATH``): the format registry
(``FORMATS``), format detection from the columns (``detect_format``), scoring (``evaluate_rows``)
and the result file (``evaluate_benchmark``, through ``results.BenchmarkEvalResult``).

Reads one benchmark file or dataset folder (see ``common.read_table``); writes
``<out>/<judge>.<benchmark>.<data>.json`` (metrics) and ``.verdicts.jsonl`` (every verdict).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from judgelab.data.jsonl import write_jsonl
from judgelab.errors import DataError, JudgelabError
from judgelab.evaluate.judges.benchmarks import common, judgebench, ppe, rewardbench2, rmbench
from judgelab.evaluate.judges.benchmarks.common import Table, read_table
from judgelab.evaluate.judges.results import BenchmarkEvalResult
from judgelab.judges.base import Judge
from judgelab.judges.registry import JudgeSpec, load_judge
from judgelab.judges.types import Mode

FORMATS = {m.NAME: m for m in (rewardbench2, judgebench, rmbench, ppe)}
BENCHMARKS = tuple(FORMATS)


def detect_format(table: Table) -> str:
    """The benchmark a table's columns belong to; a one-line DataError when none fits."""
    cols = table.columns
    if not table.rows:
        raise DataError("no rows", where=table.where, hint="the benchmark file is empty")
    if judgebench.detect(cols):
        return judgebench.NAME
    if ppe.detect(cols):
        return ppe.NAME
    if rewardbench2.detect(cols):
        return rewardbench2.NAME
    if rmbench.detect(cols, table.rows):
        return rmbench.NAME
    known = "; ".join(m.DESCRIPTION for m in FORMATS.values())
    raise DataError(f"unknown benchmark format; columns found: {', '.join(cols) or 'none'}", where=table.where,
                    hint=f"formats known: {known}; or pass --benchmark {'|'.join(BENCHMARKS)}")


def evaluate_rows(judge: Judge, table: Table, benchmark: str | None = None, *, mode: Mode | None = None,
                  limit: int | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score ``judge`` on one benchmark table; returns (result, verdict rows)."""
    from judgelab.lm.aio import run_sync

    name = benchmark or detect_format(table)
    if name not in FORMATS:
        raise JudgelabError(f"unknown benchmark '{name}'", where="--benchmark", hint=f"one of: {', '.join(BENCHMARKS)}")
    if limit is not None:
        table = Table(table.rows[:limit], table.where, table.split)
    if not table.rows:
        raise DataError("no rows", where=table.where, hint="the benchmark file is empty")
    mod = FORMATS[name]
    parsed = mod.parse_rows(table)
    t0 = time.perf_counter()
    if name in (judgebench.NAME, ppe.NAME):
        coro = mod.aevaluate(judge, parsed, mode=mode)
    else:
        if mode == "pairwise":
            raise JudgelabError(f"{name} is scored from pointwise scores; --mode pairwise does not apply", where="--mode")
        coro = mod.aevaluate(judge, parsed)
    result, verdicts = run_sync(coro)
    parsed_ok = sum(v.ok for v in verdicts)
    head = {
        "schema": BenchmarkEvalResult.expected_schema(), "benchmark": name, "data": table.where, "split": table.split, "n_rows": len(table.rows),
        "judge": judge.name, "judge_config": judge.spec(),
    }
    result = {**head, **result, "n_verdicts": len(verdicts),
              "parse_failure_rate": common.rate(len(verdicts) - parsed_ok, len(verdicts)),
              "backend_calls": judge.backend_calls, "wall_s": round(time.perf_counter() - t0, 2)}
    return common.json_safe(result), [v.to_dict() for v in verdicts]


def evaluate_benchmark(
    judge_spec: JudgeSpec,
    data: str | Path,
    *,
    benchmark: str | None = None,
    split: str | None = None,
    mode: Mode | None = None,
    limit: int | None = None,
    out_dir: str | Path | None = None,
    judge: Judge | None = None,
    name: str | None = None,
) -> tuple[dict[str, Any], Path]:
    """Read ``data``, detect (or check) its format, score the judge, write the JSON. Returns (result, path)."""
    table = read_table(data, split)
    bench = benchmark or detect_format(table)
    owned = judge is None
    if judge is None:
        judge = load_judge(judge_spec, name=name, where="--judge")
    try:
        from judgelab.data.rundir import name_component, writable_dir

        name_component(judge.name, "judge")  # before any judging: the name becomes the output file's name
        writable_dir(out_dir or Path("eval") / "benchmarks", "--out")
        result, rows = evaluate_rows(judge, table, bench, mode=mode, limit=limit)
    finally:
        if owned:
            judge.close()
    result["judge_spec"] = str(judge_spec)
    out = Path(out_dir) if out_dir else Path("eval") / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{judge.name}.{bench}.{Path(data).stem or 'data'}" + (f".{split}" if split else "")
    path = BenchmarkEvalResult.model_validate(result).write(out / f"{stem}.json")
    write_jsonl(out / f"{stem}.verdicts.jsonl", rows)
    return result, path


def benchmark_table(result: dict[str, Any]) -> Any:
    """A rich Table of one benchmark evaluation."""
    from rich.table import Table as RichTable

    split = f" [{result['split']}]" if result.get("split") else ""
    t = RichTable(title=f"judge '{result['judge']}' on {result['benchmark']}{split} ({result['n_rows']} rows, {result['mode']})",
                  caption=result.get("metric"))
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("n", justify="right")
    for row in FORMATS[result["benchmark"]].table_rows(result):
        t.add_row(*row)
    t.add_row("parse-failure rate", common.fmt(result["parse_failure_rate"]), str(result["n_verdicts"]))
    return t
