"""Versioned record schemas written to a run directory (JSONL; Parquet on export).

Every row carries ``schema``; a file anyone can open with ``pandas.read_json(path, lines=True)``.
``unique_ids`` is the one duplicate-id check of a file of records or judge items.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

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
        hints = _hints(cls)
        for k, v in d.items():
            if k in names and not _fits(v, hints[k]):
                raise DataError(f"field {k!r} must be {_shown(hints[k])}, got {type(v).__name__} {_snip(v)}", where=where,
                                hint="fix or drop this row")
        rec = cls(**{k: v for k, v in d.items() if k in names})
        rec.check(where)
        return rec

    def check(self, where: str) -> None:
        """Checks beyond types (a subclass's allowed values)."""


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _fits(v: Any, tp: Any) -> bool:
    """Does a JSON value fit a (simple) type hint? bool is not a number here."""
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(v, a) for a in typing.get_args(tp))
    if tp is type(None):
        return v is None
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if origin is not None:
        return isinstance(v, origin)
    return isinstance(v, tp)


def _shown(tp: Any) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_shown(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return {str: "a string", int: "an integer", float: "a number", bool: "true/false"}.get(
        tp, getattr(typing.get_origin(tp) or tp, "__name__", str(tp)))


def _snip(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


class _HasId(Protocol):
    id: str


ItemT = TypeVar("ItemT", bound=_HasId)


def unique_ids(rows: Iterable[tuple[str, str, ItemT]], *, within: str) -> list[ItemT]:
    """The items of ``(where, first, item)`` rows, in order; DataError at the first item whose
    ``id`` came before. ``first`` is how a later duplicate points back at the row ("on line 3",
    "at prompts.jsonl:3"); ``within`` names what ids must be unique in."""
    seen: dict[str, str] = {}
    out: list[ItemT] = []
    for where, first, item in rows:
        if item.id in seen:
            raise DataError(f"duplicate id {item.id!r} (first {seen[item.id]})", where=where,
                            hint=f"ids must be unique within {within}")
        seen[item.id] = first
        out.append(item)
    return out


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

    def check(self, where: str) -> None:
        for name in ("label", "label_ab", "label_ba"):
            v = getattr(self, name)
            if v not in ("A", "B", "tie", None):
                raise DataError(f"field {name!r} must be 'A', 'B', 'tie' or null, got {v!r}", where=where,
                                hint="fix or drop this row")


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
