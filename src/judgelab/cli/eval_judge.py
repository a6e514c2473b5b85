"""``judgelab eval-judge``: reliability of any judge on a run's held-out gold annotations.

    judgelab eval-judge --judge runs/quick/judges/direct-sft --run runs/quick
    judgelab eval-judge --judge judges/gpt_oss.yaml --run runs/quick --samples 5 --split test
"""

from __future__ import annotations

import click


@click.command("eval-judge")
@click.option("--judge", "judge_spec", required=True, help="Checkpoint folder (train-judge output) or judge YAML.")
@click.option("--run", "run_dir", type=click.Path(file_okay=False, exists=True), required=True, help="Run directory.")
@click.option("--split", default="test", show_default=True, help="Annotation split to evaluate on.")
@click.option("--samples", default=1, show_default=True, type=click.IntRange(1), help="k > 1: self-consistency over k samples.")
@click.option("--temperature", "sample_temperature", default=0.7, show_default=True, type=float,
              help="Sampling temperature for --samples when the judge itself is greedy.")
@click.option("--mode", type=click.Choice(["pairwise", "pointwise"]), default=None,
              help="Judge mode (default: from the checkpoint, else pairwise).")
@click.option("--no-pointwise", is_flag=True, help="Skip pointwise scoring (and the pointwise/pairwise check).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Output folder (default run/eval/judges).")
@click.option("--name", default=None, help="Override the judge name (file name of the results).")
def command(judge_spec: str, run_dir: str, split: str, samples: int, sample_temperature: float, mode: str | None,
            no_pointwise: bool, out_dir: str | None, name: str | None) -> None:
    """Accuracy vs gold, position/self/pointwise consistency, ties, parse failures, transitivity."""
    from rich.console import Console

    from judgelab.evaluate.judge_eval import eval_judge, results_table

    result, path = eval_judge(judge_spec, run_dir, split=split, samples=samples, out_dir=out_dir, mode=mode,  # type: ignore[arg-type]
                              name=name, sample_temperature=sample_temperature, pointwise=not no_pointwise)
    Console().print(results_table(result))
    click.echo(f"wrote {path}")
