"""``judgelab export``: a run's gold annotations -> TRL-ready Parquet / JSONL / HF dataset."""

from __future__ import annotations

import click


@click.command("export")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl", "hf"]), default="parquet", show_default=True)
@click.option("--out", "out", required=True, type=click.Path(), help="Output folder (preferences.* and scores.*).")
@click.option("--keep-ties/--drop-ties", default=False, show_default=True, help="Keep tied pairs (chosen = A).")
@click.option(
    "--conversational/--standard", default=True, show_default=True,
    help="Messages lists (TRL conversational) or plain strings.",
)
@click.option("--overwrite", is_flag=True, help="Replace preferences.* / scores.* already in --out.")
def command(run_dir: str, fmt: str, out: str, keep_ties: bool, conversational: bool, overwrite: bool) -> None:
    """Export RUN/annotations to prompt/chosen/rejected and prompt/completion/score datasets."""
    from judgelab.data.export import export_run

    s = export_run(run_dir, out, fmt, drop_ties=not keep_ties, conversational=conversational,  # type: ignore[arg-type]
                   overwrite=overwrite)
    if "preferences" in s:
        p = s["preferences"]
        click.echo(f"preferences: {p['rows']} rows ({p['dropped']} ties/failed dropped) -> {p['path']}")
    if "scores" in s:
        click.echo(f"scores: {s['scores']['rows']} rows -> {s['scores']['path']}")
