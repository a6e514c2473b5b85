"""``judgelab run CONFIG.yaml``: every stage of the study in order, resumable (see judgelab.pipeline).

    judgelab run examples/quickstart.yaml --dry-run             # the plan and its cost, nothing loaded
    judgelab run examples/study.yaml --num-processes 8          # training stages on 8 GPUs (or CPU ranks)
    judgelab run examples/paper.yaml --accelerate-config examples/accelerate/zero3.yaml
"""

from __future__ import annotations

import click

from judgelab.cli.common import accelerate_config_option, num_processes_option, set_option


def run_overrides(overrides: tuple[str, ...], run_dir: str | None) -> tuple[str, ...]:
    """The --set overrides, then --run-dir as given (a path, never read as YAML; '' is refused by the config)."""
    from judgelab.config import option_value

    return overrides if run_dir is None else (*overrides, option_value("run_dir", run_dir, "--run-dir"))


@click.command("run")
@click.argument("config_path", type=click.Path(dir_okay=False), required=False)
@click.option("--preset", default=None, help="Overlay a shipped preset on the config (e.g. 'tiny' for a smoke test).")
@click.option("--run-dir", default=None, help="Override run_dir from the config.")
@set_option
@num_processes_option
@accelerate_config_option
@click.option("--dry-run", is_flag=True, default=False,
              help="Validate the config and print the plan (stages, models, counts, devices, GPU-hours and memory "
                   "per stage) without loading a model or touching the network.")
def command(config_path: str | None, preset: str | None, run_dir: str | None, overrides: tuple[str, ...],
            num_processes: int | None, accelerate_config: str | None, dry_run: bool) -> None:
    """Run the whole study described by CONFIG_PATH; rerun to resume after a crash.

    With --num-processes N (or --accelerate-config FILE) the training stages (each judge, each
    policy) run on N processes through accelerate; everything else runs in this process."""
    from judgelab.errors import ConfigError
    from judgelab.pipeline.config import load_run_config
    from judgelab.pipeline.launch import check_launch

    if config_path is None and preset is None:
        # The built-in defaults are a full multi-hour study: never start one by accident.
        raise ConfigError("no run config given", where="judgelab run",
                          hint="pass one, e.g. `judgelab run examples/quickstart.yaml` (or --preset tiny for a smoke test)")
    cfg = load_run_config(config_path, run_overrides(overrides, run_dir), preset=preset)
    launch = check_launch(num_processes, accelerate_config)
    if dry_run:
        from judgelab.pipeline.dry_run import plan_lines

        for line in plan_lines(cfg, launch, config_path or f"--preset {preset}"):
            click.echo(line)
        return
    from judgelab.pipeline.runner import Pipeline

    html = Pipeline(cfg, echo=click.echo, launch=launch).run()
    click.echo(f"open {html}")
