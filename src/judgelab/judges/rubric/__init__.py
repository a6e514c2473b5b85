"""Programmatic rubrics, above all the controlled gold judge "gold" (docs/gold_rubric.md), and
their registry: ``RUBRICS`` by name, ``get_rubric(name)``, ``gold_score``.

Modules: ``gold`` (Rubric, Criterion, the gold rubric and its trace rendering), ``criteria`` (one
function per criterion), ``text`` (the response analysis criteria read), ``flawed`` (negative-
control rubrics), ``backend`` (the ``rubric`` judge backend that wraps a rubric).

Plain-python API: ``gold_score(prompt_record_or_meta, response) -> (score 1-10, trace)``.
"""

from __future__ import annotations

from typing import Any

from judgelab.judges.rubric.flawed import FLAWED
from judgelab.judges.rubric.gold import GOLD, GOLD_VERBOSE, CriterionResult, Rubric

# The gold, its verbose-trace twin, and the negative-control judges (one gold criterion swapped
# for a surface feature), by name.
RUBRICS: dict[str, Rubric] = {"gold": GOLD, "gold-verbose": GOLD_VERBOSE, **FLAWED}


def get_rubric(name: str) -> Rubric:
    from judgelab.errors import ConfigError

    try:
        return RUBRICS[name]
    except KeyError:
        raise ConfigError(f"unknown rubric {name!r}", hint=f"known: {', '.join(sorted(RUBRICS))}") from None


def gold_score(prompt_record_or_meta: Any, response: str, rubric: str = "gold") -> tuple[float, list[CriterionResult]]:
    """Score one response with the controlled gold rubric: ``(score on 1-10, trace)``."""
    return get_rubric(rubric).score(prompt_record_or_meta, response)
