"""Options shared by subcommands."""

from __future__ import annotations

import os
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
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config key (repeatable): a dotted path into the config, the value read as YAML, e.g. "
         "--set seed=1, or for `run` a stage's key such as --set sample.n=2.")

JUDGE_SPEC = "a judge spec: a trained judge folder, a judge YAML or a registered name such as rubric-gold"


def config_has(config_path: str | None, overrides: Sequence[str], key: str) -> bool:
    """Whether the -c file or a --set override gives top-level ``key`` (a non-null value)."""
    from judgelab.config import apply_overrides, load_yaml

    data: Any = load_yaml(config_path) if config_path else {}
    data = apply_overrides(data if isinstance(data, dict) else {}, list(overrides))
    return isinstance(data, dict) and data.get(key) is not None


def with_options(overrides: Sequence[str], options: Mapping[str, Any]) -> list[str]:
    """The --set overrides plus one override per command-line option given, for load_config: None
    is an option not given; a tuple (a repeatable option) becomes a list, or nothing when empty.
    The options' values are set as given (judgelab.config.option_value), never read as YAML: a path
    with ``#`` or ``: `` in it, or a name like ``2024`` or ``on``, stays the string it is."""
    from judgelab.config import option_value

    extra = list(overrides)
    for key, val in options.items():
        if val is None or (isinstance(val, tuple) and not val):
            continue
        extra.append(option_value(key, val, _option_name(key, val)))
    return extra


def _option_name(key: str, value: Any) -> str:
    """The option that gave ``value`` (``--selector``), found among the current command's parameters,
    for error messages; the config key when no single option holds it."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        names = [p.opts[-1] for p in ctx.command.params
                 if isinstance(p, click.Option) and ctx.params.get(p.name or "") is value]
        if len(names) == 1:
            return names[0]
    return f"option {key}"


num_processes_option = click.option(
    "--num-processes", "num_processes", type=int, default=None, metavar="N",
    help="Train on N processes: re-launches this command under `accelerate launch` (one per GPU; gloo ranks on "
         "a CPU). See docs/guide/scaling.md.")
accelerate_config_option = click.option(
    "--accelerate-config", "accelerate_config", type=click.Path(dir_okay=False), default=None, metavar="FILE",
    help="Launch through this accelerate config (DeepSpeed ZeRO-2/3, FSDP, several nodes: examples/accelerate/); "
         "--num-processes overrides its num_processes.")

_LAUNCH_PARAMS = ("num_processes", "accelerate_config")


def command_line(ctx: click.Context) -> list[str]:
    """This command's judgelab arguments rebuilt from its parsed parameters (global options first),
    without the launch options: what each launched rank runs."""
    out: list[str] = []
    root = ctx.find_root()
    if root is not ctx:
        out += ["-v"] * int(root.params.get("verbose") or 0)
        if root.params.get("log_file"):
            out += ["--log-file", str(root.params["log_file"])]
        out.append(str(ctx.info_name))
    args: list[str] = []
    for p in ctx.command.params:
        value = ctx.params.get(p.name or "")
        if p.name in _LAUNCH_PARAMS or value is None:
            continue
        if isinstance(p, click.Argument):
            args.append(str(value))
        elif isinstance(p, click.Option):
            if p.is_flag:
                if value != p.default:
                    out.append(p.opts[-1] if value else p.secondary_opts[-1])
                continue
            for v in (value if p.multiple else (value,)):
                out += [p.opts[-1], str(v)]
    return [*out, *args]


def relaunch_if_asked(num_processes: int | None, accelerate_config: str | None) -> bool:
    """With --num-processes N > 1 or --accelerate-config, run this very command under accelerate
    and exit with its code (True is never returned then); False: go on in this process."""
    from judgelab.pipeline.launch import check_launch, run_launched

    launch = check_launch(num_processes, accelerate_config)
    if not launch.active:
        return False
    ctx = click.get_current_context()
    code = run_launched(launch, command_line(ctx))
    if code:
        click.echo(f"error: judgelab {ctx.info_name} under accelerate launch exited with code {code}; the ranks' "
                   f"own lines above say why", err=True)
    sys.exit(code)


def announce_rank(command: str) -> None:
    """Under a launcher, each rank says who it is (stderr), so a log shows every rank started."""
    from judgelab.models.devices import dist_rank

    rank, local, world = dist_rank()
    if world > 1:
        click.echo(f"[rank {rank}/{world}] judgelab {command} started (local rank {local}, pid {os.getpid()})", err=True)
