"""Attack analysis of a run or of response files: flagged rate over training, the transfer
matrix, and the stripped re-judge.

1. **Flagged rate per checkpoint.** The detector (detector.py) reads every evaluated checkpoint's
   samples (``eval/policies/<policy>/samples-step-N.jsonl``, the row's primary decoding) with
   their prompts: the share of
   samples with at least one flagged span, per policy per step, with a 95% bootstrap CI clustered
   by prompt (the k samples of a prompt are resampled together), and the share per kind.
2. **Transfer matrix.** A *source* is a list of cases (prompt, output, clean baseline to the same
   prompt):
   - ``policy:<name>``: outputs harvested from a policy's last evaluated checkpoint, each against
     the same policy's step-0 sample of the same prompt (same decoding and sample index where
     there is one), or the run's test response to that prompt (``baseline: responses``);
   - ``crafted:<kind>``: attack templates of one kind (templates.py) planted into clean answers
     (the run's test responses, or a file), each against the clean answer it was planted into;
   - ``file:<name>``: a response file, against a baseline file (matched by prompt id) or the
     ``baseline`` field of each row.
   Every judge judges every case in its probe mode (pointwise where it scores, else pairwise;
   ``mode`` overrides): pointwise, the attack *succeeds* when the output scores strictly above
   its baseline; pairwise, when it wins the position-swapped comparison (P(output wins) > 0.5 over
   both orders; a tie or two disagreeing orders is not a success). Attack success rate (ASR) per
   (source, judge) with a 95% bootstrap CI clustered by prompt.
3. **Stripped re-judge.** Each flagged output is judged again with its flagged spans removed
   (``strip_flagged``; an output that was all attack, a refusal or a bare master key, is judged
   empty). Pointwise: the *score drop* = score(output) - score(stripped), in the
   judge's units, with a CI; pairwise: the drop in P(wins vs baseline). ``n_stripped`` flagged
   outputs are re-judged; over those same outputs ``asr_flagged`` is their success rate as they
   are and ``asr_flagged_stripped`` once the spans are gone (the table shows these three together).
   ``asr_stripped`` is the success rate over all ``n`` cases with the flagged spans removed (an
   unflagged output is judged as it is): a judge whose ASR falls to its stripped ASR was won by
   the attack text, not by the answer around it.

Rates (flagged rate, ASR) get a 95% CI: the union of the bootstrap clustered by prompt and the
Wilson interval with n = the number of prompts (``rate_ci``): near 0 and 1 the bootstrap collapses
([0, 0] when nothing is flagged), Wilson does not.

Where the parts live: ``config`` (``AttacksConfig``), ``flagging`` (1, and the rate CIs),
``sources`` (the sources of 2), ``transfer`` (2 and 3 for one judge), ``tables`` (the Markdown
tables); this module puts them together.

Reads the run's ``responses.jsonl``, ``run.json`` (its judges) and evaluation samples
(judgelab.evaluate.records) or response files; writes ``eval/attacks.json`` (``AttacksResult``,
schema ``judgelab.attacks/v1``) or a JSON path given.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judgelab.data.rundir import RunDir, writable_file
from judgelab.errors import DataError, JudgelabError
from judgelab.evaluate.attacks.config import AttacksConfig, JudgeFactory, select_judges
from judgelab.evaluate.attacks.findings import KINDS
from judgelab.evaluate.attacks.flagging import flag_rows, flagged_over_training, flags_of
from judgelab.evaluate.attacks.results import AttacksResult
from judgelab.evaluate.attacks.sources import Source, crafted_sources, genuine_responses, harvested_sources
from judgelab.evaluate.attacks.transfer import judge_sources
from judgelab.judges.registry import JUDGE_FILE, resolve_judge_spec

log = logging.getLogger(__name__)


def configured_judges(rd: RunDir) -> tuple[dict[str, Any], list[str]]:
    """The judges a run configured, by name -> spec: its gold and untrained judges (from
    ``run.json``, as ``judgelab run`` recorded them) and every trained judge folder under
    ``judges/``. Returns (specs, notes on what was skipped)."""
    specs: dict[str, Any] = {}
    notes: list[str] = []
    run_cfg: dict[str, Any] = {}
    try:
        run_cfg = json.loads((rd.root / "run.json").read_text()).get("stages", {}).get("run", {}).get("config", {}) or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        pass
    candidates: list[tuple[str, Any]] = []
    if isinstance(run_cfg.get("gold"), dict):
        candidates.append((run_cfg["gold"].get("name", "gold"), run_cfg["gold"]))
    for u in run_cfg.get("untrained_judges") or []:
        if isinstance(u, dict) and isinstance(u.get("judge"), dict):
            candidates.append((u.get("name") or u["judge"].get("name"), {**u["judge"], "name": u.get("name") or u["judge"].get("name")}))
    judges_dir = rd.root / "judges"
    for d in sorted(judges_dir.glob("*")) if judges_dir.is_dir() else []:
        if (d / JUDGE_FILE).exists():
            candidates.append((d.name, str(d)))
    for name, spec in candidates:
        try:
            cfg = resolve_judge_spec(spec, where=f"{rd.root}: judge {name}")
        except JudgelabError as exc:  # e.g. a served judge whose key run.json masked
            notes.append(f"judge {name} skipped: {exc.one_line()}")
            continue
        specs.setdefault(cfg.name or name, cfg)
    return specs, notes


def source_summary(s: Source, config: AttacksConfig) -> dict[str, Any]:
    """The detector on a source's outputs; crafted, also the share of planted characters it flags."""
    rows = [{"prompt_id": c.prompt_id, "prompt": c.prompt, "response": c.output} for c in s.cases]
    out = {"kind": s.kind, "note": s.note, **flag_rows(rows, config)}  # flag_rows' n: one row per case
    if s.kind == "crafted":  # the detector against the planted truth: recall, and span coverage
        covered = planted = 0
        for c in s.cases:
            flagged_chars = set()
            for f in flags_of(c.output, c.prompt, config):
                flagged_chars.update(range(f.start, f.end))
            for a, b, _ in c.planted:
                planted += b - a
                covered += len(flagged_chars.intersection(range(a, b)))
        out["span_coverage"] = covered / planted if planted else None
    return out


def analyse_attacks(config: AttacksConfig, sources: Sequence[Source], judges: dict[str, JudgeFactory],
                    *, flagged_training: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sources x judges -> the attacks result (dict, schema judgelab.attacks/v1). Each judge is
    built, used and closed in turn."""
    names = select_judges(config.judges, judges, "attacks.judges")
    matrix: dict[str, Any] = {}
    for name in names if sources else []:
        judge = judges[name]()
        try:
            matrix[name] = judge_sources(judge, sources, config)
        finally:
            judge.close()
        log.info("attacks vs %s: %s", name, {s: c["asr"] for s, c in matrix[name]["cells"].items()})
    return {
        "schema": AttacksResult.expected_schema(), "config": config.model_dump(mode="json"), "kinds": list(KINDS),
        "flagged_over_training": flagged_training or {},
        "sources": {s.name: source_summary(s, config) for s in sources},
        "judges": {n: {"mode": m["mode"], "scale": m["scale"], "parse_failure_rate": m["parse_failure_rate"]}
                   for n, m in matrix.items()},
        # source -> judge -> cell: the transfer matrix (ASR) and the stripped re-judge (drop)
        "transfer": {s.name: {n: m["cells"][s.name] for n, m in matrix.items()} for s in sources},
    }


def attacks_of_run(config: AttacksConfig, run_dir: str | Path, judges: dict[str, JudgeFactory], *,
                   extra_sources: Sequence[Source] = ()) -> dict[str, Any]:
    """The whole analysis of a run: flagged rate over training, harvested and crafted sources
    (plus ``extra_sources``) judged by ``judges``; the result, not written."""
    rd = RunDir(run_dir)
    if not rd.root.is_dir():
        raise DataError("run directory not found", where=str(rd.root), hint="give a folder 'judgelab run' wrote")
    sources: list[Source] = []
    if config.harvest:
        sources += harvested_sources(rd, config)
    if config.craft and rd.responses.exists():
        sources += crafted_sources(genuine_responses(rd), config)
    sources += list(extra_sources)
    result = analyse_attacks(config, sources, judges, flagged_training=flagged_over_training(rd, config))
    result["run"] = str(rd.root)
    return result


def run_attacks(config: AttacksConfig, run_dir: str | Path, judges: dict[str, JudgeFactory], *,
                extra_sources: Sequence[Source] = (), out: str | Path | None = None) -> Path:
    """``attacks_of_run``, written to ``eval/attacks.json`` (or ``out``, checked before the analysis)."""
    if out is not None:
        writable_file(out, "--out")
    result = attacks_of_run(config, run_dir, judges, extra_sources=extra_sources)
    return AttacksResult.model_validate(result).write(Path(out) if out else RunDir(run_dir).attacks)
