"""``arena.json`` (schema ``judgelab.arena/v2``): its typed shape (``ArenaResult``) and its one
writer, used by ``judgelab arena`` (``evaluate.arena.run``) and by the evaluate stage's arena over
a run's final policies (``eval/arena.json``).

Both write an ``arena_report`` (tables per judge, pooled, the judges x models matrix) with the
contestants and the baseline; ``judgelab arena`` adds where each contestant's answers came from,
the prompt coverage, its settings and the length unit, counts verdicts per judge (``verdicts``)
and, with ``--judgments``, says which Arena-Hard judgment files it read (``published``); the
evaluate stage adds ``strong_weight`` and each judge's ``failed_pairs``. A key a writer does not
set is not written.

Writes: the file given (indent 2, no trailing newline, as arena.json always was).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field

from judgelab.data.results import ResultFile, ResultModel
from judgelab.evaluate.arena.style import StyleMode

SCHEMA = "judgelab.arena/v2"


class ArenaModelRow(ResultModel):
    """One model in one table (``tables.arena_table`` documents the conventions)."""

    model: str
    rating: float | None
    ci: list[float | None] | None
    status: Literal["rated", "undefeated", "winless", "absent", "disconnected"]
    elo: float | None
    win_rate: float | None  # observed weighted score
    battles: int
    weighted_battles: float
    boot_missing: int
    win_rate_vs_baseline: float | None = None  # only with a baseline
    win_rate_vs_baseline_ci: list[float | None] | None = None


class StyleCoef(ResultModel):
    coef: float  # logit per SD of the feature
    ci: list[float | None] | None
    per_unit: float
    sd: float


class VerdictCounts(ResultModel):
    """What one judge did in ``judgelab arena``."""

    pairs: int
    failed_pairs: int
    strong_verdicts: int
    verdicts: int
    missing_answers: int


class ArenaTable(ResultModel):
    """One table: per judge or pooled over judges."""

    baseline: str | None
    style: StyleMode
    centering: Literal["none", "mean"]
    n_battles: int
    n_boot: int
    alpha: float
    style_control: bool
    models: list[ArenaModelRow]
    style_coefs: dict[str, StyleCoef]
    length_coef: float | None
    n_prompts: int
    style_imputed: int
    style_dropped: int
    converged: bool
    warnings: list[str]
    verdicts: VerdictCounts | None = None  # judgelab arena, per judge
    failed_pairs: int | None = None  # the evaluate stage, per judge


class ArenaMatrix(ResultModel):
    value: Literal["win_rate_vs_baseline", "rating"]
    rows: dict[str, dict[str, float | None]]  # judge (and "pooled") -> model -> value


class ContestantSource(ResultModel):
    kind: Literal["responses", "checkpoint", "served", "judgments"]  # judgments: only in Arena-Hard judgment files
    source: str
    base_url: str | None


class Coverage(ResultModel):
    prompts: int
    shared: int  # prompts answered by the contestant and the baseline: what it is rated on
    missing: int


class PublishedJudgments(ResultModel):
    """Arena-Hard-Auto judgment files the leaderboard was rebuilt from (``evaluate.arena.arena_hard``)."""

    files: list[str]
    layouts: list[str]  # v0.1 / v2.0
    judges: list[str]
    category: str | None
    baseline: str
    models: list[str]
    prompts: int
    rows: int  # rows used
    null_rows: int  # v2.0 rows with a null game or score (dropped, as Arena-Hard does)
    dropped_games: int  # v0.1 games with a null score or a label v0.1 ignores (dropped, as Arena-Hard does)
    ignored_labels: dict[str, int]
    other_categories: dict[str, int]  # rows of the categories not used
    self_rows: int  # the baseline judged against itself: skipped
    notes: list[str]


class ArenaResult(ResultFile):
    ONLY_SET = True  # the two writers (judgelab arena, the evaluate stage) set different optional keys

    schema_: Literal["judgelab.arena/v2"] = Field("judgelab.arena/v2", alias="schema")
    contestants: list[str]
    baseline: str | None
    strong_weight: float | None = None  # the evaluate stage
    sources: dict[str, ContestantSource] | None = None  # judgelab arena, from here to length_unit
    n_prompts: int | None = None
    coverage: dict[str, Coverage] | None = None
    settings: dict[str, Any] | None = None  # the ArenaRunConfig
    length_unit: str | None = None
    published: PublishedJudgments | None = None  # judgelab arena --judgments
    judges: dict[str, ArenaTable]
    pooled: ArenaTable
    matrix: ArenaMatrix


def write_arena_result(path: str | os.PathLike, content: dict[str, Any]) -> ArenaResult:
    """Validate ``content`` (every key of arena.json but ``schema``) as an ``ArenaResult`` and write
    it to ``path`` atomically; returns the model. Keys come out in the model's order."""
    result = ArenaResult.model_validate({"schema": SCHEMA, **content})
    result.write(path)
    return result
