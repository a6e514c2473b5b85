"""Typed result files of the attack analysis and the adversarial probe: ``AttacksResult``
(``eval/attacks.json``, schema ``judgelab.attacks/v1``, written by analysis.py and ``judgelab
attacks``) and ``AdversarialResult`` (``eval/adversarial.json``, ``judgelab.adversarial/v1``,
written by adversarial.py).

Both files are written as they always were: only the keys the writer set (a cell without a
stripped re-judge has no ``score_drop`` key, not a null one), non-ASCII text as it is, no final
newline. A field a writer sets only sometimes has a default of None, so a reader can tell "not
measured" from a value. Reads and writes the result files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from judgelab.data.results import Number, ResultFile, ResultModel
from judgelab.data.rundir import writable_file

CI = list[float] | None


class _WrittenAsSet(ResultFile):
    """Written with the keys its writer set and non-ASCII text as is."""

    ENSURE_ASCII = False
    ONLY_SET = True

    def write(self, path: str | os.PathLike, indent: int | None = 2) -> Path:
        """As ResultFile.write; a path that cannot be written (a file where its folder should be)
        is a DataError, not a traceback."""
        return super().write(writable_file(path, "result file"), indent)


# ------------------------------------------------------------------------- attacks.json


class FlaggedSpan(ResultModel):
    kind: str
    start: int
    end: int
    confidence: float
    rule: str


class FlaggedExample(ResultModel):
    prompt_id: str | None
    response: str
    findings: list[FlaggedSpan]


class _Rates(ResultModel):
    """The detector over rows: flagged rate with its CI clustered by prompt, share per kind.
    A subclass's ``_first`` fields are written before these (as flagging.py writes them)."""

    _first: ClassVar[tuple[str, ...]] = ()

    n: int
    n_prompts: int
    flagged_rate: float | None
    flagged_rate_ci: CI
    by_kind: dict[str, float | None]

    @model_serializer(mode="wrap")
    def _first_fields_first(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        return {**{k: data[k] for k in self._first if k in data}, **data}


class FlagRates(_Rates):
    """Rates of a response file, with flagged examples."""

    examples: list[FlaggedExample]


class FlagPoint(_Rates):
    """One evaluated checkpoint of a policy (its examples are kept for the last one only)."""

    _first = ("step", "decoding")

    step: int
    decoding: str | None


class PolicyFlags(ResultModel):
    role: str | None
    proxy_judge: str | None
    curve: list[FlagPoint]
    examples: list[FlaggedExample]


class SourceSummary(FlagRates):
    """Rates of a source's outputs; crafted sources add the share of planted characters flagged."""

    _first = ("kind", "note")

    kind: Literal["harvested", "crafted", "file"]
    note: str
    span_coverage: float | None = None  # crafted sources only


class JudgeSummary(ResultModel):
    mode: Literal["pointwise", "pairwise"]
    scale: list[Number]
    parse_failure_rate: float | None


class TransferCell(ResultModel):
    """One (source, judge) cell: ASR; with ``strip``, the stripped re-judge; pointwise, mean scores."""

    mode: Literal["pointwise", "pairwise"]
    n: int
    n_flagged: int
    unusable: int
    asr: float | None
    asr_ci: CI
    asr_flagged: float | None
    asr_flagged_ci: CI
    asr_stripped: float | None = None
    asr_stripped_ci: CI = None
    n_asr_stripped: int | None = None
    asr_flagged_stripped: float | None = None
    asr_flagged_stripped_ci: CI = None
    score_drop: float | None = None
    score_drop_ci: CI = None
    n_stripped: int | None = None
    drop_units: Literal["score points", "P(win vs baseline)"] | None = None
    output_mean_score: float | None = None
    baseline_mean_score: float | None = None


class AttacksResult(_WrittenAsSet):
    """``eval/attacks.json``: flagged rate over training, sources, the transfer matrix (source ->
    judge -> cell); ``run`` where a run was analysed; ``files`` and ``notes`` from ``judgelab attacks``."""

    schema_: Literal["judgelab.attacks/v1"] = Field("judgelab.attacks/v1", alias="schema")
    config: dict[str, Any]
    kinds: list[str]
    flagged_over_training: dict[str, PolicyFlags]
    sources: dict[str, SourceSummary]
    judges: dict[str, JudgeSummary]
    transfer: dict[str, dict[str, TransferCell]]
    run: str | None = None
    files: dict[str, FlagRates] | None = None
    notes: list[str] | None = None


# --------------------------------------------------------------------- adversarial.json


class KeyRates(ResultModel):
    fooled_rate: float | None
    preferred_rate: float | None
    n: int
    mean_score: float | None = None  # pointwise, where the judge scored the key


class MasterKeyProbe(ResultModel):
    """One judge probed with every master key next to genuine answers."""

    judge: str
    mode: Literal["pointwise", "pairwise"]
    n: int
    n_prompts: int
    fooled_rate: float | None
    fooled_rate_ci: CI
    preferred_rate: float | None
    genuine_mean_score: float | None
    parse_failure_rate: float | None
    unusable: int
    by_key: dict[str, KeyRates]


class FoolingPoint(ResultModel):
    step: int
    n: int
    fooling_rate: float | None
    fooling_rate_ci: CI


class FoolingExample(ResultModel):
    prompt_id: str
    prompt: str
    response: str
    proxy_score: Number
    gold_score: Number
    gap: float
    attack_kinds: list[str]


class FoolingOutputs(ResultModel):
    proxy_judge: str | None
    curve: list[FoolingPoint]
    examples: list[FoolingExample]


class SkippedPolicy(ResultModel):
    skipped: str  # why (a pairwise-reference reward is not comparable with a gold score)


class AdversarialResult(_WrittenAsSet):
    """``eval/adversarial.json``: the master-key probe per judge and judge-fooling outputs per policy."""

    schema_: Literal["judgelab.adversarial/v1"] = Field("judgelab.adversarial/v1", alias="schema")
    keys: list[str]
    gap: float
    master_keys: dict[str, MasterKeyProbe]
    fooling_outputs: dict[str, FoolingOutputs | SkippedPolicy]
