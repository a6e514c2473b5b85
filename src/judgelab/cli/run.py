"""``judgelab run CONFIG.yaml``: every stage of the study in order, resumable (see judgelab.pipeline)."""

from __future__ import annotations

import click

from judgelab.cli.common import set_option


@click.command("run")
@click.argument("config_path", type=click.Path(dir_okay=False), required=False)
@click.option("--preset", default=None, help="Overlay a shipped preset on the config (e.g. 'tiny' for a smoke test).")
@click.option("--run-dir", default=None, help="Override run_dir from the config.")
@set_option
def command(config_path: str | None, preset: str | None, run_dir: str | None, overrides: tuple[str, ...]) -> None:
    """Run the whole study described by CONFIG_PATH; rerun to resume after a crash."""
    from judgelab.errors import ConfigError
    from judgelab.pipeline.config import load_run_config
    from judgelab.pipeline.runner import Pipeline

    if config_path is None and preset is None:
        # The built-in defaults are a full multi-hour study: never start one by accident.
        raise ConfigError("no run config given", where="judgelab run",
                          hint="pass one, e.g. `judgelab run examples/quickstart.yaml` (or --preset tiny for a smoke test)")
    if run_dir:
        overrides = (*overrides, f"run_dir={run_dir}")
    cfg = load_run_config(config_path, overrides, preset=preset)
    html = Pipeline(cfg, echo=click.echo).run()
    click.echo(f"open {html}")
