"""Error types for bad input. Model output is never bad input (see judges.verdict)."""

from __future__ import annotations


class JudgelabError(Exception):
    """Bad input: says what was wrong, where, and what to do.

    The CLI prints it on one line (no traceback) and exits with code 2.
    """

    def __init__(self, what: str, where: str | None = None, hint: str | None = None):
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}: ")
        parts.append(self.what)
        if self.hint:
            parts.append(f" ({self.hint})")
        return "".join(parts)


class ConfigError(JudgelabError):
    """A config file or override is malformed or names an unknown key/value."""


class DataError(JudgelabError):
    """A data file (JSONL, Parquet, dataset folder) is missing or malformed."""


class ModelSpecError(JudgelabError):
    """A model spec cannot be resolved to weights."""
