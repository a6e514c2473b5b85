"""The ``judgelab`` command. Each subcommand lives in its own module (``cli/<name>.py``), stays
thin (parse config, call one library function) and imports heavy libraries lazily.

Bad input raises JudgelabError; ``main`` prints it on one line and exits with code 2. A command
that ran but whose every item failed (e.g. the judge server is down) exits with code 3
(``EXIT_ALL_FAILED``) after its summary line; Ctrl-C exits with 130.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import warnings

import click

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
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, m in COMMANDS.items() if importlib.util.find_spec(f"judgelab.cli.{m}") is not None)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        mod = COMMANDS.get(name)
        if mod is None:
            return None
        try:
            return importlib.import_module(f"judgelab.cli.{mod}").command
        except ModuleNotFoundError as exc:
            if exc.name == f"judgelab.cli.{mod}":
                return None
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="judgelab")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """judgelab: train, run and stress-test LLM judges used as RL rewards."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from judgelab.redact import install_log_filter

    install_log_filter()  # no credential reaches the terminal or a log file, at any level


def _quiet_libraries() -> None:
    """Library deprecation chatter and per-dataset-op progress bars drown the stage output."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")
    warnings.filterwarnings("ignore", message=r".*pin_memory.*no accelerator is found.*")
    if not sys.stderr.isatty():
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _quiet_libraries()
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
