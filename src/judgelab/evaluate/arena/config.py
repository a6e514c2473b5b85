"""Arena settings: ``ArenaSettings`` (how verdicts become ratings: style control, strong verdicts),
shared by ``judgelab arena`` (``ArenaRunConfig``, its standalone config) and the evaluate stage's
arena over a run's final policies (``PolicyArenaSettings``, ``evaluate.arena`` in a run config).
Reads and writes nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.models.devices import Device
from judgelab.evaluate.arena.style import StyleSetting


class ArenaSettings(StrictModel):
    """How an arena turns verdicts into ratings (the same in ``judgelab arena`` and ``evaluate``)."""

    style: StyleSetting = Field(
        "auto", description="Style features controlled for: token length, markdown (headers, lists, bold, as "
                            "Arena-Hard-Auto v2), both, none (no style control), or auto: none when every referee is "
                            "a rubric (controlling for length would remove the rubric gold's own length criterion), "
                            "else both.")
    centering: Literal["none", "mean"] = Field(
        "none", description="'mean' centres the style features as Arena-Hard-Auto does (ratings at the average style "
                            "difference); 'none' rates at equal style.")
    missing_style: Literal["impute", "drop"] = Field(
        "impute", description="A response without a length: impute its model's mean, or drop its battles from the fit.")
    strong_weight: float = Field(
        3.0, ge=1, description="Battles a strong verdict ([[A>>B]]) counts as (Arena-Hard-Auto: 3; 1 ignores strength).")


class ArenaRunConfig(ArenaSettings):
    """Settings of one ``judgelab arena`` run (contestants and judges are given separately)."""

    bootstrap: int = Field(200, ge=0, description="Bootstrap resamples of the prompts.")
    alpha: float = Field(0.05, gt=0, lt=1, description="CI level = 1 - alpha.")
    seed: int = 0
    tokenizer: str | None = Field(None, description="HF tokenizer for lengths in tokens (None: the documented proxy).")
    max_new_tokens: int = Field(512, ge=1, description="Answer length cap for generated contestants.")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature of generated answers (0: greedy).")
    batch_size: int = Field(8, ge=1, description="Generation batch size for checkpoints.")
    device: Device = "auto"
    decoding: str | None = Field(None, description="Which rows of an eval samples file to use ('greedy' or "
                                                   "'sampled'; None: greedy when present). Sample index 0.")


class PolicyArenaSettings(ArenaSettings):
    """``evaluate.arena``: the arena over a run's final checkpoints and the initial policy (its
    bootstrap, alpha and seed are the evaluation's; at most 200 resamples)."""

    enabled: bool = Field(True, description="Arena (BT + ELO per judge) over the final checkpoints.")
    judges: list[str] | None = Field(
        None, min_length=1,
        description="Judge names that referee the arena (e.g. ['gold']); None: gold, every proxy and every extra judge.",
    )


# The evaluate stage's arena keys before they moved under ``evaluate.arena``: old key -> what to write now.
RENAMED_EVALUATE_KEYS = {
    "arena_style": "evaluate.arena.style",
    "arena_style_control": "evaluate.arena.style (none turns style control off)",
    "arena_strong_weight": "evaluate.arena.strong_weight",
    "arena_judges": "evaluate.arena.judges",
}


def check_evaluate_arena_keys(data: Any) -> Any:
    """Refuse the old flat ``evaluate.arena_*`` keys and ``evaluate.arena: true/false`` (ValueError
    naming the new key; the config loader reports it with the file). Returns ``data`` unchanged."""
    if not isinstance(data, dict):
        return data
    for old, new in RENAMED_EVALUATE_KEYS.items():
        if old in data:
            raise ValueError(f"evaluate.{old} was renamed to {new}")
    if isinstance(data.get("arena"), bool):  # ValueError: pydantic reports it as a config error, with the file
        raise ValueError(  # noqa: TRY004
            f"evaluate.arena is a section now: write evaluate.arena.enabled: {str(data['arena']).lower()}")
    return data
