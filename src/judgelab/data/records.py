"""Versioned record schemas written to a run directory (JSONL; Parquet on export).

Every row carries ``schema``; a file anyone can open with ``pandas.read_json(path, lines=True)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from judgelab.errors import DataError

R = TypeVar("R", bound="Record")


@dataclass
class Record:
    SCHEMA: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.SCHEMA, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls: type[R], d: dict[str, Any], where: str = "") -> R:
        schema = d.get("schema", cls.SCHEMA)
        if schema != cls.SCHEMA:
            raise DataError(f"expected schema {cls.SCHEMA!r}, got {schema!r}", where=where)
        names = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        }
        missing = sorted(required - d.keys())
        if missing:
            raise DataError(f"missing field(s) {', '.join(missing)}", where=where)
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class PromptRecord(Record):
    """A task prompt. ``constraints`` are machine-checkable requirements (rubric reads them)."""

    SCHEMA: ClassVar[str] = "judgelab.prompt/v1"
    id: str
    family: str
    prompt: str
    split: str = "train"
    constraints: dict[str, Any] = field(default_factory=dict)


@dataclass
class ResponseRecord(Record):
    """One sampled response, with provenance."""

    SCHEMA: ClassVar[str] = "judgelab.response/v1"
    id: str
    prompt_id: str
    prompt: str
    response: str
    model: str
    family: str = ""
    split: str = "train"
    constraints: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    sample_index: int = 0
    created_at: str = ""
    completion_tokens: int = 0
    error: str | None = None


@dataclass
class PairAnnotation(Record):
    """A gold pairwise label, judged in both orders. ``label`` is in the A/B terms of this row:
    the AB-order verdict and the (un-swapped) BA-order verdict agree -> that label, else 'tie'."""

    SCHEMA: ClassVar[str] = "judgelab.pair/v1"
    id: str
    prompt_id: str
    prompt: str
    response_a_id: str
    response_b_id: str
    response_a: str
    response_b: str
    label: str | None  # 'A' | 'B' | 'tie' | None (failed)
    label_ab: str | None = None
    label_ba: str | None = None  # already mapped back to this row's A/B
    consistent: bool | None = None
    reasoning: str | None = None  # gold trace for the AB order
    reasoning_ba: str | None = None
    raw: str | None = None
    family: str = ""
    split: str = "train"
    constraints: dict[str, Any] = field(default_factory=dict)
    judge: str = ""
    error: str | None = None


@dataclass
class PointAnnotation(Record):
    """A gold pointwise score of one response."""

    SCHEMA: ClassVar[str] = "judgelab.point/v1"
    id: str
    prompt_id: str
    prompt: str
    response_id: str
    response: str
    score: float | None
    reasoning: str | None = None
    raw: str | None = None
    family: str = ""
    split: str = "train"
    constraints: dict[str, Any] = field(default_factory=dict)
    judge: str = ""
    error: str | None = None
