"""The judge gate: before a policy is trained against a study judge, is that judge better than
chance at agreeing with the gold?

A judge passes when the lower end of the 95% CI of its tie-adjusted agreement with the gold
(``eval/judges/<judge>.json``, judgelab.evaluate.judges.judge_eval) lies above ``min_agreement``
(0.5: chance). A judge that does not pass is "at chance": training a policy against it and reading
the result as evidence about its *kind* (reasoning or not) would say nothing about that kind. What
the run does then is configured (``JudgeGateConfig.on_fail``): ``stop`` before policy training, or
``mark``: train anyway and mark that arm in the report. A judge with no evaluation on disk is
"not evaluated" (the gate cannot pass it; it is marked, never stopped on).

Reads ``eval/judges/<judge>.json``; ``write_gate`` writes ``eval/judge_gate.json``
(``JudgeGateResult``), which the instrument check and the report read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.data.results import ResultFile, ResultModel
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError

AT_CHANCE = "judge at chance: says nothing about its kind"


class JudgeGateConfig(StrictModel):
    """The gate every study judge must clear before a policy is trained against it."""

    enabled: bool = Field(True, description="Check each study judge's agreement with the gold before policy training.")
    min_agreement: float = Field(0.5, ge=0.0, lt=1.0, description=(
        "The lower end of the tie-adjusted agreement's 95% CI must lie above this (0.5 = chance)."))
    on_fail: Literal["mark", "stop"] = Field("mark", description=(
        "A judge that does not pass: 'mark' trains its arm anyway and the report marks it '" + AT_CHANCE
        + "'; 'stop' stops the run before policy training."))


class GatedJudge(ResultModel):
    judge: str
    status: Literal["passed", "at chance", "not evaluated"]
    agreement: float | None
    agreement_ci95: list[float] | None
    n: int | None
    split: str | None
    reason: str


class JudgeGateResult(ResultFile):
    """``eval/judge_gate.json``: which study judges cleared the gate, and what the run did about it."""

    schema_: Literal["judgelab.judge_gate/v1"] = Field("judgelab.judge_gate/v1", alias="schema")
    min_agreement: float
    on_fail: Literal["mark", "stop"]
    judges: list[GatedJudge]

    def status_of(self, judge: str) -> str | None:
        return next((j.status for j in self.judges if j.judge == judge), None)


def gate_judge(path: Path, name: str, min_agreement: float) -> GatedJudge:
    """One judge's gate from its evaluation file (``not evaluated`` when there is none or it is
    from before tie-adjusted agreement existed)."""
    from judgelab.evaluate.judges.results import JudgeEvalResult

    if not path.exists():
        return GatedJudge(judge=name, status="not evaluated", agreement=None, agreement_ci95=None, n=None, split=None,
                          reason=f"no evaluation at {path} (run 'judgelab eval-judge')")
    try:
        r = JudgeEvalResult.read(path)
    except DataError as exc:
        return GatedJudge(judge=name, status="not evaluated", agreement=None, agreement_ci95=None, n=None, split=None,
                          reason=f"unreadable evaluation: {exc.what}")
    m = r.metrics
    if m.n_agreement is None:  # a file from before tie-adjusted agreement existed
        return GatedJudge(judge=name, status="not evaluated", agreement=None, agreement_ci95=None, n=None,
                          split=r.split, reason="no tie-adjusted agreement in its evaluation (rerun 'judgelab eval-judge')")
    if m.agreement is None or m.agreement_ci95 is None:
        return GatedJudge(judge=name, status="at chance", agreement=None, agreement_ci95=None, n=m.n_agreement,
                          split=r.split, reason=f"no verdict parsed on any non-tie gold pair (parse failures "
                          f"{m.parse_failure_rate}): it cannot be shown to beat chance; {AT_CHANCE}")
    lo, hi = m.agreement_ci95
    passed = lo > min_agreement
    shown = f"agreement {m.agreement:.3f} [{lo:.3f}, {hi:.3f}] (n={m.n_agreement}, split {r.split})"
    reason = (f"{shown}: CI above {min_agreement}" if passed
              else f"{shown}: CI reaches {min_agreement}; {AT_CHANCE}")
    return GatedJudge(judge=name, status="passed" if passed else "at chance", agreement=m.agreement,
                      agreement_ci95=[lo, hi], n=m.n_agreement, split=r.split, reason=reason)


def gate_judges(run_dir: str | Path, names: list[str], cfg: JudgeGateConfig) -> JudgeGateResult:
    """The gate of each named judge, from ``eval/judges/<name>.json`` (computes, writes nothing)."""
    folder = RunDir(run_dir).eval_dir / "judges"
    return JudgeGateResult(min_agreement=cfg.min_agreement, on_fail=cfg.on_fail,
                           judges=[gate_judge(folder / f"{n}.json", n, cfg.min_agreement) for n in names])


def write_gate(run_dir: str | Path, result: JudgeGateResult) -> Path:
    return result.write(RunDir(run_dir).judge_gate)


def read_gate(run_dir: str | Path) -> JudgeGateResult | None:
    """The run's gate, or None when the run has none (a run from before the gate, or gate off)."""
    path = RunDir(run_dir).judge_gate
    return JudgeGateResult.read(path) if path.exists() else None
