"""``judgelab sample``: generate N responses per prompt per policy into RUN/responses.jsonl."""

from __future__ import annotations

import click

from judgelab.cli.common import config_option, exit_if_all_failed, set_option


@click.command("sample")
@config_option
@set_option
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
def command(config_path: str | None, overrides: tuple[str, ...], run_dir: str) -> None:
    """Sample responses from the policies (default: smollm2-135m-instruct on creative-v1).

    Resumable: rerun the same command to finish an interrupted run. Another prompt set in the
    same run adds its prompts to RUN/prompts.jsonl (a prompt id whose text or constraints changed
    is refused). One `sample` per run at a time.
    """
    from judgelab.config import load_config
    from judgelab.sample import SampleConfig, sample

    config = load_config(SampleConfig, config_path, overrides)
    s = sample(config, run_dir)
    click.echo(
        f"sampled {s['generated']} new responses ({s['already_present']} already present) for "
        f"{s['prompts']} prompts x {len(s['policies'])} policies x {s['n']}; errors {s['errors']}; "
        f"{s['completion_tokens']} tokens in {s['seconds']} s -> {s['responses']}"
    )
    pf = s["prompts_file"]
    if pf["added"]:
        click.echo(f"prompts.jsonl: added {pf['added']} prompts to the run's {pf['total'] - pf['added']} "
                   f"(it lists every prompt the run has sampled from)")
    if s["errors"]:
        click.echo(f"{s['errors']} of {s['planned']} responses failed (see the log for why); rerun the same command "
                   "to retry only those", err=True)
    exit_if_all_failed(s["errors"], s["planned"], "response")
