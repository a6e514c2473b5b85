"""Programmatic rubrics, above all the controlled gold judge "gold" (docs/gold_rubric.md).

Plain-python API: ``gold_score(prompt_record_or_meta, response) -> (score 1-10, trace)``.
The ``rubric`` backend (judges/rubric/backend.py) wraps it as a programmatic judge backend.
"""

from judgelab.judges.rubric.gold import (
    GOLD,
    GOLD_VERBOSE,
    RUBRICS,
    SCALE,
    Criterion,
    CriterionResult,
    Rubric,
    constraints_of,
    get_rubric,
    gold_score,
    pairwise_label,
    render_pairwise,
    render_pointwise,
)
from judgelab.judges.rubric.text import Analysis, surface_features
from judgelab.judges.rubric.flawed import FLAWED

# Negative-control judges (one gold criterion swapped for a surface feature) by name, like the gold.
RUBRICS.update(FLAWED)

__all__ = [
    "FLAWED", "GOLD", "GOLD_VERBOSE", "RUBRICS", "SCALE", "Analysis", "Criterion", "CriterionResult", "Rubric", "constraints_of",
    "get_rubric", "gold_score", "pairwise_label", "render_pairwise", "render_pointwise", "surface_features",
]
