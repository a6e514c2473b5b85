"""``judgelab gold-check``: is a candidate gold (an LLM behind an OpenAI-compatible server, any judge
spec) a valid stand-in for a reference judge (default: the rubric gold) on a run's outputs? Spearman
rank correlation of their pointwise scores on the base samples and on each evaluated policy's last
checkpoint, with bootstrap CIs over prompts.

    judgelab gold-check --gold examples/judge_smollm2.yaml --run runs/quickstart
"""

from __future__ import annotations

import click


@click.command("gold-check")
@click.option("--gold", "gold_spec", required=True, help="The candidate gold: judge YAML, served endpoint, registered name.")
@click.option("--against", "reference_spec", default="rubric-gold", show_default=True, help="The reference judge.")
@click.option("--run", "run_dir", type=click.Path(file_okay=False, exists=True), required=True, help="Run directory.")
@click.option("--min-rho", type=click.FloatRange(-1, 1), default=0.5, show_default=True,
              help="Validated when every source's CI lower end is at least this.")
@click.option("--limit", type=click.IntRange(1), default=200, show_default=True, help="Responses scored per source.")
def command(gold_spec: str, reference_spec: str, run_dir: str, min_rho: float, limit: int) -> None:
    """Rank agreement of a candidate gold with a reference judge on base and trained-policy outputs."""
    from judgelab.evaluate.judges.gold_check import gold_check
    from judgelab.judges.registry import load_judge

    cand = load_judge(gold_spec, where="--gold")
    ref = load_judge(reference_spec, where="--against")
    try:
        res, path = gold_check(cand, ref, run_dir, min_rho=min_rho, limit=limit)
    finally:
        cand.close()
        ref.close()
    for s in res.sources:
        rho = "n/a" if s.spearman is None else f"{s.spearman:+.3f}" + (
            f" [{s.ci95[0]:+.3f}, {s.ci95[1]:+.3f}]" if s.ci95 else "")
        from judgelab.evaluate.judges.gold_check import MIN_RESPONSES

        few = f"; under {MIN_RESPONSES} responses: not counted" if s.n < MIN_RESPONSES else ""
        click.echo(f"{s.source}: Spearman {rho} (n={s.n} responses, {s.n_prompts} prompts, "
                   f"{s.candidate_parse_failures} unparsed{few})")
    click.echo(f"{res.candidate} vs {res.reference}: {'VALIDATED' if res.validated else 'NOT VALIDATED'} "
               f"(every source's CI lower end >= {min_rho}) -> {path}")
