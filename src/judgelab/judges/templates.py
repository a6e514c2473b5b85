"""Prompt templates for judges. Shipped templates live in ``judges/templates/*.txt`` and are
selected by name (``pointwise_direct``); any path to a ``.txt`` file in the same format overrides.

Format: an optional ``[system]`` section, then a ``[user]`` section. Placeholders:
``{prompt}``, ``{response}``, ``{response_a}``, ``{response_b}``, ``{scale_min}``,
``{scale_max}``, ``{tie_option}``. Literal braces are written ``{{`` and ``}}``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from judgelab.errors import ConfigError
from judgelab.judges.types import Item, Mode, PairwiseItem, PointwiseItem, Style

TEMPLATE_DIR = Path(__file__).parent / "templates"
_FIELDS = {"prompt", "response", "response_a", "response_b", "scale_min", "scale_max", "tie_option"}


@dataclass(frozen=True)
class Template:
    name: str
    system: str | None
    user: str

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


def parse_template_text(text: str, name: str) -> Template:
    system, user = None, None
    if "[user]" not in text:
        raise ConfigError("template has no [user] section", where=name, hint="see judges/templates/*.txt")
    head, user = text.split("[user]", 1)
    if "[system]" in head:
        system = head.split("[system]", 1)[1].strip() or None
    user = user.strip()
    for section in (system or "", user):
        for _, field, _, _ in string.Formatter().parse(section):
            if field is not None and field not in _FIELDS:
                raise ConfigError(
                    f"unknown placeholder {{{field}}}", where=name, hint=f"known: {', '.join(sorted(_FIELDS))}"
                )
    return Template(name=name, system=system, user=user)


def available_templates() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.txt"))


@lru_cache(maxsize=64)
def load_template(spec: str | None, mode: Mode, style: Style) -> Template:
    """``spec`` is a shipped name, a path to a file, or None for ``{mode}_{style}``."""
    name = spec or f"{mode}_{style}"
    path = Path(name)
    if path.suffix == ".txt" or path.exists():
        if not path.exists():
            raise ConfigError("template file not found", where=str(path))
        return parse_template_text(path.read_text(encoding="utf-8"), str(path))
    shipped = TEMPLATE_DIR / f"{name}.txt"
    if not shipped.exists():
        raise ConfigError(
            f"unknown template '{name}'", hint=f"use a path to a .txt file or one of: {', '.join(available_templates())}"
        )
    return parse_template_text(shipped.read_text(encoding="utf-8"), name)
