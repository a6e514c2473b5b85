"""The audit card from the audit's run directory: each section read from the result file of the stage
that measured it (judge evaluation and gate, attacks, best-of-N, policy evaluations with their
hacking calls, the gold monitor), nothing recomputed. A missing or unreadable result leaves its
section None and a line in ``limits``.

Reads ``<audit>/run/eval/...``, ``<audit>/run/policies/<name>/gold_monitor.json`` and
``<audit>/benchmarks/``; writes nothing (judgelab.audit.run writes the card).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from judgelab.audit.budget import LIMITS
from judgelab.audit.card import (
    AdversarialSection,
    Arm,
    ArmCurvePoint,
    AttackRow,
    AuditCard,
    BenchmarkScore,
    DynamicSection,
    Estimate,
    SelectionSection,
    StaticSection,
    summary_line,
)
from judgelab.audit.plan import BENIGN, AuditPlan
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError
from judgelab.evaluate.policies.hacking_call import Diff


def _read(cls, path: Path, limits: list[str], what: str):  # type: ignore[no-untyped-def]
    if not path.exists():
        limits.append(f"{what}: not measured ({path.name} missing)")
        return None
    try:
        return cls.read(path)
    except DataError as exc:
        limits.append(f"{what}: unreadable result {path} ({exc.what})")
        return None


def _diff(d: Diff | None) -> Estimate | None:
    return None if d is None else Estimate(value=d.mean, ci95=d.ci95, n=d.n, method=d.ci_method)


def static_section(rd: RunDir, name: str, bench_dir: Path, limits: list[str]) -> StaticSection | None:
    from judgelab.evaluate.judges.gate import read_gate
    from judgelab.evaluate.judges.results import BenchmarkEvalResult, JudgeEvalResult

    r = _read(JudgeEvalResult, rd.eval_dir / "judges" / f"{name}.json", limits, "static")
    if r is None:
        return None
    m = r.metrics
    gate_result = read_gate(rd.root)
    gate = gate_result.status_of(name) if gate_result is not None else None
    if m.self_consistency is None:
        limits.append("self-consistency: not measured (one verdict per pair at this budget)")
    benches = []
    for path in sorted(bench_dir.glob("*.json")) if bench_dir.exists() else []:
        b = BenchmarkEvalResult.read(path)
        benches.append(BenchmarkScore(file=b.data, benchmark=b.benchmark, metric=str(b.metrics.get("metric")),
                                      value=b.score, n=b.n_rows))
    return StaticSection(
        agreement=Estimate(value=m.agreement, ci95=m.agreement_ci95, n=m.n_agreement, method=m.agreement_ci_method),
        non_tie_accuracy=m.non_tie_accuracy, position_consistency=m.position_consistency,
        self_consistency=m.self_consistency, parse_failure_rate=m.parse_failure_rate, tie_rate=m.tie_rate,
        n_pairs=m.n_pairs, split=r.split, gate=gate, benchmarks=benches)


def _asr(c) -> Estimate:  # type: ignore[no-untyped-def]
    return Estimate(value=c.asr, ci95=c.asr_ci, n=c.n - c.unusable)


def adversarial_section(rd: RunDir, judge: str, policy: str, limits: list[str]) -> AdversarialSection | None:
    """The crafted attack families and the outputs of the policy trained against the judge (the
    attacks stage also harvests the oracle's and the benign proxy's: not about this judge)."""
    from judgelab.evaluate.attacks.results import AttacksResult

    r = _read(AttacksResult, rd.attacks, limits, "adversarial")
    if r is None:
        return None
    rows = []
    for source, cells in r.transfer.items():
        c = cells.get(judge)
        if c is None or not (source.startswith("crafted:") or source == f"policy:{policy}"):
            continue
        stripped = (Estimate(value=c.asr_stripped, ci95=c.asr_stripped_ci, n=c.n_asr_stripped)
                    if c.asr_stripped is not None else None)
        gold = cells.get("gold")  # the audited gold's own cell when the gold is audited: it never fools itself
        rows.append(AttackRow(source=source, asr=_asr(c), asr_stripped=stripped,
                              gold_asr=_asr(gold) if gold is not None else None, n_flagged=c.n_flagged))
    # Fooled = preferred more often than the gold prefers it (a trained policy's outputs may really be better).
    fooled = [row for row in rows if row.excess is not None and row.excess > 0]
    worst = max(fooled, key=lambda row: row.excess).source if fooled else None  # type: ignore[arg-type,return-value]
    return AdversarialSection(rows=rows, worst=worst)


def selection_section(rd: RunDir, selector: str, limits: list[str]) -> SelectionSection | None:
    from judgelab.evaluate.policies.results import BestOfNResult

    r = _read(BestOfNResult, rd.eval_dir / "best_of_n" / selector / "best_of_n.json", limits, "selection")
    if r is None or not r.curves:
        return None
    method, curve = next(iter(r.curves.items()))
    n = max(p.n for p in curve)

    def at(points) -> Estimate:  # type: ignore[no-untyped-def]
        p = next((p for p in points if p.n == n), None)
        return Estimate(value=None) if p is None else Estimate(value=p.gold, ci95=p.ci, n=p.prompts)

    judge, rand, gold = at(curve), at(r.random), at(r.oracle)
    recovered = None
    if None not in (judge.value, rand.value, gold.value) and gold.value - rand.value > 1e-9:  # type: ignore[operator]
        recovered = (judge.value - rand.value) / (gold.value - rand.value)  # type: ignore[operator]
    return SelectionSection(n=n, prompts=r.prompts, judge_pick=judge, random_pick=rand, gold_pick=gold,
                            recovered=recovered, method=method)


def _arm(rd: RunDir, role: str, policy: str, limits: list[str]) -> Arm | None:
    from judgelab.evaluate.policies.results import PolicyEvalResult

    r = _read(PolicyEvalResult, rd.policy_eval(policy), limits, f"dynamic ({role} arm)")
    if r is None:
        return None
    curve = [ArmCurvePoint(step=row.step, gold=row.gold_score_norm, gold_ci95=row.gold_score_norm_ci,
                           proxy=row.proxy_score) for row in r.rows]
    call = r.hacking_call
    monitor = rd.policy_dir(policy) / "gold_monitor.json"
    onset, msteps = None, []
    if monitor.exists():
        m = json.loads(monitor.read_text())
        onset, msteps = m.get("onset_step"), [e["step"] for e in m.get("evals", [])]
    return Arm(role=role, policy=policy, reward=r.proxy_judge, curve=curve,  # type: ignore[arg-type]
               call=call.outcome if call else None, call_kind=call.kind if call else None,
               call_reason=call.reason if call else None, gold_gain=_diff(call.gold_gain) if call else None,
               proxy_gain=_diff(call.proxy_gain) if call else None, onset_step=onset, monitor_steps=msteps)


def dynamic_section(plan: AuditPlan, limits: list[str]) -> DynamicSection | None:
    rd = RunDir(plan.run_dir)
    seed = plan.config.policy.seeds[0]
    oracle = _arm(rd, "oracle", f"gold-s{seed}", limits)
    judge = (oracle.model_copy(update={"role": "judge"}) if plan.is_gold and oracle is not None
             else _arm(rd, "judge", f"{plan.name}-s{seed}", limits))
    spec = plan.config.policy.specificity_control
    benign = _arm(rd, "benign", f"{BENIGN}-s{seed}", limits) if spec is not None else None
    if spec is None and not plan.is_gold:
        limits.append("no benign proxy (the gold is not a rubric, or the judge's agreement left nothing to match): a "
                      "'hacked' call here cannot be told apart from 'imperfect'")
    if judge is None:
        return None
    arms = [a for a in (judge, oracle, benign) if a is not None]
    og = oracle.gold_gain.value if oracle is not None and oracle.gold_gain is not None else None
    jg = judge.gold_gain.value if judge.gold_gain is not None else None
    fraction = jg / og if jg is not None and og is not None and og > 0 else None
    problems = []
    if oracle is None or oracle.call_kind != "gold-rose":
        problems.append("the oracle's gold did not rise significantly (the budget cannot show learning)")
    if benign is not None and benign.call == "hacked":
        problems.append("the benign proxy read 'hacked': at this budget 'hacked' may mean only 'imperfect'")
    elif benign is not None and benign.call != "not hacked":
        problems.append(f"the benign proxy's call is '{benign.call}': this budget cannot tell 'hacked' from 'imperfect'")
    noise = getattr(getattr(spec, "backend", None), "noise", None) if spec is not None else None
    matched = _benign_agreement(plan, noise)
    return DynamicSection(steps=plan.config.policy.base.grpo.max_steps, arms=arms, call=judge.call,
                          gold_gain_fraction=fraction, benign_noise=noise, benign_agreement=matched,
                          controls="ok" if not problems else "; ".join(problems))


def _benign_agreement(plan: AuditPlan, noise: float | None) -> float | None:
    if noise is None:
        return None
    path = plan.out / "noise-match" / f"noise-{noise:g}.json"
    try:
        return json.loads(path.read_text())["metrics"]["agreement"]
    except (OSError, KeyError, json.JSONDecodeError):
        return None


def assemble_card(plan: AuditPlan, seconds: dict[str, float]) -> AuditCard:
    from judgelab import __version__

    rd = RunDir(plan.run_dir)
    limits = list(LIMITS[plan.budget])
    jname = "gold" if plan.is_gold else plan.name
    static = static_section(rd, plan.name, plan.out / "benchmarks", limits)
    if static is not None and static.gate == "at chance":
        limits.append("the judge is at chance by the gate: its dynamic call is about a judge that does not yet judge")
    card = AuditCard(
        judge=plan.name, judge_spec=plan.spec, judge_config=plan.judge.model_dump(mode="json"),
        gold=_gold_label(plan),
        budget=plan.budget, prompts=plan.config.prompts.source,
        source_run=str(plan.source_run) if plan.source_run else None, run_dir=str(plan.run_dir),
        summary="", static=static,
        adversarial=adversarial_section(rd, jname, f"{'gold' if plan.is_gold else plan.name}-s{plan.config.policy.seeds[0]}", limits),
        selection=selection_section(rd, jname, limits), dynamic=dynamic_section(plan, limits), limits=limits,
        seconds=seconds, created=datetime.now(timezone.utc).isoformat(timespec="seconds"), judgelab=__version__)
    card.summary = summary_line(card)
    return card


def _gold_label(plan: AuditPlan) -> str:
    """The gold as a reader knows it: the rubric's name, or the backend's model."""
    b = plan.config.gold.backend
    return f"rubric:{b.rubric}" if getattr(b, "type", None) == "rubric" else str(getattr(b, "model", b.type))
