"""The ``judgelab`` command. Each subcommand lives in its own module (``cli/<name>.py``), stays
thin (parse config, call one library function) and imports heavy libraries lazily.

Bad input raises JudgelabError; ``main`` prints it on one line and exits with code 2. A command
that ran but whose every item failed (e.g. the judge server is down) exits with code 3
(``EXIT_ALL_FAILED``) after its summary line; Ctrl-C exits with 130.

What goes where (judgelab's lines on the terminal, library output in the log file) is
``judgelab.cli.logs``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from judgelab.cli.logs import remember_argv, setup_logging, with_log_file
from judgelab.errors import JudgelabError

# command name -> module under judgelab.cli exposing a click command called ``command``
COMMANDS = {
    "serve": "serve",
    "judge": "judge",
    "sample": "sample",
    "annotate": "annotate",
    "export": "export",
    "train-judge": "train_judge",
    "eval-judge": "eval_judge",
    "train-policy": "train_policy",
    "evaluate": "evaluate",
    "adversarial": "adversarial",
    "report": "report",
    "run": "run",
    "doctor": "doctor",
    "arena": "arena",
    "attacks": "attacks",
    "best-of-n": "best_of_n",
    "judge-scaling": "judge_scaling",
    "gold-check": "gold_check",
    "audit": "audit",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, m in COMMANDS.items() if importlib.util.find_spec(f"judgelab.cli.{m}") is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        mod = COMMANDS.get(name)
        if mod is None:
            return None
        try:
            cmd = importlib.import_module(f"judgelab.cli.{mod}").command
        except ModuleNotFoundError as exc:
            if exc.name == f"judgelab.cli.{mod}":
                return None
            raise
        return with_log_file(cmd, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="judgelab")
@click.option("-v", "--verbose", count=True, help="More on the terminal (-v judgelab's info lines, -vv debug and library lines).")
@click.option("--log-file", type=click.Path(dir_okay=False), envvar="JUDGELAB_LOG_FILE", default=None,
              help="Where library warnings, model load reports and trainer metrics go (appended). Default: "
                   "RUN_DIR/logs/judgelab.log for commands with a run directory, else ~/.cache/judgelab/logs/COMMAND.log.")
def cli(verbose: int, log_file: str | None) -> None:
    """judgelab: train, run and stress-test LLM judges used as RL rewards."""
    setup_logging(verbose, log_file)


def _quiet_libraries() -> None:
    """Library progress bars are not judgelab's: judgelab shows its own (judgelab.progress)."""
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _quiet_libraries()
    remember_argv(list(sys.argv[1:] if argv is None else argv))
    try:
        cli.main(args=argv, standalone_mode=False)
    except JudgelabError as exc:
        click.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(0)
