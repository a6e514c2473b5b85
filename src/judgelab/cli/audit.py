"""``judgelab audit``: how well a judge judges and how fast a policy learns to hack it, on one card.

    judgelab audit --judge runs/quickstart/judges/direct-sft --run runs/quickstart     # shares the run's gold labels
    judgelab audit --judge flawed-brevity                                             # a registered judge, rubric gold
    judgelab audit --judge judges/gpt_oss.yaml --gold judges/gold.yaml --budget medium
    judgelab audit --compare audit/direct-sft/card.json audit/flawed-brevity/card.json
"""

from __future__ import annotations

from pathlib import Path

import click

from judgelab.cli.common import set_option


@click.command("audit")
@click.option("--judge", "judge_spec", default=None,
              help="The judge to audit: a train-judge folder, a judge YAML, a registered name or an ensemble YAML.")
@click.option("--gold", default=None, help="Gold judge spec (default: the run's gold with --run, else the rubric gold).")
@click.option("--prompts", default=None, help="Prompt source (shipped set name or JSONL; default creative-v1).")
@click.option("--run", "run_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="A finished run to share prompts, base samples and gold annotations with.")
@click.option("--budget", type=click.Choice(["small", "medium", "large"]), default="small", show_default=True,
              help="small: 2 CPU cores, ~21 min per judge idle (SmolLM2 policy, rubric judge; more for an LLM judge); medium/large: GPUs (docs/guide/audit.md).")
@click.option("--policy", "policy_model", default=None, help="Policy model trained against the judge (default SmolLM2-135M-Instruct).")
@click.option("--benchmark", "benchmarks", multiple=True, type=click.Path(exists=True),
              help="Public judge benchmark file or folder to score the judge on (repeatable).")
@click.option("--name", default=None, help="The card's name (default: from the judge spec).")
@click.option("--out", default="audit", show_default=True, help="Cards go to OUT/<judge>/.")
@click.option("--compare", "compare", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Instead of auditing: put these card.json files side by side (repeat, or list after the option).")
@click.argument("more_cards", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", default=None, help="With --compare: the page to write (default OUT/compare.html).")
@set_option
@click.option("--dry-run", is_flag=True, help="Print the audit's plan and cost estimate; load and write nothing.")
def command(judge_spec: str | None, gold: str | None, prompts: str | None, run_dir: str | None, budget: str,
            policy_model: str | None, benchmarks: tuple[str, ...], name: str | None, out: str,
            compare: tuple[str, ...], more_cards: tuple[str, ...], output: str | None, overrides: tuple[str, ...],
            dry_run: bool) -> None:
    """Audit one judge (static agreement, attacks, best-of-N, and a short GRPO run against it beside
    the oracle and a noise-matched benign proxy) into OUT/<judge>/card.json and card.html; or, with
    --compare, put cards side by side."""
    if compare or more_cards:
        if not compare or judge_spec:
            raise click.UsageError("use --compare CARD.json [CARD.json ...] without --judge")
        from judgelab.audit.compare import compare_cards

        path = compare_cards([*compare, *more_cards], Path(output) if output else Path(out) / "compare.html")
        click.echo(f"wrote {path}")
        return
    if judge_spec is None:
        raise click.UsageError("give --judge (the judge to audit) or --compare CARD.json ...")
    from judgelab.audit.plan import plan_audit

    plan = plan_audit(judge_spec, gold=gold, prompts=prompts, budget=budget, out=out, run=run_dir, name=name,
                      policy_model=policy_model, overrides=overrides)
    if dry_run:
        from judgelab.pipeline.dry_run import plan_lines
        from judgelab.pipeline.launch import check_launch

        click.echo(f"audit of {plan.name!r} ({budget} budget) -> {plan.out}")
        for line in plan_lines(plan.config, check_launch(None, None), f"audit --budget {budget}"):
            click.echo(line)
        if not plan.is_gold:
            click.echo("plus, when the gold is a rubric: one more policy against the benign proxy (the gold + noise "
                       "matched to the judge's measured agreement), the size of the oracle's")
        return
    from judgelab.audit.run import run_audit

    run_audit(plan, benchmarks=list(benchmarks), echo=click.echo)
