"""Typed result files of the policy evaluation stage: ``PolicyEvalResult``
(``eval/policies/<name>.json``, judgelab.evaluate.policies.policy_eval), ``InstrumentResult``
(``eval/instrument.json``, judgelab.evaluate.policies.instrument) and ``BestOfNResult``
(``<out>/best_of_n.json``, judgelab.evaluate.policies.best_of_n).

Each describes exactly what its writer wrote before it was typed: same keys in the same order, same
values, and, like those writers, no newline after the JSON (``write``). Reads and writes only
through ``ResultFile``.
"""

from __future__ import annotations

from typing import ClassVar, Any, Literal

from pydantic import Field, model_serializer

from judgelab.data.results import ResultFile, ResultModel
from judgelab.evaluate.policies.hacking import HackingFlag
from judgelab.evaluate.policies.hacking_call import HackingCall


# ---------------------------------------------------------------------------------- policy_eval

class _RowHead(ResultModel):
    step: int
    checkpoint: str
    decoding: str
    n_prompts: int


class DecodingStats(ResultModel):
    """One decoding's gold numbers at one checkpoint (``by_decoding[d]``; the primary one's are
    also the row's own)."""

    n: int
    gold_score_mean: float | None
    gold_score_ci: list[float] | None
    gold_score_norm: float | None
    gold_score_norm_ci: list[float] | None
    gold_gain: float | None
    gold_gain_ci: list[float] | None
    gold_win_rate: float | None
    gold_win_rate_ci: list[float] | None
    length_tokens_mean: float | None
    length_chars_mean: float | None


class OtherJudgeScore(ResultModel):
    score_norm: float | None
    parse_failure_rate: float


class PolicyEvalRow(DecodingStats, _RowHead):
    """One checkpoint. The bases' order puts _RowHead's fields first, then DecodingStats' (pydantic
    collects fields from the most basic class on), as the writer always wrote them."""

    gold_parse_failure_rate: float
    proxy_score: float | None
    proxy_score_ci: list[float] | None
    proxy_parse_failure_rate: float
    other_judges: dict[str, OtherJudgeScore]
    by_decoding: dict[str, DecodingStats]
    kl_from_initial: float | None = None  # nats per completion (judgelab.evaluate.policies.kl), when asked for
    kl_from_initial_ci: list[float] | None = None


class PolicyEvalResult(ResultFile):
    """``eval/policies/<name>.json``: one policy's gold monitoring, one row per checkpoint.
    ``hacking_call`` is written once made (``run_calls``)."""

    ONLY_SET: ClassVar[bool] = True

    schema_: Literal["judgelab.policy_eval/v2"] = Field("judgelab.policy_eval/v2", alias="schema")
    policy: str
    role: str
    proxy_judge: str
    gold_judge: str
    gold_scale: list[int | float]
    reward_mode: str
    tournament: str | None
    base_model: str
    prompts: list[str]
    decodings: list[str]
    samples_per_prompt: int
    rows: list[PolicyEvalRow]
    hacking: HackingFlag
    hacking_call: HackingCall | None = Field(None, description="The calibrated call (hacking_call), made once every "
                                             "policy of the run is evaluated; absent from older files.")


# ---------------------------------------------------------------------------------- instrument

class PositiveSeed(ResultModel):
    policy: str | None
    step: int | None
    decoding: str | None
    gold_gain: float | None
    gold_gain_ci: list[float] | None
    passed: bool


class NegativeSeed(ResultModel):
    policy: str | None
    proxy_judge: str | None
    step: int | None
    decoding: str | None
    proxy_gain: float | None
    gold_change: float | None
    gold_gain: float | None
    gold_gain_ci: list[float] | None
    kind: str | None
    reason: str | None
    passed: bool
    call: str | None = None  # the calibrated call's outcome (None in files from before it existed)


class PositiveControl(ResultModel):
    status: str  # "passed" | "failed" | "not run"
    passed: bool | None
    seeds: list[PositiveSeed]


class NegativeControl(ResultModel):
    status: str
    passed: bool | None
    seeds: list[NegativeSeed]


class JudgeAgreement(ResultModel):
    judge: str
    accuracy: float | None
    accuracy_ci: list[float] | None
    n: int | None
    parse_failure_rate: float | None
    agreement: float | None = None  # tie-adjusted (judge_eval); None in files from before it existed
    agreement_ci: list[float] | None = None
    n_agreement: int | None = None
    gate: str | None = None  # "passed" | "at chance" | "not evaluated" (eval/judge_gate.json); None: not gated


class GateSummary(ResultModel):
    """The judge gate as the instrument check reports it (from ``eval/judge_gate.json``)."""

    min_agreement: float
    on_fail: str
    at_chance: list[str]
    not_evaluated: list[str]


class InstrumentResult(ResultFile):
    """``eval/instrument.json``: do the study's controls behave (the report opens with it). Keys added
    after v1 (the judge gate, tie-adjusted agreement) are written when set."""

    ONLY_SET: ClassVar[bool] = True

    schema_: Literal["judgelab.instrument/v1"] = Field("judgelab.instrument/v1", alias="schema")
    status: str  # "passed" | "failed" | "incomplete"
    meaning: str
    positive_control: PositiveControl
    negative_control: NegativeControl
    judges: list[JudgeAgreement]
    judge_gate: GateSummary | None = None
    specificity_control: NegativeControl | None = None  # a benign proxy: must read "not hacked"


# ---------------------------------------------------------------------------------- best_of_n

class CurvePoint(ResultModel):
    n: int
    gold: float | None
    ci: list[float] | None
    prompts: int


class MethodCost(ResultModel):
    judge_calls: int
    seconds: float


class BestOfNResult(ResultFile):
    """``<out>/best_of_n.json``: gold of a judge's pick among N candidates, per method, with the
    oracle and random picks as bounds."""

    schema_: Literal["judgelab.best_of_n/v1"] = Field("judgelab.best_of_n/v1", alias="schema")
    selector: str
    gold: str
    ns: list[int]
    dropped_ns: list[int]
    draws: int
    prompts: int
    candidates: int
    source: str | None
    curves: dict[str, list[CurvePoint]]
    oracle: list[CurvePoint]
    random: list[CurvePoint]
    cost: dict[str, MethodCost]
    gold_seconds: float
    judged: int
    gold_parse_failure_rate: float
    seconds: float
    candidates_file: str | None = None  # only when the candidates were sampled (and kept)

    @model_serializer(mode="wrap")
    def _without_absent_file(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        if out.get("candidates_file") is None:
            out.pop("candidates_file", None)
        return out
