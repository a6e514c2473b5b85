"""The result files of judge evaluation, typed: what ``judge_eval``, ``judge_scaling`` and
``benchmarks.run`` write, and what the report reads back (``Model.read(path)``).

- ``JudgeEvalResult`` (``judgelab.judge_eval/v1``): ``eval/judges/<judge>.json``;
- ``JudgeScalingResult`` (``judgelab.judge_scaling/v1``): ``eval/judges/<judge>.scaling.json``;
- ``BenchmarkEvalResult`` (``judgelab.benchmark_eval/v1``): ``<out>/<judge>.<benchmark>.<data>.json``.

The files are written as they always were (``json.dumps(..., indent=2, default=str)``, no trailing
newline: ``ResultFile.write``). Reads and writes nothing else.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from judgelab.data.results import Number, ResultFile, ResultModel



class WrittenWhenSet(ResultModel):
    """A part some of whose keys the writer adds only in some cases (``OPTIONAL``): such a key is
    written when it was given, left out when not."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out = handler(self)
        return {k: v for k, v in out.items() if k not in self.OPTIONAL or k in self.model_fields_set}


# --------------------------------------------------------------------------- judge_eval


class JudgeEvalMetrics(WrittenWhenSet):
    """``metrics`` of a judge evaluation (see ``judge_eval``'s module docstring for each one)."""

    OPTIONAL: ClassVar[frozenset[str]] = frozenset({"sample_temperature", "pointwise_parse_failure_rate", "transitivity_violations"})

    n_pairs: int
    n_gold_non_tie: int
    accuracy: float | None = Field(description="Strict: AB order, ties and parse failures count wrong (v1's metric).")
    accuracy_ci95: list[float] | None
    # Tie-adjusted agreement (absent from files written before it existed: None when read back).
    agreement: float | None = Field(None, description="Mean credit over non-tie gold pairs: 1 right, 0.5 tie, 0 wrong; "
                                    "both orders averaged when the judge saw both; unparsed verdicts left out.")
    agreement_ci95: list[float] | None = None
    agreement_ci_method: str | None = Field(None, description="t (n < 30), bca, wilson (all values equal) or single.")
    n_agreement: int | None = None
    non_tie_accuracy: float | None = Field(None, description="Right / (right + wrong) over the verdicts that chose.")
    n_decided: int | None = None
    n_unparsed_pairs: int | None = None
    tie_rate: float | None
    parse_failure_rate: float | None
    position_consistency: float | None
    n_position_checked: int
    accuracy_ba: float | None
    self_consistency: float | None
    samples: int
    sample_temperature: Number | None = Field(None, description="Only when self-consistency was sampled.")
    pointwise_pairwise_consistency: float | None
    n_pointwise_pairwise_checked: int
    pointwise_parse_failure_rate: float | None = Field(None, description="Only when pointwise scores were asked for.")
    transitivity_violation_rate: float | None
    n_triples: int
    transitivity_violations: int | None = Field(None, description="Only when transitivity was checked.")


class FamilyAccuracy(ResultModel):
    n: int
    accuracy: float
    ci95: tuple[float, float] | None
    agreement: float | None = None
    agreement_ci95: list[float] | None = None
    agreement_ci_method: str | None = None
    n_agreement: int | None = None


class JudgeEvalResult(ResultFile):
    """``eval/judges/<judge>.json``: a judge's reliability on a run's held-out gold pairs. Keys added
    after v1 (tie-adjusted agreement, per-pair credits) are written when set, so a v1 file reads
    back (they are None) and rewrites to the same bytes."""

    ONLY_SET: ClassVar[bool] = True

    schema_: Literal["judgelab.judge_eval/v1"] = Field("judgelab.judge_eval/v1", alias="schema")
    judge: str
    mode: Literal["pairwise", "pointwise"]
    judge_config: dict[str, Any] | None
    metrics: JudgeEvalMetrics
    accuracy_by_family: dict[str, FamilyAccuracy]
    credits: dict[str, float | None] | None = Field(
        None, description="Pair id -> tie-adjusted credit (None: no verdict parsed), for paired comparisons.")
    backend_calls: int
    wall_s: float
    run_dir: str
    split: str
    judge_spec: str


# --------------------------------------------------------------------------- judge_scaling


class Agreement(ResultModel):
    """Gold agreement of one point of a scaling curve (judge_eval's accuracy of the aggregated verdicts)."""

    accuracy: float | None
    accuracy_ci95: list[float] | None
    n: int
    agreement: float | None = Field(None, description="Tie-adjusted (ties half), as in judge_eval.")
    agreement_ci95: list[float] | None = None
    agreement_ci_method: str | None = None
    n_agreement: int | None = None
    non_tie_accuracy: float | None = None
    tie_rate: float | None
    parse_failure_rate: float | None
    sample_parse_failure_rate: float | None


class PassCost(ResultModel):
    """What the judging passes of one point cost."""

    tokens: int
    tokens_per_item: float
    seconds: float


class PairedDiff(ResultModel):
    """A paired difference of tie-adjusted agreement (same pairs), with its interval."""

    diff: float
    ci95: list[float]
    n: int
    ci_method: str


class VoteSize(ResultModel):
    k: int


class Budget(ResultModel):
    budget: int
    max_new_tokens: int


# A point's keys are written in the order of its bases read right to left (pydantic's field order).
class VotePoint(PassCost, Agreement, VoteSize):
    """k sampled verdicts per item, aggregated (plurality vote, or mean score)."""

    vs_first: PairedDiff | None = Field(None, description="Agreement minus that of the smallest k, paired by pair.")


class BudgetPoint(PassCost, Agreement, Budget):
    """One pass with the generation cap at ``budget + answer_tokens``."""

    truncated_rate: float


class JudgeScalingResult(ResultFile):
    """``eval/judges/<judge>.scaling.json``: gold agreement vs votes and vs thinking budget (keys
    added after v1 written when set, as in ``JudgeEvalResult``)."""

    ONLY_SET: ClassVar[bool] = True

    schema_: Literal["judgelab.judge_scaling/v1"] = Field("judgelab.judge_scaling/v1", alias="schema")
    judge: str
    judge_spec: str | dict[str, Any]
    mode: Literal["pairwise", "pointwise"]
    split: str
    run_dir: str
    n_pairs: int
    n_items: int
    temperature: Number
    voting: list[VotePoint]
    thinking: list[BudgetPoint]
    thinking_skipped: str | None
    seconds: float


# --------------------------------------------------------------------------- benchmarks

BENCHMARK_HEAD = ("schema", "benchmark", "data", "split", "n_rows", "judge", "judge_config")
BENCHMARK_TAIL = ("n_verdicts", "parse_failure_rate", "backend_calls", "wall_s", "judge_spec")


class BenchmarkEvalResult(ResultFile):
    """``<judge>.<benchmark>.<data>.json``: a judge on one public benchmark. Between the head and
    the tail fields below stand the benchmark's own metrics, as its module's ``aevaluate`` returns
    them (``score``, ``mode``, ``metric`` always; the rest per format: see ``judgebench``,
    ``rewardbench2``, ``rmbench``, ``ppe``), in that order."""

    model_config = ConfigDict(extra="allow")

    schema_: Literal["judgelab.benchmark_eval/v1"] = Field("judgelab.benchmark_eval/v1", alias="schema")
    benchmark: str
    data: str
    split: str | None
    n_rows: int
    judge: str
    judge_config: dict[str, Any] | None
    n_verdicts: int
    parse_failure_rate: float | None
    backend_calls: int
    wall_s: float
    judge_spec: str | None = None  # set by evaluate_benchmark (the spec as given)

    @model_serializer(mode="wrap")
    def _in_written_order(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out = handler(self)
        if self.judge_spec is None and "judge_spec" not in self.model_fields_set:
            out.pop("judge_spec", None)
        head = {k: out[k] for k in BENCHMARK_HEAD if k in out}
        tail = {k: out[k] for k in BENCHMARK_TAIL if k in out}
        return {**head, **{k: v for k, v in out.items() if k not in head and k not in tail}, **tail}

    @property
    def metrics(self) -> dict[str, Any]:
        """The benchmark's own metrics (everything between head and tail)."""
        return dict(self.model_extra or {})

    @property
    def score(self) -> float | None:
        return self.metrics.get("score")

    @property
    def mode(self) -> str | None:
        return self.metrics.get("mode")
