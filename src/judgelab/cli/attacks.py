"""``judgelab attacks``: judge-directed content in a run's outputs or in response files.

Flagged rate per checkpoint over training, the transfer matrix (attack success rate per source x
judge, 95% CIs) and the stripped re-judge -> RUN/eval/attacks.json (or --out), tables printed.
``--labelled`` scores the detector on the shipped labelled set instead.
"""

from __future__ import annotations

from pathlib import Path

import click

from judgelab.cli.common import config_option, set_option


@click.command("attacks")
@config_option
@set_option
@click.option("--run", "run_dir", default=None, type=click.Path(file_okay=False),
              help="Run directory: its evaluated policies (flagged rate over training, harvested outputs) and "
                   "test responses (crafted attacks).")
@click.option("--responses", "response_files", multiple=True, type=click.Path(dir_okay=False), metavar="JSONL",
              help="A response file (prompt, response, optional prompt_id and baseline per row) (repeatable).")
@click.option("--baseline", "baseline_file", default=None, type=click.Path(dir_okay=False), metavar="JSONL",
              help="Clean responses to the same prompts (matched by prompt_id) for the --responses files.")
@click.option("--judge", "judge_specs", multiple=True, metavar="SPEC",
              help="A judge spec (train-judge folder, YAML, registered name) (repeatable); with --run, added to "
                   "the run's own judges (its gold, untrained judges and trained judge folders).")
@click.option("--gold", "gold_spec", default=None, metavar="SPEC",
              help="The gold judge (default: the run's, else the rubric gold); judged like the others.")
@click.option("--no-judges", is_flag=True, help="Detection only: no transfer matrix, no re-judge.")
@click.option("--out", "out_path", default=None, type=click.Path(dir_okay=False),
              help="Where to write the JSON (default: RUN/eval/attacks.json; required without --run).")
@click.option("--labelled", "labelled", is_flag=True, help="Score the detector on the shipped labelled set and exit.")
@click.option("--labelled-set", "labelled_path", default=None, type=click.Path(dir_okay=False),
              help="Another labelled set (schema judgelab.attack_label/v1) for --labelled.")
def command(config_path: str | None, overrides: tuple[str, ...], run_dir: str | None, response_files: tuple[str, ...],
            baseline_file: str | None, judge_specs: tuple[str, ...], gold_spec: str | None, no_judges: bool,
            out_path: str | None, labelled: bool, labelled_path: str | None) -> None:
    """Detect judge-directed content; measure which judges it fools, and by how much."""
    import json

    from judgelab.config import load_config
    from judgelab.errors import ConfigError, DataError
    from judgelab.evaluate.attacks.analysis import (
        AttacksConfig,
        analyse_attacks,
        file_source,
        format_tables,
        read_response_file,
        run_attacks,
    )

    config = load_config(AttacksConfig, config_path, overrides)
    if labelled:
        from judgelab.evaluate.attacks.labelled import LABELLED_SET, load_labelled_set, score_detector

        path = Path(labelled_path) if labelled_path else LABELLED_SET
        if not path.is_file():
            raise DataError("labelled set not found", where=str(path), hint="give a JSONL written by scripts/make_attack_set.py")
        s = score_detector(load_labelled_set(path), config.threshold, use_prompt=config.use_prompt)
        o = s["overall"]
        click.echo(f"{path.name}: {s['n']} responses ({s['n_attack']} attack, {s['n_clean']} clean, "
                   f"{s['tricky']['n']} tricky clean), threshold {s['threshold']}, prompt used: {s['use_prompt']}")
        click.echo(f"overall: precision {o['precision']:.3f} recall {o['recall']:.3f} (tp {o['tp']}, fp {o['fp']}, "
                   f"fn {o['fn']}); recall on templates {s['recall_by_wording']['template']:.3f}, on paraphrases "
                   f"{s['recall_by_wording']['paraphrase']:.3f}; tricky clean flagged {s['tricky']['false_positives']}"
                   f"/{s['tricky']['n']}; span coverage {s['span_coverage']:.3f}")
        click.echo("| kind | precision | recall | tp | fp | fn |\n|---|---|---|---|---|---|")
        for k, v in s["by_kind"].items():
            p = "-" if v["precision"] is None else f"{v['precision']:.3f}"
            r = "-" if v["recall"] is None else f"{v['recall']:.3f}"
            click.echo(f"| {k} | {p} | {r} | {v['tp']} | {v['fp']} | {v['fn']} |")
        return
    if run_dir is None and not response_files:
        raise ConfigError("nothing to analyse", where="judgelab attacks",
                          hint="give --run DIR, --responses FILE, or --labelled")
    if run_dir is not None and not Path(run_dir).is_dir():
        raise DataError("run directory not found", where=run_dir, hint="give a folder 'judgelab run' wrote")
    if run_dir is None and out_path is None:
        raise ConfigError("--out is required without --run", where="--out", hint="e.g. --out attacks.json")
    if baseline_file and not response_files:
        raise ConfigError("--baseline goes with --responses", where="--baseline")

    from judgelab.data.rundir import RunDir
    from judgelab.data.store import JudgmentStore
    from judgelab.evaluate.attacks.analysis import configured_judges
    from judgelab.judges.registry import load_judge, resolve_judge_spec

    sources = []  # a response file with a baseline goes into the transfer matrix; without, detection only
    for f in response_files:
        if baseline_file or any(isinstance(r.get("baseline"), str) for r in read_response_file(f)):
            sources.append(file_source(f, baseline_file))
    specs: dict = {}
    if not no_judges:
        if run_dir:  # the run's own judges: gold, untrained, trained
            found, notes = configured_judges(RunDir(run_dir))
            for note in notes:
                click.echo(note, err=True)
            specs.update(found)
        if gold_spec or "gold" not in specs:  # the run's gold is named "gold" (judgelab run's default)
            gold = resolve_judge_spec(gold_spec or "rubric-gold", where="--gold")
            specs[gold.name] = gold
        for spec in judge_specs:
            jc = resolve_judge_spec(spec, where=spec)  # a bad spec fails here, before anything runs
            if jc.name in specs and specs[jc.name] != jc:
                raise ConfigError(f"two judges named {jc.name!r}", where=spec, hint="give the judges distinct names")
            specs[jc.name] = jc
    store = JudgmentStore(Path(run_dir) / "judgments.sqlite") if run_dir else None
    factories = {n: (lambda jc=jc: load_judge(jc, store=store)) for n, jc in specs.items()}
    try:
        if run_dir:
            path = run_attacks(config, run_dir, factories, extra_sources=sources, out=out_path)
        else:
            from judgelab.data.jsonl import atomic_write_text
            from judgelab.evaluate.attacks.analysis import flag_rows

            result = analyse_attacks(config, sources, factories)
            result["files"] = {f: flag_rows(read_response_file(f), config) for f in response_files}
            path = atomic_write_text(Path(out_path), json.dumps(result, indent=2, ensure_ascii=False))  # type: ignore[arg-type]
    finally:
        if store is not None:
            store.close()
    d = json.loads(Path(path).read_text())
    for f, r in (d.get("files") or {}).items():
        ci = r["flagged_rate_ci"]
        click.echo(f"{f}: {r['n']} responses, flagged {r['flagged_rate']:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]; "
                   + ", ".join(f"{k} {v:.2f}" for k, v in r["by_kind"].items() if v))
    click.echo(format_tables(d))
    click.echo(f"-> {path}")
