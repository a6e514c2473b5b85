"""``judgelab audit``: run an audit's sections through the pipeline's own stages, then write the card.

Order (each stage skipped when its done marker exists, so a killed audit resumes where it stopped):

1. data: prompts, base samples, gold annotations, or, with ``--run``, the source run's (copied, so
   the gold's verdicts are shared, never redone);
2. static: the judge on the held-out gold pairs, any benchmark file given, the judge gate;
3. the benign proxy's noise, matched to the judge's agreement (judgelab.audit.noise_match);
4. dynamic: GRPO against the judge, the oracle and the benign proxy, with the gold monitor; their
   gold evaluation and hacking calls;
5. adversarial (the attacks stage: crafted families and the judge's own policy's outputs, stripped
   re-judge) and selection (best-of-N);
6. the card (judgelab.audit.assemble) and its page (judgelab.audit.html).

Reads the judge, the gold, the prompts and (``--run``) a finished run; writes ``<out>/<judge>/``:
``run/`` (an ordinary run directory), ``noise-match/``, ``benchmarks/``, ``timings.json``,
``card.json``, ``card.html``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judgelab.audit.plan import BENIGN, AuditPlan
from judgelab.data.jsonl import atomic_write_text
from judgelab.data.rundir import RunDir

if TYPE_CHECKING:
    from judgelab.pipeline.runner import Pipeline

SECTIONS = {"prompts": "data", "sample": "data", "annotate": "data", "evaluate": "dynamic", "attacks": "adversarial",
            "best-of-n": "selection"}


def _section(stage: str) -> str:
    head = stage.split(" ")[0]
    if head in SECTIONS:
        return SECTIONS[head]
    return {"eval-judge": "static", "benchmark": "static", "train-policy": "dynamic", "noise-match": "dynamic"}.get(head, head)


def share_data(source: Path, rd: RunDir) -> None:
    """The source run's prompt selection, base samples and gold annotations, copied into the audit's
    run and marked done (the gold's verdicts are the run's: shared, not redone)."""
    from judgelab.errors import DataError

    src = RunDir(source)
    for stage in ("prompts", "sample", "annotate"):
        if not src.is_done(stage):
            raise DataError(f"the source run has not finished its '{stage}' stage", where=str(source),
                            hint="finish the run first (`judgelab run` resumes it), or omit --run")
    for path, dest in ((src.prompt_selection, rd.prompt_selection), (src.responses, rd.responses),
                       (src.pairs, rd.pairs), (src.points, rd.points), (src.gold_lock, rd.gold_lock)):
        if path.exists() and not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    for stage in ("prompts", "sample", "annotate"):
        if not rd.is_done(stage):
            rd.mark_done(stage, {"shared_from": str(source)})


ORACLE_KEY = "oracle_key.json"


def oracle_key(p: Pipeline) -> tuple[str, str]:
    """(the oracle policy's name, the key of everything it depends on): its GRPO config, the gold,
    and the prompt selection's content (not its path: each audit has its own copy)."""
    import hashlib

    from judgelab.pipeline.gold_freeze import gold_identity
    from judgelab.pipeline.plan import marker_key, policy_runs

    name, pc = next((n, pc) for n, pc in policy_runs(p.cfg, p.rd) if pc.role == "positive-control")
    config = pc.model_dump(mode="json", exclude={"prompts": {"source"}})
    selection = hashlib.sha256(p.rd.prompt_selection.read_bytes()).hexdigest()
    return name, marker_key(config, gold_identity(p.cfg.gold), selection, p.cfg.evaluate.model_dump(mode="json", exclude={"gold"}))


def share_oracle(p: Pipeline, plan: AuditPlan, echo: Callable[[str], None]) -> None:
    """The oracle (GRPO on the gold) depends on the gold, the prompts and the budget, not on the judge:
    when another audit under the same --out trained it with the same key, its policy and evaluation
    samples are copied here and its training stage marked done (a ~third of a small audit's time)."""
    name, key = oracle_key(p)
    marker = f"train-policy-{name}"
    if p.rd.is_done(marker):
        return
    for other in sorted(plan.out.parent.glob(f"*/{ORACLE_KEY}")):
        try:
            if json.loads(other.read_text()).get(key) is None:
                continue
        except (OSError, json.JSONDecodeError):
            continue
        src = RunDir(other.parent / "run")
        if other.parent == plan.out or not src.is_done(marker):
            continue
        shutil.copytree(src.policy_dir(name), p.rd.policy_dir(name), dirs_exist_ok=True)
        samples = src.eval_dir / "policies" / name
        if samples.is_dir():
            shutil.copytree(samples, p.rd.eval_dir / "policies" / name, dirs_exist_ok=True)
        p.rd.mark_done(marker, {"shared_from": str(src.root)})
        echo(f"       oracle {name}: shared from {src.root} (same gold, prompts and budget)")
        return


def _write_oracle_key(p: Pipeline, plan: AuditPlan) -> None:
    name, key = oracle_key(p)
    if p.rd.is_done(f"train-policy-{name}"):
        atomic_write_text(plan.out / ORACLE_KEY, json.dumps({key: name}))


class Timings:
    """Seconds per section, kept across invocations (a resumed audit reports the time its sections took)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.data: dict[str, dict[str, float]] = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, json.JSONDecodeError):
            self.data = {}

    def add(self, stage: str, seconds: float) -> None:
        self.data.setdefault(_section(stage), {})[stage] = round(seconds, 1)
        atomic_write_text(self.path, json.dumps(self.data, indent=2))

    def per_section(self) -> dict[str, float]:
        return {section: round(sum(stages.values()), 1) for section, stages in self.data.items()}


def run_audit(plan: AuditPlan, benchmarks: list[str] | None = None,
              echo: Callable[[str], None] = print) -> Path:
    """Every section of the audit in order (finished ones skipped); returns the card's path."""
    from judgelab.audit.assemble import assemble_card
    from judgelab.audit.html import render_card
    from judgelab.pipeline.gold_freeze import freeze_gold
    from judgelab.pipeline.runner import Pipeline

    cfg = plan.config
    timings = Timings(plan.out / "timings.json")
    p = Pipeline(cfg, echo=echo, on_stage_done=timings.add)
    rd = p.rd
    p.preflight()
    if plan.source_run is not None:
        share_data(plan.source_run, rd)
    freeze_gold(str(rd.root), cfg.gold)
    rd.write_run_json("audit", cfg, seed=cfg.seed)
    p.data_stages()

    spec = cfg.gold if plan.is_gold else plan.judge
    _static(p, plan.name, spec, benchmarks or [], plan.out)
    p.judge_gate()
    _benign_proxy(p, plan, timings)
    share_oracle(p, plan, echo)
    names = p.policy_stages()
    _write_oracle_key(p, plan)
    p.optional_stages(names)

    card = assemble_card(plan, timings.per_section())
    path = card.write(plan.out / "card.json")
    render_card(card, plan.out / "card.html")
    echo(f"summary: {card.summary}")
    echo(f"card: {path} (page: {plan.out / 'card.html'})")
    return path


def _static(p: Pipeline, name: str, spec: Any, benchmarks: list[str], out: Path) -> None:
    """The judge on the held-out gold pairs (the gate reads it), then each benchmark file."""
    from judgelab.evaluate.judges.judge_eval import eval_judge
    from judgelab.pipeline.summaries import judge_eval_line

    def ev() -> None:
        result, path = eval_judge(spec, p.rd.root, split="test", name=name)
        p.echo(judge_eval_line(name, result, path))

    p.stage(f"eval-judge {name}", ev, marker=f"eval-judge-{name}")
    for data in benchmarks:
        def bench(data: str = data) -> None:
            from judgelab.evaluate.judges.benchmarks.run import evaluate_benchmark

            _, path = evaluate_benchmark(spec, data, out_dir=str(out / "benchmarks"), name=name)
            p.echo(f"       benchmark {data} -> {path}")

        from judgelab.pipeline.plan import marker_key

        p.stage(f"benchmark {Path(data).name}", bench, marker=f"benchmark-{marker_key(str(Path(data).resolve()))}")


def _benign_proxy(p: Pipeline, plan: AuditPlan, timings: Timings) -> None:
    """Set the run's specificity control to the gold plus noise matched to the judge's agreement."""
    from judgelab.audit.noise_match import match_noise, noisy_gold
    from judgelab.evaluate.judges.results import JudgeEvalResult

    if plan.is_gold:
        p.echo("       benign proxy: none (the audited judge is the gold: its arm is the oracle's)")
        return
    result = JudgeEvalResult.read(p.rd.eval_dir / "judges" / f"{plan.name}.json")
    target = result.metrics.agreement
    if target is None:
        p.echo("       benign proxy: none (the judge parsed no verdict on the held-out pairs)")
        return
    folder = plan.out / "noise-match"
    first = not folder.exists()  # a rerun reads the evaluations back: its time is not the section's
    t0 = time.perf_counter()
    matched = match_noise(p.cfg.gold, target, p.rd.root, folder, BENIGN)
    if first:
        timings.add("noise-match", time.perf_counter() - t0)
    if matched is None:
        p.echo(f"       benign proxy: none (gold {p.cfg.gold.backend.type!s} cannot take noise, or the judge agrees "
               f"with it fully)")
        return
    sd, agreement = matched
    p.cfg.policy.specificity_control = noisy_gold(p.cfg.gold, sd, BENIGN)
    p.echo(f"       benign proxy: gold + noise sd {sd:g} (agreement {agreement:.3f}; the judge's {target:.3f})")
    p.rd.write_run_json("audit", p.cfg, seed=p.cfg.seed)
