"""Options shared by subcommands."""

from __future__ import annotations

import click

config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML config file."
)
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. --set sampling.temperature=0.7"
)
