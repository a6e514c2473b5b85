"""``judgelab attacks``: judge-directed content in a run's outputs or in response files.

Flagged rate per checkpoint over training, the transfer matrix (attack success rate per source x
judge, 95% CIs) and the stripped re-judge -> RUN/eval/attacks.json (or --out), tables printed.
``--labelled`` scores the detector on the shipped labelled set instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from judgelab.cli.common import config_option, set_option

if TYPE_CHECKING:
    from judgelab.evaluate.attacks.config import AttacksConfig
    from judgelab.evaluate.attacks.sources import Source
    from judgelab.judges.config import JudgeConfig
    from judgelab.judges.registry import EnsembleConfig


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
    from judgelab.config import load_config
    from judgelab.data.rundir import RunDir
    from judgelab.data.store import JudgmentStore
    from judgelab.evaluate.attacks.analysis import analyse_attacks, attacks_of_run
    from judgelab.evaluate.attacks.config import AttacksConfig
    from judgelab.evaluate.attacks.flagging import flag_rows
    from judgelab.evaluate.attacks.results import AttacksResult
    from judgelab.evaluate.attacks.sources import read_response_file
    from judgelab.evaluate.attacks.tables import format_tables
    from judgelab.judges.registry import load_judge

    config = load_config(AttacksConfig, config_path, overrides)
    if labelled_path and not labelled:
        from judgelab.errors import ConfigError

        raise ConfigError("--labelled-set goes with --labelled (it names the set --labelled scores)",
                          where="--labelled-set", hint="add --labelled, or drop --labelled-set")
    if labelled:
        _score_labelled(config, labelled_path)
        return
    _check_inputs(run_dir, response_files, baseline_file, out_path)
    sources, notes = _file_sources(response_files, baseline_file)
    specs = _judge_specs(run_dir, sources, notes, judge_specs=judge_specs, gold_spec=gold_spec, no_judges=no_judges)
    store = JudgmentStore(RunDir(run_dir).store) if run_dir else None
    factories = {n: (lambda jc=jc: load_judge(jc, store=store)) for n, jc in specs.items()}
    try:
        if run_dir:
            result = attacks_of_run(config, run_dir, factories, extra_sources=sources)
        else:
            result = analyse_attacks(config, sources, factories)
    finally:
        if store is not None:
            store.close()
    # Every response file is read by the detector, whether or not it has a baseline; the notes say
    # what was not measured and why (in the JSON and under the tables).
    if response_files:
        result["files"] = {f: flag_rows(read_response_file(f), config) for f in response_files}
    result["notes"] = [*(result.get("notes") or []), *notes]
    target = Path(out_path) if out_path else RunDir(run_dir).attacks  # type: ignore[arg-type]  (--out without --run)
    path = AttacksResult.model_validate(result).write(target)
    click.echo(format_tables(result))
    click.echo(f"-> {path}")


def _score_labelled(config: AttacksConfig, labelled_path: str | None) -> None:
    """``--labelled``: the detector's precision and recall on the shipped (or a given) labelled set."""
    from judgelab.errors import DataError
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


def _check_inputs(run_dir: str | None, response_files: tuple[str, ...], baseline_file: str | None,
                  out_path: str | None) -> None:
    from judgelab.errors import ConfigError, DataError

    if run_dir is None and not response_files:
        raise ConfigError("nothing to analyse", where="judgelab attacks",
                          hint="give --run DIR, --responses FILE, or --labelled")
    if run_dir is not None and not Path(run_dir).is_dir():
        raise DataError("run directory not found", where=run_dir, hint="give a folder 'judgelab run' wrote")
    if run_dir is None and out_path is None:
        raise ConfigError("--out is required without --run", where="--out", hint="e.g. --out attacks.json")
    if baseline_file and not response_files:
        raise ConfigError("--baseline goes with --responses", where="--baseline")
    if out_path:  # before the analysis: a bad output path must not cost the work
        from judgelab.data.rundir import writable_file

        writable_file(out_path, "--out")


def _file_sources(response_files: tuple[str, ...], baseline_file: str | None) -> tuple[list[Source], list[str]]:
    """A response file with a baseline goes into the transfer matrix; without, detection only (a note)."""
    from judgelab.evaluate.attacks.sources import file_source, read_response_file

    sources = []
    notes: list[str] = []
    for f in response_files:
        if baseline_file or any(isinstance(r.get("baseline"), str) for r in read_response_file(f)):
            sources.append(file_source(f, baseline_file))
        else:
            notes.append(f"{f}: detection only: no baseline to judge it against (give --baseline FILE with clean "
                         f"answers to the same prompt ids, or a 'baseline' field per row)")
    return sources, notes


def _judge_specs(run_dir: str | None, sources: list[Source], notes: list[str], *, judge_specs: tuple[str, ...],
                 gold_spec: str | None, no_judges: bool) -> dict[str, JudgeConfig | EnsembleConfig]:
    """The judges of the transfer matrix by name: the run's own (gold, untrained, trained), the gold,
    every --judge. Adds to ``notes`` what is not measured, and why."""
    from judgelab.data.rundir import RunDir
    from judgelab.errors import ConfigError
    from judgelab.evaluate.attacks.analysis import configured_judges
    from judgelab.judges.registry import resolve_judge_spec

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
    specs: dict[str, JudgeConfig | EnsembleConfig] = {}
    if no_judges or not (run_dir or sources):
        return specs
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
    return specs
