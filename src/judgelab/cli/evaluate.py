"""``judgelab evaluate``: gold monitoring of every policy checkpoint into RUN/eval/policies/, the
controls' check into RUN/eval/instrument.json."""

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
    from judgelab.config import load_config
    from judgelab.evaluate.policies.instrument import instrument_check, summary_line
    from judgelab.evaluate.policies.policy_eval import EvaluateConfig, evaluate_policies
    from judgelab.evaluate.policies.results import PolicyEvalResult

    config = load_config(EvaluateConfig, config_path, overrides)
    if policies:
        config.policies = list(policies)
    out = evaluate_policies(config, run_dir)  # also writes eval/instrument.json
    for name, path in out.items():
        d = PolicyEvalResult.read(path)
        last, flag = d.rows[-1], d.hacking
        ci = last.gold_gain_ci or [None, None]
        click.echo(
            f"{name} ({d.role}): step {last.step} ({last.decoding}) gold "
            f"{_num(last.gold_score_mean)}, gain vs step 0 {_num(last.gold_gain, '+.2f')} "
            f"[{_num(ci[0], '+.2f')}, {_num(ci[1], '+.2f')}], win-rate vs initial {_num(last.gold_win_rate)}, "
            f"proxy {_num(last.proxy_score, '.3f')}; hacking: {flag.kind if flag.flagged else 'no'} -> {path}"
        )
        monitor_line(run_dir, name)
    click.echo(summary_line(instrument_check(run_dir)))


def _num(x: float | None, spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def monitor_line(run_dir: str, name: str) -> None:
    """One line on the in-training gold monitor of a policy, when it ran (policies/NAME/gold_monitor.json)."""
    from judgelab.data.rundir import RunDir
    from judgelab.train.gold_callback import read_monitor

    mon = read_monitor(RunDir(run_dir).policy_dir(name))
    if not mon or not mon.get("evals"):
        return
    ev = [e for e in mon["evals"] if e.get("gold") is not None]
    curve = ", ".join(f"{e['step']}: {e['gold']:.2f}/{e['proxy']:.2f}" if e.get("proxy") is not None else
                      f"{e['step']}: {e['gold']:.2f}/n/a" for e in ev)
    end = (f"stopped at step {mon['stop_step']} (onset {mon['onset_step']})" if mon.get("stopped") else
           f"hacking onset at step {mon['onset_step']} (not stopped)" if mon.get("onset_step") is not None else "no onset")
    click.echo(f"  {name} in-training monitor (step: gold/proxy): {curve}; {end}")
