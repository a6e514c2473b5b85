"""The corpus of verdict formats (tests/judges/fixtures/verdict_corpus.jsonl): outputs written the
way judges answer the public judge prompts (Arena-Hard, MT-Bench, AlpacaEval, Prometheus, JudgeLM,
PandaLM, RewardBench's generative prompts, JSON verdicts, everyday English), each with the
template it answers (``template_ref``: repository and path) and the expected verdict, "unparsed"
included (echoed instructions, both verdicts named, verdicts only inside thinking).

Run ``pytest -s tests/judges/test_verdict_corpus.py`` to see the counts by source.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from judgelab.judges.parsing.common import ParseResult
from judgelab.judges.parsing.pairwise import parse_pairwise
from judgelab.judges.parsing.pointwise import parse_pointwise

CORPUS = Path(__file__).parent / "fixtures" / "verdict_corpus.jsonl"
ROWS: list[dict[str, Any]] = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
SOURCES = ("arena-hard", "judgebench-arena", "judgelab-smollm2", "mt-bench", "alpaca-eval", "prometheus", "judgelm", "pandalm", "auto-j",
           "skywork-critic", "g-eval", "reward-bench", "json", "everyday")


def _parse(row: dict[str, Any]) -> ParseResult:
    if row["mode"] == "pointwise":
        return parse_pointwise(row["output"], tuple(row.get("scale", (1, 10))))  # type: ignore[arg-type]
    return parse_pairwise(row["output"], row.get("allow_tie", True))


def _problem(row: dict[str, Any]) -> str | None:
    """Why the row's verdict differs from the expected one (None: as expected)."""
    try:
        r = _parse(row)
    except Exception as e:  # noqa: BLE001 - counted: the parsers promise never to raise
        return f"exception {type(e).__name__}: {e}"
    want = row["expected"]
    if want == "unparsed":
        return None if not r.parsed else f"expected unparsed, got {r.preference or r.score!r}"
    if not r.parsed:
        return f"expected {want!r}, got unparsed ({r.error})"
    got = r.score if row["mode"] == "pointwise" else r.preference
    if got != want:
        return f"expected {want!r}, got {got!r}"
    if "strength" in row and r.strength != row["strength"]:
        return f"expected strength {row['strength']}, got {r.strength}"
    return None


def test_corpus_is_well_formed() -> None:
    assert len(ROWS) >= 150
    for row in ROWS:
        assert set(row) >= {"source", "template_ref", "mode", "output", "expected"}, row
        assert row["source"] in SOURCES and row["mode"] in ("pointwise", "pairwise"), row
        if row["mode"] == "pairwise":
            assert row["expected"] in ("A", "B", "tie", "unparsed"), row
        else:
            assert row["expected"] == "unparsed" or isinstance(row["expected"], (int, float)), row
    counts = Counter(r["source"] for r in ROWS)
    assert all(counts[s] >= 4 for s in SOURCES), counts
    # every source has outputs that must stay unparsed next to ones that must parse
    assert sum(r["expected"] == "unparsed" for r in ROWS) >= 30


def test_corpus_verdicts() -> None:
    """Every row gives its expected verdict; 0 exceptions. Prints the counts by source."""
    by_source: dict[str, Counter] = {}
    problems = []
    for i, row in enumerate(ROWS):
        c = by_source.setdefault(row["source"], Counter())
        c["rows"] += 1
        c["expect_unparsed"] += row["expected"] == "unparsed"
        why = _problem(row)
        c["exceptions"] += bool(why and why.startswith("exception"))
        if why:
            c["wrong"] += 1
            problems.append(f"#{i} [{row['source']}] {why}: {row['output'][:80]!r}")
        else:
            c["ok"] += 1
    lines = [f"{'source':<18}{'rows':>6}{'ok':>6}{'wrong':>7}{'exc':>5}{'unparsed-expected':>19}"]
    for s in SOURCES:
        c = by_source.get(s, Counter())
        lines.append(f"{s:<18}{c['rows']:>6}{c['ok']:>6}{c['wrong']:>7}{c['exceptions']:>5}{c['expect_unparsed']:>19}")
    print("\nverdict corpus by source\n" + "\n".join(lines))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['source']}-{i}" for i, r in enumerate(ROWS)])
def test_corpus_row(row: dict[str, Any]) -> None:
    assert _problem(row) is None, (_problem(row), row["output"])
