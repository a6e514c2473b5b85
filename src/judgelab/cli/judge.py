"""`judgelab judge`: judge a JSONL file of items with a configured judge (see judgelab.judges.files).

The judge (``-c``) is a judge YAML, a trained judge folder or a registered name. Verdicts are
cached in a SQLite judgment store beside the output (``--store`` moves it, ``--no-store`` turns it
off), so a killed run resumes where it stopped. One writer per output: a second `judgelab judge`
on the same OUTPUT stops with a one-line message (exit 2). Prints a one-line summary; a warning
on stderr when no verdict parsed (exit 0: model output is never bad input; exit 3 only when every
item failed).
"""

from __future__ import annotations

from pathlib import Path

import click

from judgelab.cli.common import exit_if_all_failed, set_option
from judgelab.data.lock import writer_lock
from judgelab.errors import ConfigError


# Not common.config_option (a YAML file only): the judge may be a trained judge folder too.
judge_config_option = click.option(
    "-c", "--config", "config_path", type=click.Path(), default=None, metavar="JUDGE",
    help="The judge: a judge YAML (--set applies to it), a trained judge folder (train-judge output) or a "
         "registered name such as rubric-gold.")


@click.command("judge")
@judge_config_option
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="Items JSONL (pointwise or pairwise rows).")
@click.option("-o", "--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Verdicts JSONL to write.")
@click.option("--store", "store_path", default=None, type=click.Path(dir_okay=False),
              help="SQLite judgment store (default: OUTPUT's name with .store.sqlite): cached verdicts are "
                   "reused, new ones committed as they arrive.")
@click.option("--no-store", is_flag=True, help="Keep no store: a killed run starts over.")
@set_option
def command(config_path: str | None, input_path: str, output_path: str, store_path: str | None, no_store: bool,
            overrides: tuple[str, ...]) -> None:
    """Judge ITEMS with the judge in CONFIG; write one verdict per line."""
    from judgelab.config import apply_overrides, load_yaml
    from judgelab.judges.files import check_paths, default_store_path, judge_file
    from judgelab.judges.registry import resolve_judge_spec
    from judgelab.redact import redact

    if config_path is None:
        raise ConfigError("no judge config", where="--config",
                          hint="pass --config JUDGE.yaml (see examples/judge_*.yaml), a trained judge folder or a "
                               "registered name such as rubric-gold")
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise ConfigError("output would overwrite the input", where="--output", hint="choose another file")
    if no_store and store_path:
        raise ConfigError("--store and --no-store together", where="judgelab judge", hint="pass one of them")
    store = None if no_store else Path(store_path or default_store_path(output_path))
    if Path(config_path).is_file():  # a judge YAML (a judge config or an ensemble), --set applies to it
        created: list[list[str]] = []
        data = apply_overrides(load_yaml(config_path), list(overrides), created)
        if not data:  # an empty file would silently mean "the default judge"
            raise ConfigError("the judge config is empty", where=config_path,
                              hint="name at least the backend (see examples/judge_*.yaml)")
        config = resolve_judge_spec(data, where=config_path, overrides=overrides, created=created)
    elif overrides:
        raise ConfigError("--set needs a judge YAML", where="--set", hint="write the changed judge to a YAML file")
    else:  # a trained judge folder or a registered name
        config = resolve_judge_spec(config_path, where="--config")
    check_paths(input_path, output_path, store)  # before the lock and any model
    # One writer per output: a second `judge -o` on the same file stops here, before any model loads.
    with writer_lock(output_path, "this output", hint="wait for that `judgelab judge` to finish, then rerun: "
                     "its verdicts come from the store" if store else "wait for it to finish, or write elsewhere"):
        s = judge_file(config, input_path, output_path, store)
    click.echo(
        f"judged {s['count']} items ({s['pointwise']} pointwise, {s['pairwise']} pairwise): "
        f"parsed {s['parsed']}, parse failures {s['parse_failures']}, failures {s['failures']}, "
        f"cached {s['cached']}, {s['seconds']:.2f} s -> {s['output']}" + (f" (store: {store})" if store else "")
    )
    for message, n in s["errors"]:  # the causes, not only a count (each verdict's "error" has its own)
        first = redact(message).strip().splitlines()[0] if message.strip() else "(no message)"
        click.echo(f"warning: {n} item(s) failed: {first}", err=True)
    if s.get("generic_only"):
        click.echo(f"note: {s['generic_only']} of {s['count']} items have no meta.constraints (and no family that "
                   "implies some): the rubric scored them on its generic criteria only (docs/gold_rubric.md)", err=True)
    if s["parse_failures"] and not s["parsed"]:
        # Not an error (the raw text is kept in each verdict), but nothing usable came out.
        click.echo(f"warning: no verdict parsed ({s['parse_failures']} of {s['count']} items are parse failures): "
                   f"each verdict keeps the judge's text in 'raw' ({s['output']}); check the judge's template and "
                   f"scale", err=True)
    exit_if_all_failed(s["failures"], s["count"], "item")

