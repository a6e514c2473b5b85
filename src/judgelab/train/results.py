"""The result files of training, typed: what the trainers write and the report (and
``load_judge``) read back.

- ``TrainedJudgeResult`` (``judgelab.trained_judge/v1``): a trained judge's ``judgelab_judge.json``
  (written by ``train.common.save_judge``, read by ``judges.registry`` to use the folder as a judge);
- ``GoldMonitorResult`` (``judgelab.gold_monitor/v1``): ``policies/<name>/gold_monitor.json``
  (written by ``train.gold_callback.GoldMonitor``).

The files are written as they always were (``json.dumps(..., indent=2)``, no trailing newline:
``ResultFile.write``). Reads and writes nothing else.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from judgelab.data.results import Number, ResultFile, ResultModel



# --------------------------------------------------------------------------- trained judge


class JudgeStageStats(ResultModel):
    """One training stage of a judge (``sft-verdict``, ``sft-trace``, ``reward``, ``grpo``)."""

    stage: str
    examples: int = Field(description="Training rows (SFT / GRPO prompts, or preference pairs).")
    steps: int
    train_loss: Number
    wall_s: Number = Field(description="Seconds from building the trainer to the end of training.")
    log_history: list[dict[str, Any]] = Field(description="The trainer's log history (its metric dicts).")


class TrainedJudgeResult(ResultFile):
    """``judges/<name>/judgelab_judge.json``: how to use the checkpoint folder as a judge, and how it
    was trained."""

    schema_: Literal["judgelab.trained_judge/v1"] = Field("judgelab.trained_judge/v1", alias="schema")
    judge: dict[str, Any] = Field(description="The JudgeConfig (JSON) that uses the folder the way it was trained.")
    mode: Literal["pointwise", "pairwise"]
    kind: str = Field(description="How it was trained (train.common.JudgeKind).")
    base_model: str
    train_config: dict[str, Any] = Field(description="The TrainJudgeConfig (JSON).")
    stages: list[JudgeStageStats]


# --------------------------------------------------------------------------- gold monitor


class MonitorEval(ResultModel):
    """One evaluation of the policy being trained (see train.gold_callback for each value)."""

    step: int
    gold: Number | None
    gold_ci: list[Number] | None
    gold_change: Number | None
    gold_change_ci: list[Number] | None
    proxy: Number | None
    proxy_heldout: Number | None
    proxy_train: Number | None
    gold_parse_failure_rate: Number
    completion_tokens: Number
    response_chars: Number
    gold_by_prompt: dict[str, list[Number]]
    example: str
    flagged: bool
    reason: str
    seconds: Number


class GoldMonitorResult(ResultFile):
    """``policies/<name>/gold_monitor.json``: the gold curve tracked during GRPO and the onset rule's
    verdict on it."""

    schema_: Literal["judgelab.gold_monitor/v1"] = Field("judgelab.gold_monitor/v1", alias="schema")
    judge: Any = Field(description="The monitor judge's spec.")
    settings: dict[str, Any] = Field(description="The monitor settings (JSON), the judge as its spec.")
    prompts: list[str] = Field(description="Ids of the held-out prompts.")
    evals: list[MonitorEval]
    onset_step: int | None
    stop_step: int | None
    consecutive: int
    stopped: bool
