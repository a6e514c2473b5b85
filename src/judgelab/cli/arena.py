"""``judgelab arena``: Arena-Hard-style leaderboard of any models against a baseline, by any judges.

    judgelab arena --baseline base=answers/base.jsonl --model mine=answers/mine.jsonl \\
        --model runs/quick/policies/oracle/checkpoint-40 --model served=openai:smollm2@http://127.0.0.1:8000/v1 \\
        --judge rubric-gold --judge runs/quick/judges/direct-sft --out arena/

    # an Arena-Hard-Auto leaderboard from its published judgments (no judge called), and a new model added to it
    judgelab arena --judgments data/arena-hard-v2.0/model_judgment/gpt-4.1 --out lb/
    judgelab arena --judgments data/arena-hard-v2.0/model_judgment/gpt-4.1 --model mine=mine.jsonl --judge J --out lb/
"""

from __future__ import annotations

import click

from judgelab.cli.common import config_option, set_option


@click.command("arena")
@config_option
@set_option
@click.option("--baseline", default=None, metavar="[NAME=]SOURCE",
              help="The baseline contestant (win rate 50%, rating 1000): a .jsonl response file, a checkpoint "
                   "folder / model id, or openai:MODEL@BASE_URL. With --judgments: the judgments' own baseline "
                   "by default (its name or NAME=answers.jsonl).")
@click.option("--model", "models", multiple=True, metavar="[NAME=]SOURCE", help="A contestant (repeatable), as --baseline.")
@click.option("--judge", "judges", multiple=True, metavar="SPEC",
              help="A pairwise judge (repeatable): judge YAML, train-judge folder or registered name (rubric-gold).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (arena.json, leaderboard.csv/.md, answers/, judgments.sqlite; reruns resume).")
@click.option("--prompts", default=None, help="Prompt file or shipped set (default: the baseline file's prompts).")
@click.option("--split", default=None, help="Split of --prompts to use.")
@click.option("--limit", default=None, type=click.IntRange(1), help="At most this many prompts.")
@click.option("--style", type=click.Choice(["none", "length", "markdown", "both"]), default=None,
              help="Style control features (default both; with --judgments none, as Arena-Hard's show_result.py).")
@click.option("--bootstrap", default=None, type=click.IntRange(0), help="Bootstrap resamples (default 200).")
@click.option("--tokenizer", default=None, help="HF tokenizer for lengths in tokens (default: a word/punctuation proxy).")
@click.option("--judgments", "judgments", multiple=True, metavar="DIR_OR_FILE",
              help="Arena-Hard-Auto judgment files, or folders of them (data/<bench>/model_judgment/<judge>/; "
                   "repeatable): their battles as they are, no judge called. With --model and --judge, the new "
                   "models are judged against the same baseline and join the same leaderboard.")
@click.option("--answers", default=None, type=click.Path(file_okay=False), metavar="DIR",
              help="With --judgments: Arena-Hard's model_answer folder (the baseline's answers, style metadata; "
                   "default: the one beside the judgments).")
@click.option("--category", default=None,
              help="With --judgments: the category to rate (one baseline each; default: the only one, else hard_prompt).")
def command(config_path: str | None, overrides: tuple[str, ...], baseline: str | None, models: tuple[str, ...],
            judges: tuple[str, ...], out_dir: str, prompts: str | None, split: str | None, limit: int | None,
            style: str | None, bootstrap: int | None, tokenizer: str | None, judgments: tuple[str, ...],
            answers: str | None, category: str | None) -> None:
    """Judge every model's answers against the baseline's (both orders, every judge), or read
    Arena-Hard-Auto's judgments (--judgments); print the leaderboard."""
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
    result = run_arena(config, baseline, list(models), list(judges), out_dir, prompts=prompts, split=split, limit=limit,
                       judgments=list(judgments), answers=answers, category=category)
    click.echo(leaderboard_markdown(result))
    for name, t in result["judges"].items():
        v = t.get("verdicts")
        if v is None:  # a published judge: nothing was judged here
            continue
        click.echo(f"{name}: {v.get('pairs', 0)} pairs, {v.get('failed_pairs', 0)} dropped (a failed order), "
                   f"{v.get('strong_verdicts', 0)} strong verdicts of {v.get('verdicts', 0)}")
    published = (result.get("published") or {}).get("notes", [])
    for w in published + coverage_notes(result) + report_warnings(result):
        click.echo(f"note: {w}")
    click.echo(f"-> {Path(out_dir) / 'arena.json'}, leaderboard.csv, leaderboard.md")
