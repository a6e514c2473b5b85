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

        def f3(v: float | None) -> str:  # a rate with no denominator (no attack rows, no paraphrases) is "-"
            return "-" if v is None else f"{v:.3f}"

        click.echo(f"{path.name}: {s['n']} responses ({s['n_attack']} attack, {s['n_clean']} clean, "
                   f"{s['tricky']['n']} tricky clean), threshold {s['threshold']}, prompt used: {s['use_prompt']}")
        click.echo(f"overall: precision {f3(o['precision'])} recall {f3(o['recall'])} (tp {o['tp']}, fp {o['fp']}, "
                   f"fn {o['fn']}); recall on templates {f3(s['recall_by_wording']['template'])}, on paraphrases "
                   f"{f3(s['recall_by_wording']['paraphrase'])}; tricky clean flagged {s['tricky']['false_positives']}"
                   f"/{s['tricky']['n']}; span coverage {f3(s['span_coverage'])}")
        click.echo("| kind | precision | recall | tp | fp | fn |\n|---|---|---|---|---|---|")
        for k, v in s["by_kind"].items():
            click.echo(f"| {k} | {f3(v['precision'])} | {f3(v['recall'])} | {v['tp']} | {v['fp']} | {v['fn']} |")
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
    notes: list[str] = []
    for f in response_files:
        if baseline_file or any(isinstance(r.get("baseline"), str) for r in read_response_file(f)):
            sources.append(file_source(f, baseline_file))
        else:
            notes.append(f"{f}: detection only: no baseline to judge it against (give --baseline FILE with clean "
                         f"answers to the same prompt ids, or a 'baseline' field per row)")
    if no_judges:
        notes.append("detection only (--no-judges): no transfer matrix, no stripped re-judge")
    elif run_dir is None and not sources:
        # Judges compare an output with its clean baseline: with none, a judge has nothing to do.
        if judge_specs or gold_spec:
            raise ConfigError("--judge/--gold need a baseline: the transfer matrix compares each response with a "
                              "clean answer to the same prompt", where=(judge_specs or (gold_spec,))[0],
                              hint="give --baseline FILE (same prompt ids) or a 'baseline' field per row; "
                                   "or drop --judge/--gold for detection only")
        notes.append("no transfer matrix, no stripped re-judge: no response file has a baseline")
    specs: dict = {}
    if not no_judges and (run_dir or sources):
        if run_dir:  # the run's own judges: gold, untrained, trained
            found, skipped = configured_judges(RunDir(run_dir))
            for note in skipped:
                click.echo(note, err=True)
            notes += skipped
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
    from judgelab.data.jsonl import atomic_write_text
    from judgelab.evaluate.attacks.analysis import flag_rows

    try:
        if run_dir:
            target = run_attacks(config, run_dir, factories, extra_sources=sources, out=out_path)
            result = json.loads(target.read_text())
        else:
            target = Path(out_path)  # type: ignore[arg-type]  (required without --run, checked above)
            result = analyse_attacks(config, sources, factories)
    finally:
        if store is not None:
            store.close()
    # Every response file is read by the detector, whether or not it has a baseline; the notes say
    # what was not measured and why (in the JSON and under the tables).
    if response_files:
        result["files"] = {f: flag_rows(read_response_file(f), config) for f in response_files}
    result["notes"] = [*(result.get("notes") or []), *notes]
    path = atomic_write_text(target, json.dumps(result, indent=2, ensure_ascii=False))
    click.echo(format_tables(result))
    click.echo(f"-> {path}")
