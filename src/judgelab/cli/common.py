"""Options shared by subcommands."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

# Exit code of a command that ran to the end but whose every item failed (nothing usable written).
EXIT_ALL_FAILED = 3


def exit_if_all_failed(failed: int, total: int, what: str) -> None:
    """Exit with EXIT_ALL_FAILED (after the caller printed its summary) when every item failed."""
    if total and failed >= total:
        click.echo(f"error: every {what} failed ({failed} of {total}); see the errors above", err=True)
        sys.exit(EXIT_ALL_FAILED)

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML config file."
)
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. --set sampling.temperature=0.7"
)

JUDGE_SPEC = "a judge spec: a trained judge folder, a judge YAML or a registered name such as rubric-gold"


def config_has(config_path: str | None, overrides: Sequence[str], key: str) -> bool:
    """Whether the -c file or a --set override gives top-level ``key`` (a non-null value)."""
    from judgelab.config import apply_overrides, load_yaml

    data: Any = load_yaml(config_path) if config_path else {}
    data = apply_overrides(data if isinstance(data, dict) else {}, list(overrides))
    return isinstance(data, dict) and data.get(key) is not None


def with_options(overrides: Sequence[str], options: Mapping[str, Any]) -> list[str]:
    """The --set overrides plus one ``KEY=VALUE`` per command-line option given, for load_config:
    None is an option not given; a tuple (a repeatable option) becomes ``KEY=[a,b]``, or nothing when empty."""
    extra = list(overrides)
    for key, val in options.items():
        if isinstance(val, tuple):
            if val:
                extra.append(f"{key}=[{','.join(map(str, val))}]")
        elif val is not None:
            extra.append(f"{key}={val}")
    return extra
