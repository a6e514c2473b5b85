"""``judgelab judge-scaling``: a judge's agreement with the gold vs the compute it spends: k sampled
verdicts with voting (majority pairwise, mean pointwise) and thinking budgets, against tokens and
seconds, on a run's held-out gold pairs.

    judgelab judge-scaling --judge runs/quick/judges/reasoning-sft-grpo --run runs/quick --k 1 --k 3 --k 5 --budget 64 --budget 256
"""

from __future__ import annotations

import click

from judgelab.cli.common import JUDGE_SPEC, config_has, config_option, set_option, with_options


@click.command("judge-scaling")
@config_option
@set_option
@click.option("--judge", "judge_spec", default=None, help="Trained judge folder, judge YAML or registered name.")
@click.option("--run", "run_dir", type=click.Path(file_okay=False, exists=True), required=True, help="Run directory.")
@click.option("--split", default=None, help="Annotation split (default test).")
@click.option("--mode", type=click.Choice(["pairwise", "pointwise"]), default=None, help="Judge mode (default: pairwise where it compares).")
@click.option("--k", "ks", multiple=True, type=click.IntRange(1), help="Vote sizes (repeatable; default 1 3 5 9).")
@click.option("--temperature", type=float, default=None, help="Sampling temperature of the votes (default 0.7).")
@click.option("--budget", "budgets", multiple=True, type=click.IntRange(1), help="Thinking budgets in tokens (repeatable).")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many pairs.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Output folder (default RUN/eval/judges).")
def command(config_path: str | None, overrides: tuple[str, ...], judge_spec: str | None, run_dir: str, split: str | None,
            mode: str | None, ks: tuple[int, ...], temperature: float | None, budgets: tuple[int, ...], limit: int | None,
            out_dir: str | None) -> None:
    """Gold agreement vs votes k and vs thinking tokens, with cost (tokens, seconds); JSON + PNG."""
    from judgelab.config import load_config
    from judgelab.errors import ConfigError
    from judgelab.evaluate.judges.judge_scaling import JudgeScalingConfig, judge_scaling

    if judge_spec is None and not config_has(config_path, overrides, "judge"):
        raise ConfigError("--judge is required", hint=JUDGE_SPEC)
    extra = with_options(overrides, {"judge": judge_spec, "split": split, "mode": mode, "temperature": temperature,
                                     "limit": limit, "ks": ks, "budgets": budgets})
    config = load_config(JudgeScalingConfig, config_path, extra)
    res, path = judge_scaling(config, run_dir, out_dir)

    def acc(r: dict) -> str:
        """Tie-adjusted agreement (ties half) with its CI and n; the gain over the smallest k when paired."""
        ci = r.get("agreement_ci95") or [float("nan")] * 2
        n = f"n={r.get('n_agreement', r['n'])} pairs"
        gain = r.get("vs_first")
        vs = f", vs smallest k {gain['diff']:+.3f} [{gain['ci95'][0]:+.3f}, {gain['ci95'][1]:+.3f}]" if gain else ""
        return (f"n/a ({n})" if r.get("agreement") is None
                else f"{r['agreement']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] (ties half, {n}){vs}")

    for r in res["voting"]:
        click.echo(f"k={r['k']}: agreement {acc(r)}, {r['tokens_per_item']:.0f} tokens/item, {r['seconds']:.1f}s")
    for r in res["thinking"]:
        click.echo(f"budget {r['budget']}: agreement {acc(r)}, {r['tokens_per_item']:.0f} tokens/item, "
                   f"{r['seconds']:.1f}s, parse failures {r['parse_failure_rate']:.2f}")
    click.echo(f"wrote {path}")
