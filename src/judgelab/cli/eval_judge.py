"""``judgelab eval-judge``: reliability of any judge on a run's held-out gold annotations, or its
score on a public judge benchmark in the benchmark's own format and metric.

    judgelab eval-judge --judge runs/quick/judges/direct-sft --run runs/quick
    judgelab eval-judge --judge judges/gpt_oss.yaml --run runs/quick --samples 5 --split test
    judgelab eval-judge --judge judges/rubric.yaml --data reward-bench-2/            # RewardBench 2 folder
    judgelab eval-judge --judge judges/rubric.yaml --data judgebench.jsonl --benchmark judgebench
"""

from __future__ import annotations

import click

BENCHMARK_CHOICES = ["auto", "rewardbench2", "judgebench", "rm-bench", "ppe"]


@click.command("eval-judge")
@click.option("--judge", "judge_spec", required=True, help="Checkpoint folder (train-judge output) or judge YAML.")
@click.option("--run", "run_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Run directory (evaluate on its held-out gold pairs).")
@click.option("--data", "data_path", type=click.Path(exists=True), default=None,
              help="A public benchmark instead of --run: a .jsonl/.json/.parquet file, a save_to_disk folder or a "
                   "dataset snapshot folder of RewardBench 2, JudgeBench, RM-Bench or PPE.")
@click.option("--benchmark", type=click.Choice(BENCHMARK_CHOICES), default="auto", show_default=True,
              help="Format of --data (auto: detected from its columns).")
@click.option("--limit", type=click.IntRange(1), default=None, help="With --data: evaluate the first N rows only.")
@click.option("--split", default=None,
              help="Annotation split to evaluate on (--run; default test), or the split of a --data dataset folder "
                   "(needed when it holds several).")
@click.option("--samples", default=1, show_default=True, type=click.IntRange(1), help="k > 1: self-consistency over k samples (--run).")
@click.option("--temperature", "sample_temperature", default=0.7, show_default=True, type=float,
              help="Sampling temperature for --samples when the judge itself is greedy.")
@click.option("--mode", type=click.Choice(["pairwise", "pointwise"]), default=None,
              help="Judge mode (default: from the checkpoint, else pairwise).")
@click.option("--no-pointwise", is_flag=True, help="Skip pointwise scoring (and the pointwise/pairwise check) (--run).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default run/eval/judges; with --data: eval/benchmarks).")
@click.option("--name", default=None, help="Override the judge name (file name of the results).")
def command(judge_spec: str, run_dir: str | None, data_path: str | None, benchmark: str, limit: int | None,
            split: str | None, samples: int, sample_temperature: float, mode: str | None, no_pointwise: bool,
            out_dir: str | None, name: str | None) -> None:
    """Accuracy vs gold, position/self/pointwise consistency, ties, parse failures, transitivity
    (--run); or a public benchmark's own metric (--data): RewardBench 2 best-of-4 + Ties score,
    JudgeBench both-order accuracy, RM-Bench style matrix, PPE accuracy / best-of-K."""
    from rich.console import Console

    if (run_dir is None) == (data_path is None):
        raise click.UsageError("give exactly one of --run (a run's gold pairs) or --data (a benchmark file or folder)")
    if data_path is not None:
        if samples > 1 or no_pointwise:
            raise click.UsageError("--samples and --no-pointwise apply to --run only")
        from judgelab.evaluate.judges.benchmarks.run import benchmark_table, evaluate_benchmark

        result, path = evaluate_benchmark(judge_spec, data_path, benchmark=None if benchmark == "auto" else benchmark,
                                          split=split, mode=mode, limit=limit, out_dir=out_dir, name=name)  # type: ignore[arg-type]
        Console().print(benchmark_table(result))
        click.echo(f"wrote {path}")
        return
    if benchmark != "auto" or limit is not None:
        raise click.UsageError("--benchmark and --limit apply to --data only")

    from judgelab.evaluate.judges.judge_eval import eval_judge, results_table

    result, path = eval_judge(judge_spec, run_dir, split=split or "test", samples=samples, out_dir=out_dir, mode=mode,  # type: ignore[arg-type]
                              name=name, sample_temperature=sample_temperature, pointwise=not no_pointwise)
    Console().print(results_table(result))
    click.echo(f"wrote {path}")
