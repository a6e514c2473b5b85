"""Options shared by subcommands."""

from __future__ import annotations

import sys

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
