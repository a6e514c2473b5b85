"""Prompt templates for judges. Shipped templates live in ``judges/templates/*.txt`` and are
selected by name (``pointwise_direct``); any path to a ``.txt`` file in the same format overrides.

Format: an optional ``[system]`` section, then a ``[user]`` section. Placeholders:
``{prompt}``, ``{response}`` (pointwise), ``{response_a}``, ``{response_b}`` (pairwise),
``{scale_min}``, ``{scale_max}``, ``{verdict_options}`` (the allowed pairwise answers, with or
without the tie "[[C]]"), ``{tie_option}`` (older form: ``' or "[[C]]" for a tie'`` or empty),
``{winner_options}`` (the JSON templates' values: ``"A", "B" or "tie"`` or ``"A" or "B"``).
Literal braces in a template are written ``{{`` and ``}}``; braces inside prompts and responses
need nothing (values are substituted, never re-parsed as format strings).

Shipped templates (``available_templates()``): ``{pointwise,pairwise}_direct`` (verdict only),
``{pointwise,pairwise}_reasoning`` (``<think>...</think>`` then the verdict line),
``{pointwise,pairwise}_cot`` (a few sentences, then the verdict line; for models without think
tags), ``pairwise_arena`` / ``pairwise_arena_reasoning`` (Arena-Hard labels ``[[A>>B]]`` ...
``[[B>>A]]``, which the parser maps to a preference and a strength), ``{pointwise,pairwise}_json``
(a JSON verdict ``{"reasoning": ..., "score": N}`` / ``{..., "winner": "A"}``; the default with
``response_format: json``). Each ends with the exact
answer format, because small judges copy the last instruction they read.

A template is checked when loaded: unknown placeholders, unbalanced braces, and placeholders of
the wrong mode (``{response}`` in a pairwise template) raise ConfigError naming the template.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from judgelab.errors import ConfigError
from judgelab.judges.types import Item, Mode, PairwiseItem, PointwiseItem, Style

TEMPLATE_DIR = Path(__file__).parent / "templates"
_FIELDS = {"prompt", "response", "response_a", "response_b", "scale_min", "scale_max", "tie_option", "verdict_options",
           "winner_options"}
# Placeholders a template of each mode must use, and those it must not (they would render empty).
_REQUIRED = {"pointwise": {"response"}, "pairwise": {"response_a", "response_b"}}
_FORBIDDEN = {"pointwise": {"response_a", "response_b"}, "pairwise": {"response"}}


def verdict_options(allow_tie: bool) -> str:
    """The pairwise answers a template offers, as shown to the model."""
    if allow_tie:
        return '"[[A]]" if Response A is better, "[[B]]" if Response B is better, or "[[C]]" for a tie'
    return '"[[A]]" if Response A is better or "[[B]]" if Response B is better'


@dataclass(frozen=True)
class Template:
    name: str
    system: str | None
    user: str

    @property
    def fields(self) -> set[str]:
        """Placeholders the template uses."""
        return _placeholders(self.system or "", self.name) | _placeholders(self.user, self.name)

    @property
    def text(self) -> str:
        """Canonical text, part of every judgment's cache key."""
        return f"[system]\n{self.system or ''}\n[user]\n{self.user}"

    def render(self, item: Item, scale: tuple[int, int] = (1, 10), allow_tie: bool = True) -> list[dict[str, str]]:
        values = {
            "prompt": item.prompt,
            "scale_min": scale[0],
            "scale_max": scale[1],
            "tie_option": ' or "[[C]]" for a tie' if allow_tie else "",
            "verdict_options": verdict_options(allow_tie),
            "winner_options": '"A", "B" or "tie"' if allow_tie else '"A" or "B"',
        }
        if isinstance(item, PointwiseItem):
            values["response"] = item.response
        elif isinstance(item, PairwiseItem):
            values["response_a"] = item.response_a
            values["response_b"] = item.response_b
        messages = []
        if self.system:
            messages.append({"role": "system", "content": self.system.format_map(_Missing(values))})
        messages.append({"role": "user", "content": self.user.format_map(_Missing(values))})
        return messages


class _Missing(dict):
    def __missing__(self, key: str) -> str:  # a field the item lacks renders empty
        return ""


def _placeholders(section: str, name: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(section))
    except ValueError as e:  # "Single '}' encountered", "unmatched '{'"
        raise ConfigError(f"malformed template: {e}", where=name, hint="write literal braces as {{ and }}") from None
    return {field for _, field, _, _ in parsed if field is not None}


def parse_template_text(text: str, name: str, mode: Mode | None = None) -> Template:
    """Parse the ``[system]``/``[user]`` file format; with ``mode``, also check the placeholders fit it."""
    system, user = None, None
    if "[user]" not in text:
        raise ConfigError("template has no [user] section", where=name, hint="see judges/templates/*.txt")
    head, user = text.split("[user]", 1)
    if "[system]" in head:
        system = head.split("[system]", 1)[1].strip() or None
    user = user.strip()
    fields = _placeholders(system or "", name) | _placeholders(user, name)
    for field in sorted(fields):
        if field not in _FIELDS:
            raise ConfigError(
                f"unknown placeholder {{{field}}}", where=name, hint=f"known: {', '.join(sorted(_FIELDS))}"
            )
    if mode is not None:
        for field in sorted(_FORBIDDEN[mode] & fields):
            raise ConfigError(
                f"placeholder {{{field}}} does not belong in a {mode} template", where=name,
                hint=f"a {mode} template uses {', '.join('{' + f + '}' for f in sorted(_REQUIRED[mode]))}",
            )
        for field in sorted(_REQUIRED[mode] - fields):
            raise ConfigError(f"{mode} template lacks placeholder {{{field}}}", where=name)
    return Template(name=name, system=system, user=user)


def available_templates(mode: Mode | None = None) -> list[str]:
    """Names of the shipped templates (of one mode when given)."""
    names = sorted(p.stem for p in TEMPLATE_DIR.glob("*.txt"))
    return [n for n in names if mode is None or n.startswith(mode + "_")]


@lru_cache(maxsize=64)
def _shipped(name: str, mode: Mode) -> Template:
    return parse_template_text((TEMPLATE_DIR / f"{name}.txt").read_text(encoding="utf-8"), name, mode)


def load_template(spec: str | None, mode: Mode, style: Style) -> Template:
    """``spec`` is a shipped name, a path to a file, or None for ``{mode}_{style}``.

    Files are re-read on every call (so an edited file takes effect); shipped ones are cached."""
    name = spec or f"{mode}_{style}"
    path = Path(name).expanduser()
    if path.suffix == ".txt" or path.exists() or "/" in name or "\\" in name:
        if not path.is_file():
            raise ConfigError("template file not found", where=str(path), hint="give a path to a .txt template")
        return parse_template_text(path.read_text(encoding="utf-8"), str(path), mode)
    if not (TEMPLATE_DIR / f"{name}.txt").exists():
        raise ConfigError(
            f"unknown template '{name}'",
            hint=f"use a path to a .txt file or one of: {', '.join(available_templates(mode))}",
        )
    return _shipped(name, mode)
