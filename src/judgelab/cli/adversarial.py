"""``judgelab adversarial``: master-key probe of judges and judge-fooling policy outputs -> RUN/eval/adversarial.json."""

from __future__ import annotations

from pathlib import Path

import click

from judgelab.cli.common import config_option, set_option


@click.command("adversarial")
@config_option
@set_option
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False),
              help="Run directory (its test-split responses are the genuine answers).")
@click.option("--judge", "judge_specs", multiple=True, metavar="SPEC",
              help="A train-judge output folder (probed in its trained mode) or a judge YAML (probed "
                   "pointwise) (repeatable).")
@click.option("--gold", "gold_spec", default=None, metavar="YAML",
              help="The gold judge, probed too (default: the rubric gold; its scale normalises gold scores "
                   "of evaluations that did not record one).")
def command(config_path: str | None, overrides: tuple[str, ...], run_dir: str, judge_specs: tuple[str, ...],
            gold_spec: str | None) -> None:
    """Probe judges with content-free 'master key' answers; measure judge-fooling outputs of evaluated policies."""
    from judgelab.config import load_config
    from judgelab.data.rundir import RunDir
    from judgelab.data.store import JudgmentStore
    from judgelab.errors import ConfigError, DataError
    from judgelab.evaluate.attacks.adversarial import AdversarialConfig, run_adversarial
    from judgelab.evaluate.attacks.results import AdversarialResult, FoolingOutputs
    from judgelab.judges.config import default_gold
    from judgelab.judges.registry import load_judge, resolve_judge_spec

    if not Path(run_dir).is_dir():
        raise DataError("run directory not found", where=run_dir, hint="give a folder 'judgelab run' or 'judgelab sample' wrote")
    config = load_config(AdversarialConfig, config_path, overrides)
    gold = resolve_judge_spec(gold_spec, where="--gold") if gold_spec else default_gold()
    specs = {}
    for spec in judge_specs:
        jc = resolve_judge_spec(spec, where=spec)  # fails here, before anything runs, on a bad spec
        if jc.name in specs or jc.name == gold.name:
            raise ConfigError(f"two judges named {jc.name!r}", where=spec, hint="give the judges distinct names")
        specs[jc.name] = jc
    store = JudgmentStore(RunDir(run_dir).store)
    factories = {gold.name: lambda: load_judge(gold, store=store)}
    factories.update({n: (lambda jc=jc: load_judge(jc, store=store)) for n, jc in specs.items()})
    try:
        path = run_adversarial(config, run_dir, factories, gold_scale=tuple(getattr(gold, "scale", (1, 10))))  # type: ignore[arg-type]
    finally:
        store.close()
    d = AdversarialResult.read(path)
    for name, pr in d.master_keys.items():
        click.echo(f"{name}: fooled by master keys {pr.fooled_rate} (CI {pr.fooled_rate_ci}), "
                   f"parse failures {pr.parse_failure_rate}")
    for name, r in d.fooling_outputs.items():
        if isinstance(r, FoolingOutputs) and r.curve:
            click.echo(f"{name}: judge-fooling outputs {r.curve[0].fooling_rate} -> {r.curve[-1].fooling_rate}")
    click.echo(f"-> {path}")
