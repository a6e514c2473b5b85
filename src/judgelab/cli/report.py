"""``judgelab report``: RUN/report/report.html (+ PNGs) from whatever the run has."""

from __future__ import annotations

import click


@click.command("report")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
def command(run_dir: str) -> None:
    """Render the report (proxy-vs-gold curves, hacking flags, judge agreement, arena, samples)."""
    from judgelab.report.build import build_report

    click.echo(f"report: {build_report(run_dir)}")
