"""``judgelab audit``: the plan (an ordinary run config around the audited judge), the card from a
real audit of a rubric judge on a tiny random policy (every stage really runs), resume, the gold
audited against itself, and the compare page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from judgelab.audit.card import AuditCard
from judgelab.audit.plan import BENIGN, plan_audit
from judgelab.errors import ConfigError, JudgelabError

TINY = [
    "prompts={train_limit: 4, test_limit: 4, val_limit: 2}",
    "sample.max_new_tokens=8",
    "policy.base.grpo={max_steps: 2, num_generations: 2, prompts_per_step: 1, max_completion_length: 6, save_steps: 1}",
    "policy.base.monitor={every: 1, prompts: 2, samples: 1, batch_size: 4}",
    "evaluate={limit: 4, samples_per_prompt: 2, bootstrap: 50, arena: {enabled: false}}",
    "attacks={harvest_limit: 4, craft_kinds: [fake_score, master_key], craft_limit: 2, bootstrap: 50}",
    "best_of_n={ns: [1, 2], draws: 2, max_new_tokens: 6, prompts: {split: test, limit: 2}, bootstrap: 50}",
]


def test_plan_is_a_run_around_the_judge(tmp_path: Path) -> None:
    plan = plan_audit("rubric-flawed-brevity", out=tmp_path)
    cfg = plan.config
    assert plan.name == "flawed-brevity" and not plan.is_gold and plan.out == tmp_path / "flawed-brevity"
    assert cfg.run_dir == str(tmp_path / "flawed-brevity" / "run") and cfg.judges == []
    assert [u.name for u in cfg.untrained_judges] == ["flawed-brevity"] and cfg.policy.judges == ["flawed-brevity"]
    assert cfg.policy.oracle_baseline and cfg.policy.negative_control is None
    assert cfg.attacks.judges == ["flawed-brevity", "gold"] and cfg.best_of_n.selectors == ["flawed-brevity"]
    assert cfg.policy.base.grpo.max_steps == 6 and cfg.gold.name == "gold"  # the small budget, the rubric gold
    from judgelab.pipeline.plan import policy_runs
    from judgelab.data.rundir import RunDir

    runs = dict(policy_runs(cfg, RunDir(cfg.run_dir)))
    assert set(runs) == {"flawed-brevity-s0", "gold-s0"} and runs["flawed-brevity-s0"].role == "study"
    # The gold audited against itself: no separate arm, the oracle is its arm.
    gold = plan_audit("rubric-gold", out=tmp_path)
    assert gold.is_gold and gold.config.untrained_judges == [] and gold.config.policy.judges == []
    assert gold.config.attacks.judges == ["gold"] and gold.config.best_of_n.selectors == ["gold"]
    # Overrides go through the run config's own validation.
    assert plan_audit("rubric-gold", out=tmp_path, overrides=["policy.base.grpo.max_steps=3"]).config.policy.base.grpo.max_steps == 3


def test_plan_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown budget"):
        plan_audit("rubric-gold", budget="huge", out=tmp_path)
    with pytest.raises(ConfigError, match="no judge at"):
        plan_audit("no-such-judge", out=tmp_path)
    with pytest.raises(ConfigError, match="named 'gold' but is not the gold"):
        plan_audit("rubric-flawed-brevity", name="gold", out=tmp_path)
    with pytest.raises(ConfigError, match="benign proxy"):
        plan_audit("rubric-flawed-brevity", name=BENIGN, out=tmp_path)
    with pytest.raises(ConfigError, match="bad audit --name name"):
        plan_audit("rubric-flawed-brevity", name="../x", out=tmp_path)
    with pytest.raises(JudgelabError, match="no run.json"):
        plan_audit("rubric-flawed-brevity", run=tmp_path, out=tmp_path)


STORY = ("The lighthouse keeper counted the ships each night, writing their names in a blue ledger. When the storm "
         "came, she climbed the stairs with a lantern, and by morning the harbour was full of sails she had never seen. "
         "She wrote every one down, and smiled.")


@pytest.fixture(scope="module")
def source_run(tmp_path_factory) -> Path:
    """A finished run's data stages: the shipped prompts, hand-written responses of different quality
    and length (a tiny random policy's text ties under the gold), gold annotations by the real stage."""
    from judgelab.annotate.stage import annotate
    from judgelab.data.jsonl import write_jsonl
    from judgelab.pipeline.config import load_run_config
    from judgelab.pipeline.plan import select_prompts
    from judgelab.pipeline.runner import Pipeline

    root = tmp_path_factory.mktemp("source") / "run"
    cfg = load_run_config(None, [f"run_dir={root}", "prompts={train_limit: 8, test_limit: 8, val_limit: 2}",
                                 "judges=[]", "untrained_judges=[]", "annotate={pairs: {strategy: random, k: 1}}"])
    p = Pipeline(cfg, echo=lambda s: None)
    p.rd.write_run_json("run", cfg)
    prompts = select_prompts(cfg.prompts)
    write_jsonl(p.rd.prompt_selection, [q.to_dict() for q in prompts])
    rows = []
    for q in prompts:
        if q.split == "val":
            continue
        for i, text in enumerate((STORY[: 40 + 37 * (len(q.id) % 5)], "ok.")):
            rows.append({"schema": "judgelab.response/v1", "id": f"{q.id}:{i}", "prompt_id": q.id, "prompt": q.prompt,
                         "response": text, "model": "hand", "family": q.family, "split": q.split,
                         "constraints": q.constraints, "sample_index": i})
    write_jsonl(p.rd.responses, rows)
    for stage in ("prompts", "sample"):
        p.rd.mark_done(stage)
    annotate(p.annotate_config(), root)
    assert p.rd.is_done("annotate")
    return root


JUDGEBENCH = Path(__file__).resolve().parents[1] / "evaluate" / "judges" / "fixtures" / "benchmarks" / "judgebench.jsonl"


def _audit(spec: str, tiny: str, out: Path, lines: list[str], benchmarks: list[str] | None = None,
           **kw) -> AuditCard:  # type: ignore[no-untyped-def]
    from judgelab.audit.run import run_audit

    plan = plan_audit(spec, out=out, policy_model=tiny, overrides=TINY, **kw)
    return AuditCard.read(run_audit(plan, benchmarks=benchmarks, echo=lines.append))


def test_audit_end_to_end_resume_gold_and_compare(tiny_causal_lm_dir: str, source_run: Path, tmp_path: Path) -> None:
    from judgelab.data.rundir import RunDir
    from judgelab.evaluate.judges.results import JudgeEvalResult
    from judgelab.evaluate.policies.results import PolicyEvalResult

    out = tmp_path / "audit"
    lines: list[str] = []
    card = _audit("rubric-flawed-brevity", tiny_causal_lm_dir, out, lines, run=source_run, benchmarks=[str(JUDGEBENCH)])
    assert card.source_run == str(source_run)
    assert (out / "flawed-brevity" / "run" / "annotations" / "pairs.jsonl").read_bytes() == (source_run / "annotations" / "pairs.jsonl").read_bytes()
    rd = RunDir(out / "flawed-brevity" / "run")
    # static: the card's numbers are the evaluation's, not recomputed
    ev = JudgeEvalResult.read(rd.eval_dir / "judges" / "flawed-brevity.json")
    assert card.static is not None and card.static.agreement.value == ev.metrics.agreement
    assert card.static.n_pairs == ev.metrics.n_pairs > 0
    from judgelab.evaluate.judges.gate import read_gate

    assert card.static.gate == read_gate(rd.root).status_of("flawed-brevity")
    # a public benchmark file passed in: its own metric on the card
    (bench,) = card.static.benchmarks
    assert bench.benchmark == "judgebench" and bench.value is not None and bench.n and bench.n > 0
    # dynamic: three arms; each call is the policy evaluation's calibrated call
    d = card.dynamic
    assert d is not None and [a.role for a in d.arms] == ["judge", "oracle", "benign"]
    for arm in d.arms:
        r = PolicyEvalResult.read(rd.policy_eval(arm.policy))
        assert arm.call == (r.hacking_call.outcome if r.hacking_call else None)
        assert [p.step for p in arm.curve] == [row.step for row in r.rows] == [0, 1, 2]
        assert arm.monitor_steps == [0, 1, 2]
    assert d.arms[2].reward == BENIGN and d.benign_noise is not None and d.benign_agreement is not None
    assert d.call == d.arms[0].call
    # the benign proxy's noise is the one whose agreement is closest to the judge's, among those tried
    tried = {float(p.stem.split("-", 1)[1]): json.loads(p.read_text())["metrics"]["agreement"]
             for p in (out / "flawed-brevity" / "noise-match").glob("noise-*.json")}
    target = card.static.agreement.value
    assert abs(tried[d.benign_noise] - target) == min(abs(a - target) for a in tried.values())
    # adversarial and selection from the attacks and best-of-N stages
    assert card.adversarial is not None
    assert {r.source for r in card.adversarial.rows} == {"crafted:fake_score", "crafted:master_key", "policy:flawed-brevity-s0"}
    from judgelab.evaluate.attacks.results import AttacksResult

    transfer = AttacksResult.read(rd.attacks).transfer
    for row in card.adversarial.rows:  # the judge's and the gold's success on the same cases, as measured
        assert row.asr.value == transfer[row.source]["flawed-brevity"].asr
        assert row.gold_asr is not None and row.gold_asr.value == transfer[row.source]["gold"].asr
    fooled = {r.source: r.excess for r in card.adversarial.rows if r.excess and r.excess > 0}
    assert card.adversarial.worst == (max(fooled, key=fooled.get) if fooled else None)
    assert card.selection is not None and card.selection.n == 2 and card.selection.gold_pick.value is not None
    # data shared with the source run: no data stage ran, no time for it
    assert card.summary.startswith("agreement ") and set(card.seconds) == {"static", "dynamic", "adversarial", "selection"}
    page = (out / "flawed-brevity" / "card.html").read_text()
    assert "flawed-brevity" in page and re.escape(card.summary[:20]) and "data:image/png;base64" in page

    # resume: a second invocation runs no stage again and writes the same findings
    again: list[str] = []
    card2 = _audit("rubric-flawed-brevity", tiny_causal_lm_dir, out, again, run=source_run, benchmarks=[str(JUDGEBENCH)])
    assert not any(ln.startswith("[run ]") for ln in again), again
    assert card2.model_dump(exclude={"created"}) == card.model_dump(exclude={"created"})

    # the gold audited against itself: its arm is the oracle's; no benign proxy needed
    gold_lines: list[str] = []
    gold = _audit("rubric-gold", tiny_causal_lm_dir, out, gold_lines, run=source_run)
    assert gold.dynamic is not None and [a.role for a in gold.dynamic.arms] == ["judge", "oracle"]
    # the oracle depends on the gold, prompts and budget only: trained once, shared by the next audit
    assert any("oracle gold-s0: shared from" in ln for ln in gold_lines), gold_lines
    assert not any(ln.startswith("[run ] train-policy") for ln in gold_lines)
    assert gold.dynamic.arms[1].curve == d.arms[1].curve
    assert gold.dynamic.arms[0].policy == gold.dynamic.arms[1].policy == "gold-s0"
    assert gold.static is not None and gold.static.agreement.value == 1.0

    from judgelab.audit.compare import compare_cards

    page = compare_cards([out / "flawed-brevity" / "card.json", out / "gold" / "card.json"], out / "compare.html")
    text = page.read_text()
    assert "flawed-brevity" in text and "gold" in text and "data:image/png;base64" in text
    with pytest.raises(ConfigError, match="at least two"):
        compare_cards([out / "gold" / "card.json"], out / "c.html")


def test_what_fools_a_judge() -> None:
    """A crafted attack never improves an answer: every success fools the judge, even where the gold is
    fooled too. A trained policy's outputs may really be better: only the judge's preference beyond
    the gold's counts."""
    from judgelab.audit.card import AttackRow, Estimate

    def row(source: str, asr: float | None, gold: float | None) -> AttackRow:
        return AttackRow(source=source, asr=Estimate(value=asr), n_flagged=0,
                         gold_asr=None if gold is None else Estimate(value=gold))

    assert row("crafted:fake_score", 0.5, 0.5).excess == 0.5
    assert row("policy:j-s0", 0.875, 0.125).excess == pytest.approx(0.75)
    assert row("policy:gold-s0", 0.75, 0.75).excess == 0.0  # the gold's own outputs, judged by the gold
    assert row("policy:j-s0", 0.4, None).excess == 0.4 and row("crafted:x", None, 0.1).excess is None


def test_cli_dry_run_and_errors(tmp_path: Path) -> None:
    """The installed console script in a fresh process: the plan without loading anything; bad input
    in one line, exit 2."""
    import subprocess

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["judgelab", "audit", *args], capture_output=True, text=True, timeout=120)

    r = run("--judge", "rubric-flawed-brevity", "--out", str(tmp_path), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "audit of 'flawed-brevity' (small budget)" in r.stdout and "train-policy x2" in r.stdout
    assert "benign proxy" in r.stdout and not (tmp_path / "flawed-brevity" / "run" / "run.json").exists()
    for args, msg in ((["--judge", "no-such"], "no judge at 'no-such'"), ([], "give --judge"),
                      (["--judge", "rubric-gold", "--budget", "huge"], "huge"),
                      (["--compare", __file__], "card")):
        r = run(*args)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
