"""Typed-config plumbing shared by every stage: YAML loading with errors naming key and file,
and ``--set a.b=c`` overrides. Stage configs are pydantic models with ``extra='forbid'``."""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from judgelab.errors import ConfigError

T = TypeVar("T", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice (plain YAML keeps the last one, silently)."""

    def __init__(self, key: Any, first: Any, mark: Any):
        super().__init__(problem=f"duplicate key {key!r} (first given at line {first.line + 1})", problem_mark=mark)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping: with plain YAML the later block would
    replace the earlier one whole (``sample: {n: 2}`` then ``sample: {temperature: 0.1}`` loses n)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        lo, hi = node.start_mark.index, node.end_mark.index
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` keys may be overridden: that is their point
                continue
            if not lo <= key_node.start_mark.index <= hi:  # a key a merge copied in from its anchor: may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: the constructor below says so
                continue
            if first is not key_node.start_mark:
                raise _DuplicateKey(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML config file as a mapping (an empty file: {}); every problem is a ConfigError naming file:line."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("config file not found", where=str(p), hint="check the path")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte offset {exc.start})",
                          where=f"{p}:{line}", hint="save the file as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: plain data only, no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        if isinstance(exc, _DuplicateKey):
            raise ConfigError(str(exc.problem), where=where,
                              hint="give each key once, merging the two (YAML would silently keep only the last)") from None
        raise ConfigError(f"malformed YAML: {getattr(exc, 'problem', exc)}", where=where) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("top level must be a mapping", where=str(p))
    return data


class OptionValue(str):
    """A typed command-line option's value for a config key (``--run-dir runs/x``), passed in the
    override list beside the ``--set`` expressions but never parsed as YAML: the value is taken as it
    is (``runs/x #1``, ``2024``, ``on`` stay the strings they are). ``option`` names it in errors."""

    path: list[str]
    value: Any
    option: str

    def __new__(cls, key: str, value: Any, option: str) -> "OptionValue":
        self = super().__new__(cls, f"{key}={value}")
        self.path, self.value, self.option = key.split("."), value, option
        return self


def option_value(key: str, value: Any, option: str) -> OptionValue:
    """The override that sets config ``key`` (a dotted path) to ``value`` as given on the command
    line by ``option`` (e.g. ``--run-dir``): tuples become lists, nothing is YAML-parsed."""
    return OptionValue(key, list(value) if isinstance(value, tuple) else value, option)


def parse_override(expr: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a","b","c"], yaml-parsed value); an OptionValue gives its value as is."""
    if isinstance(expr, OptionValue):
        return list(expr.path), copy.deepcopy(expr.value)  # later overrides may edit what this one set
    if "=" not in expr:
        raise ConfigError(f"override {expr!r} is not of the form key.path=value", where="--set")
    key, raw = expr.split("=", 1)
    path = [k for k in key.strip().split(".") if k]
    if not path:
        raise ConfigError(f"override {expr!r} has an empty key", where="--set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...],
                    created: list[list[str]] | None = None) -> dict[str, Any]:
    """Apply ``--set`` expressions in order. A numeric path part indexes a list
    (``judges.0.max_steps=4``); missing mapping levels are created (and, when ``created`` is
    given, their paths appended to it: a mapping made from nothing holds only what --set gave);
    an existing value that is not a mapping is never silently replaced by one."""
    for expr in overrides:
        path, value = parse_override(expr)
        node: Any = data
        for depth, k in enumerate(path):
            last = depth == len(path) - 1
            if isinstance(node, list):
                if not re.fullmatch(r"-?\d+", k):
                    raise ConfigError(f"override {expr!r}: '{'.'.join(path[:depth])}' is a list; index it by number",
                                      where="--set", hint=f"e.g. {'.'.join([*path[:depth], '0', *path[depth:]])}=...")
                i = int(k)
                if not -len(node) <= i < len(node):
                    raise ConfigError(f"override {expr!r}: index {i} out of range for '{'.'.join(path[:depth])}' "
                                      f"({len(node)} entries)", where="--set")
                if last:
                    node[i] = value
                else:
                    node = node[i]
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"override {expr!r}: '{'.'.join(path[:depth])}' is {node!r}, not a mapping",
                                  where="--set", hint=f"set the whole value: {'.'.join(path[:depth])}={{{k}: ...}}")
            if last:
                node[k] = value
            else:
                if node.get(k) is None:
                    node[k] = {}
                    if created is not None:
                        created.append(path[: depth + 1])
                node = node[k]
    return data


def _source_of(parts: list[str], overrides: Sequence[str]) -> str | None:
    """Who set the value at ``parts`` (or a key above or below it): the last override that did,
    ``--set`` or the typed option's name; None when the config file did."""
    if not parts:
        return None
    for o in reversed(overrides):
        k = parse_override(o)[0]
        if parts[: len(k)] == k or k[: len(parts)] == parts:
            return o.option if isinstance(o, OptionValue) else "--set"
    return None


def _made_by_set(parts: list[str], set_keys: list[list[str]], created: list[list[str]]) -> str | None:
    """A hint when the error is in a mapping --set made from nothing, above the keys it set (e.g. a
    backend without its type after ``--set gold.backend.rubric=x``): it holds only those keys."""
    if not parts or any(parts[: len(k)] == k for k in set_keys):  # the user's own key: the message says it all
        return None
    made = [c for c in created if parts[: len(c)] == c]
    if not made:
        return None
    # the deepest mapping on the error's path that --set wrote into (gold.backend for a backend without its type)
    depth = next(n for n in range(len(parts), len(made[0]) - 1, -1)
                 if n == len(made[0]) or any(k[:n] == parts[:n] for k in set_keys))
    here = ".".join(parts[:depth])
    given = [".".join(k) for k in set_keys if k[:depth] == parts[:depth]]
    return (f"--set made '{'.'.join(made[0])}' from nothing (the config has none), so '{here}' holds only "
            f"{', '.join(given)} and defaults: give it whole, e.g. --set '{here}={{...}}'")


def validate(model: type[T], data: dict[str, Any], where: str, overrides: list[str] | tuple[str, ...] = (),
             created: list[list[str]] | None = None) -> T:
    """Validate ``data`` against ``model``; the error names the first bad key and where it came
    from: ``--set`` when an override set it (or a key above it), else ``where`` (the file).
    ``created``: the mappings the overrides made from nothing (apply_overrides' ``created``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "<root>"
        set_keys = [parse_override(o)[0] for o in overrides]
        parts = [str(x) for x in err["loc"]]
        source = _source_of(parts, overrides)
        if source is not None:
            where = source
        elif parts and any(parts[: len(c)] == c for c in created or []):  # inside a mapping --set made
            where = "--set"
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc}'"
            hint = f"known keys here: {', '.join(_known_keys(model, err['loc'][:-1]))}"
        elif err["type"] == "list_type" and isinstance(value, dict) and value and all(
                re.fullmatch(r"-?\d+", str(k)) for k in value):  # --set policies.0.x=... with no policies list
            msg = f"'{loc}' is not set here, so --set cannot index it ({', '.join(f'{loc}.{k}' for k in value)})"
            hint = f"set the whole list, e.g. --set '{loc}=[{{...}}]', or put it in the config file"
        else:
            msg = f"bad value for '{loc}': {err['msg'].removeprefix('Value error, ')}"
            hint = None
        if hint is None:  # unknown keys and absent lists say enough already
            hint = _made_by_set(parts, set_keys, created or [])
        more = len(exc.errors()) - 1
        if more:
            msg += f" (+{more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(msg, where=where, hint=hint) from None


def _model_in(ann: Any) -> type[BaseModel] | None:
    """The config model inside an annotation: X, X | None, list[X], dict[str, X]."""
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        m = _model_in(arg)
        if m is not None:
            return m
    return None


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    cur: Any = model
    for part in loc:
        if isinstance(part, int):  # a list index: the element type was resolved with its field
            continue
        fields = getattr(cur, "model_fields", None)
        if not fields or part not in fields:
            return []
        cur = _model_in(fields[part].annotation)
        if cur is None:
            return []
    return sorted(getattr(cur, "model_fields", {}).keys())


def load_config(model: type[T], path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> T:
    data = load_yaml(path) if path else {}
    created: list[list[str]] = []
    data = apply_overrides(data, overrides, created)
    return validate(model, data, where=str(path) if path else "--set", overrides=overrides, created=created)


def require_unique(names: Sequence[Any], what: str, field: str, noun: str = "names", hint: str | None = None) -> None:
    """Raise ValueError (inside a validator: a config error) when a name repeats: ``'{what} names must
    be unique, repeated: a, b (set {field}[i].name)'``; ``noun`` and ``hint`` for values other than
    names (``require_unique(seeds, "policy", "policy.seeds", noun="seeds", hint=...)``)."""
    dup = sorted((n for n, k in Counter(names).items() if k > 1), key=str)
    if dup:
        raise ValueError(f"{what} {noun} must be unique, repeated: {', '.join(map(str, dup))} "
                         f"({hint or f'set {field}[i].name'})")
