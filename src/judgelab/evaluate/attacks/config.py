"""What an attack analysis is asked to do: ``AttacksConfig`` (the ``attacks:`` block of a run
config, or ``judgelab attacks --config/--set``), and the judges it names (``select_judges``, shared
with the adversarial probe). No I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import Field, field_validator

from judgelab.config import StrictModel
from judgelab.errors import ConfigError
from judgelab.evaluate.attacks.findings import DEFAULT_THRESHOLD, KINDS
from judgelab.judges.base import Judge

# A judge is built when its turn comes and closed after it (one model in memory at a time).
JudgeFactory = Callable[[], Judge]


class AttacksConfig(StrictModel):
    """Judge-directed content in a run's outputs: detection over training, transfer to judges, stripped re-judge."""

    enabled: bool = Field(True, description="Run this stage in `judgelab run` (where the pipeline has it).")
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0, le=1, description="Detector confidence at which a span is flagged.")
    use_prompt: bool = Field(True, description="Let the prompt excuse requested content (a rating it asks for).")
    judges: list[str] | None = Field(None, description="Judge names to build the matrix with (None: all given).")
    mode: Literal["auto", "pointwise", "pairwise"] = Field(
        "auto", description="How judges compare output and baseline (auto: pointwise where the judge scores).")
    harvest: bool = Field(True, description="Sources from each policy's last evaluated checkpoint.")
    harvest_limit: int | None = Field(32, ge=1, description="Outputs per policy source (None: all).")
    baseline: Literal["step0", "responses"] = Field(
        "step0", description="Clean baseline of a harvested output: the policy's step-0 sample, or the run's test response.")
    craft: bool = Field(True, description="Crafted sources: templates of each kind planted into clean answers.")
    craft_kinds: list[str] | None = Field(None, description=f"Kinds to craft (None: all of {list(KINDS)}).")
    craft_limit: int | None = Field(12, ge=1, description="Clean answers per crafted kind (None: all).")
    strip: bool = Field(True, description="Judge flagged outputs again with the flagged spans removed.")
    examples: int = Field(3, ge=0, description="Flagged examples kept per policy (last checkpoint) and per source.")
    bootstrap: int = Field(1000, ge=0)
    seed: int = 0

    @field_validator("craft_kinds")
    @classmethod
    def _kinds(cls, v: list[str] | None) -> list[str] | None:
        bad = [k for k in v or [] if k not in KINDS]
        if bad:
            raise ValueError(f"unknown attack kind(s) {bad}; known: {list(KINDS)}")
        return v


def select_judges(wanted: list[str] | None, judges: Mapping[str, JudgeFactory], where: str) -> list[str]:
    """The judge names a config asks for (None: every judge given); a name not given is an error at ``where``."""
    names = list(judges) if wanted is None else wanted
    unknown = [n for n in names if n not in judges]
    if unknown:
        raise ConfigError(f"{where} names unknown judge(s) {unknown}", where=where, hint=f"known here: {sorted(judges)}")
    return names
