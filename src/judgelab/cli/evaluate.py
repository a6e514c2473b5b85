"""``judgelab evaluate``: gold monitoring of every policy checkpoint into RUN/eval/policies/."""

from __future__ import annotations

import click

from judgelab.cli.common import config_option, set_option


@click.command("evaluate")
@config_option
@set_option
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--policy", "policies", multiple=True, help="Only these policies (repeatable; default: all).")
def command(config_path: str | None, overrides: tuple[str, ...], run_dir: str, policies: tuple[str, ...]) -> None:
    """Score every checkpoint (and step 0) with the gold and proxy judges; flag reward hacking."""
    import json

    from judgelab.config import load_config
    from judgelab.evaluate.policy_eval import EvaluateConfig, evaluate_policies

    config = load_config(EvaluateConfig, config_path, overrides)
    if policies:
        config.policies = list(policies)
    out = evaluate_policies(config, run_dir)
    for name, path in out.items():
        d = json.loads(path.read_text())
        last = d["rows"][-1]
        flag = d["hacking"]
        click.echo(
            f"{name}: step {last['step']} gold {last['gold_score_mean']} win-rate vs initial {last['gold_win_rate']} "
            f"proxy {last['proxy_score']}; hacking: {flag['kind'] if flag['flagged'] else 'no'} -> {path}"
        )
