"""``judgelab doctor``: check a run directory after a crash; repair what is safe, name the rest."""

from __future__ import annotations

import sys

import click


@click.command("doctor")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--dry-run", is_flag=True, help="Report only; change nothing.")
def command(run_dir: str, dry_run: bool) -> None:
    """Check RUN_DIR: cut torn JSONL tails, remove temp files of interrupted writes, reset done
    markers whose output is short; report lines a person must fix. Exit 1 if any remain."""
    from judgelab.data.doctor import doctor

    rep = doctor(run_dir, repair=not dry_run)
    for line in rep.repaired:
        click.echo(f"{'found' if dry_run else 'repaired'}: {line}")
    for line in rep.problems:
        click.echo(f"problem: {line}", err=True)
    click.echo(f"{run_dir}: {len(rep.repaired)} {'repairable' if dry_run else 'repaired'}, {len(rep.problems)} to fix by hand")
    if rep.problems:
        sys.exit(1)
