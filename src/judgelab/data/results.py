"""Typed result files: the one base every stage's JSON result (``judgelab.<name>/vN``) derives from.

A stage declares the shape of what it writes as a ``ResultFile`` subclass next to the code that
writes it (e.g. ``evaluate.arena.results.ArenaResult``); the writer builds that model and calls
``write``; the report reads the same file with ``read``. The shape lives in one place, a writer
that drifts from it fails at once, and a reader gets attributes instead of ``.get()`` chains.

Reads: a result file. Writes: a result file (atomically, through ``data.jsonl.atomic_write_text``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from judgelab.data.jsonl import atomic_write_text
from judgelab.errors import DataError


# A count or a mean, whichever the writer computed: a float field would turn 10 into 10.0 and change the file.
Number = int | float


class ResultModel(BaseModel):
    """Base of every part of a result file: unknown keys are errors (a writer and its model
    cannot drift apart silently)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())


class ResultFile(ResultModel):
    """A whole result file. Subclasses declare ``schema_: Literal["judgelab.x/vN"] =
    Field("judgelab.x/vN", alias="schema")`` and their fields.

    How the file is written (one writer for every result file; the class options keep each file's
    bytes as its stage always wrote them): ``json.dumps(indent=2)`` with no final newline unless
    ``NEWLINE``; ``ENSURE_ASCII = False`` writes non-ASCII text as is; ``ONLY_SET`` leaves out the
    keys the writer did not set (optional parts written only in some cases).
    """

    NEWLINE: ClassVar[bool] = False
    ENSURE_ASCII: ClassVar[bool] = True
    ONLY_SET: ClassVar[bool] = False

    def model_post_init(self, context: Any, /) -> None:
        self.model_fields_set.add("schema_")  # the schema is always written, given or defaulted

    @classmethod
    def expected_schema(cls) -> str:
        return str(cls.model_fields["schema_"].default)

    def to_json(self) -> dict[str, Any]:
        """The file's content as plain JSON types, keys as written on disk."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=self.ONLY_SET)

    def write(self, path: str | os.PathLike, indent: int | None = 2) -> Path:
        """Write the file atomically (json.dumps: NaN stays NaN, as the stages always wrote it)."""
        data = self.model_dump(by_alias=True, exclude_unset=self.ONLY_SET)
        text = json.dumps(data, indent=indent, ensure_ascii=self.ENSURE_ASCII, default=str)
        return atomic_write_text(path, text + ("\n" if self.NEWLINE else ""))

    @classmethod
    def read(cls, path: str | os.PathLike) -> Self:
        """Load and validate ``path``; a missing file, another schema or a malformed field is a
        DataError naming the file and what to do."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"result file not found: {p}", where=str(p),
                            hint="run the stage that writes it first") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read result file: {exc}", where=str(p),
                            hint="delete it and rerun the stage that writes it") from None
        return cls.from_json(data, where=str(p))

    @classmethod
    def from_json(cls, data: Any, where: str = "result") -> Self:
        expected = cls.expected_schema()
        found = data.get("schema") if isinstance(data, dict) else None
        if found != expected:
            raise DataError(f"expected a {expected} result, found schema {found!r}", where=where,
                            hint="rerun the stage that writes it with this judgelab version")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise DataError(f"malformed {expected} result at {loc}: {err['msg']}", where=where,
                            hint="rerun the stage that writes it with this judgelab version") from None
