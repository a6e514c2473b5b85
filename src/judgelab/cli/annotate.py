"""``judgelab annotate``: gold-label pairs (both orders) and points of RUN/responses.jsonl."""

from __future__ import annotations

import click

from judgelab.cli.common import config_option, exit_if_all_failed, set_option


@click.command("annotate")
@config_option
@set_option
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
def command(config_path: str | None, overrides: tuple[str, ...], run_dir: str) -> None:
    """Label response pairs with the gold judge (default: rubric gold, reasoning style).

    Resumable at any moment: rerun the same command after a crash or kill.
    Writes RUN/annotations/{pairs,points}.jsonl, summary.json and gold_hist.png.
    """
    from judgelab.annotate.stage import AnnotateConfig, annotate, format_summary
    from judgelab.config import load_config

    config = load_config(AnnotateConfig, config_path, overrides)
    summary = annotate(config, run_dir)
    click.echo(format_summary(summary))
    rows = [summary.get("pairs", {}), summary.get("points", {})]
    exit_if_all_failed(sum(r.get("errors", 0) for r in rows), sum(r.get("total", 0) for r in rows), "annotation row")
