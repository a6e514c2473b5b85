"""``judgelab arena``: Arena-Hard-style leaderboard of any models against a baseline, by any judges.

    judgelab arena --baseline base=answers/base.jsonl --model mine=answers/mine.jsonl \\
        --model runs/quick/policies/oracle/checkpoint-40 --model served=openai:smollm2@http://127.0.0.1:8000/v1 \\
        --judge rubric-gold --judge runs/quick/judges/direct-sft --out arena/
"""

from __future__ import annotations

import click

from judgelab.cli.common import config_option, set_option


@click.command("arena")
@config_option
@set_option
@click.option("--baseline", required=True, metavar="[NAME=]SOURCE",
              help="The baseline contestant (win rate 50%, rating 1000): a .jsonl response file, a checkpoint "
                   "folder / model id, or openai:MODEL@BASE_URL.")
@click.option("--model", "models", multiple=True, metavar="[NAME=]SOURCE", help="A contestant (repeatable), as --baseline.")
@click.option("--judge", "judges", multiple=True, metavar="SPEC",
              help="A pairwise judge (repeatable): judge YAML, train-judge folder or registered name (rubric-gold).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (arena.json, leaderboard.csv/.md, answers/, judgments.sqlite; reruns resume).")
@click.option("--prompts", default=None, help="Prompt file or shipped set (default: the baseline file's prompts).")
@click.option("--split", default=None, help="Split of --prompts to use.")
@click.option("--limit", default=None, type=click.IntRange(1), help="At most this many prompts.")
@click.option("--style", type=click.Choice(["none", "length", "markdown", "both"]), default=None,
              help="Style control features (default both).")
@click.option("--bootstrap", default=None, type=click.IntRange(0), help="Bootstrap resamples (default 200).")
@click.option("--tokenizer", default=None, help="HF tokenizer for lengths in tokens (default: a word/punctuation proxy).")
def command(config_path: str | None, overrides: tuple[str, ...], baseline: str, models: tuple[str, ...],
            judges: tuple[str, ...], out_dir: str, prompts: str | None, split: str | None, limit: int | None,
            style: str | None, bootstrap: int | None, tokenizer: str | None) -> None:
    """Judge every model's answers against the baseline's (both orders, every judge); print the leaderboard."""
    from pathlib import Path

    from judgelab.config import load_config
    from judgelab.evaluate.arena.config import ArenaRunConfig
    from judgelab.evaluate.arena.contestants import coverage_notes
    from judgelab.evaluate.arena.leaderboard import leaderboard_markdown
    from judgelab.evaluate.arena.run import run_arena
    from judgelab.evaluate.arena.tables import report_warnings

    config = load_config(ArenaRunConfig, config_path, overrides)
    update = {k: v for k, v in (("style", style), ("bootstrap", bootstrap), ("tokenizer", tokenizer)) if v is not None}
    config = ArenaRunConfig.model_validate({**config.model_dump(), **update})
    result = run_arena(config, baseline, list(models), list(judges), out_dir, prompts=prompts, split=split, limit=limit)
    click.echo(leaderboard_markdown(result))
    for name, t in result["judges"].items():
        v = t.get("verdicts", {})
        click.echo(f"{name}: {v.get('pairs', 0)} pairs, {v.get('failed_pairs', 0)} dropped (a failed order), "
                   f"{v.get('strong_verdicts', 0)} strong verdicts of {v.get('verdicts', 0)}")
    for w in coverage_notes(result) + report_warnings(result):
        click.echo(f"note: {w}")
    click.echo(f"-> {Path(out_dir) / 'arena.json'}, leaderboard.csv, leaderboard.md")
