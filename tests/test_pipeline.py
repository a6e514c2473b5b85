"""`judgelab run` end to end on a tiny random model (seconds per stage), and kill/resume.

The tiny model is saved to a folder so every stage loads it through the same model-spec path a
user's config takes. Gold = the rubric, as in the quickstart.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from judgelab.errors import ConfigError
from judgelab.pipeline.config import RunPromptSettings, load_run_config
from judgelab.pipeline.plan import select_prompts


def tiny_config(model: str, run_dir: Path, policy_steps: int = 2) -> dict:
    return {
        "run_dir": str(run_dir),
        "prompts": {"train_limit": 4, "test_limit": 2},
        "sample": {"n": 2, "max_new_tokens": 8, "policies": [{"name": "base", "backend": {"type": "transformers", "model": model}}]},
        "annotate": {"pairs": {"strategy": "random", "k": 1}},
        "judges": [
            {"kind": "direct-sft", "model": model, "max_steps": 1, "batch_size": 2, "max_length": 2048},
            {"kind": "reward-model", "model": model, "max_steps": 1, "batch_size": 2, "max_length": 1024},
        ],
        "untrained_judges": [],
        "policy": {
            "seeds": [0],
            "judges": ["reward-model"],
            "base": {"model": model, "grpo": {"max_steps": policy_steps, "num_generations": 2,
                                              "max_completion_length": 6, "save_steps": 1}},
        },
        "evaluate": {"limit": 2, "bootstrap": 50, "max_new_tokens": 6},
    }


def _run_cli(cfg_path: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return subprocess.run([sys.executable, "-m", "judgelab.cli", "run", str(cfg_path)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_select_prompts_balances_families():
    picked = select_prompts(RunPromptSettings(train_limit=16, test_limit=8))
    train = [p for p in picked if p.split == "train"]
    test = [p for p in picked if p.split == "test"]
    assert len(train) == 16 and len(test) == 8
    assert len({p.family for p in train}) == 8  # round-robin over the 8 shipped families
    assert not {p.id for p in train} & {p.id for p in test}


def test_the_run_selection_is_the_one_prompt_selection():
    """Issue 22: the run's selection is load_prompts' balanced limit per split (families in name
    order), so a smaller balanced subset of it (best-of-N's, the gold monitor's) is that same subset
    of the source."""
    from judgelab.data.prompts import balanced_subset, load_prompts

    picked = select_prompts(RunPromptSettings(train_limit=12, test_limit=5, val_limit=6))
    want = (load_prompts("creative-v1", "train", limit=12) + load_prompts("creative-v1", "test", limit=5)
            + load_prompts("creative-v1", "val", limit=6))
    assert [p.id for p in picked] == [p.id for p in want]
    assert [p.family for p in picked[:3]] == ["advice", "explain_to_child", "persuasive_letter"]
    test = [p for p in picked if p.split == "test"]
    assert [p.id for p in balanced_subset(test, 3)] == [p.id for p in load_prompts("creative-v1", "test", limit=3)]


def test_run_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: {seeds: [0], judgez: []}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'policy.judgez'"):
        load_run_config(bad)
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_run_config(None, preset="nope")
    with pytest.raises(ConfigError, match="policy.judges names unknown judges: ghost"):
        load_run_config(None, ["policy.judges=[ghost]"])
    # names used by late stages are checked at load time, not after hours of training
    qs = Path(__file__).resolve().parents[1] / "examples" / "study.yaml"
    with pytest.raises(ConfigError, match=r"evaluate\.arena\.judges names judges this run does not evaluate with: reward-model-j0"):
        load_run_config(qs, ["policy.judges=[direct-point]", "evaluate.arena.judges=[gold, reward-model-j0]"])
    with pytest.raises(ConfigError, match="adversarial.judges names unknown judges: ghost"):
        load_run_config(qs, ["adversarial.judges=[gold, ghost]"])
    clash = tmp_path / "clash.yaml"
    clash.write_text("untrained_judges: [{name: direct-sft, judge: {name: direct-sft, backend: {type: rubric}}}]\n")
    with pytest.raises(ConfigError, match="untrained judge names must differ.*direct-sft"):
        load_run_config(clash)


def test_shipped_configs_validate():
    root = Path(__file__).resolve().parents[1]
    kinds = {"direct-sft", "reward-model", "reasoning-sft-grpo"}
    cfg = load_run_config(root / "examples" / "quickstart.yaml")
    # the quickstart: one policy per judge kind plus both controls, held-out monitoring with power
    assert {j.kind for j in cfg.judges} == kinds and cfg.policy.oracle_baseline and cfg.policy.negative_control is not None
    assert cfg.evaluate.limit >= 32 and cfg.prompts.test_limit >= 32 and cfg.evaluate.samples_per_prompt >= 4
    assert cfg.policy.specificity_control is not None  # the third control (issue 23)
    study = load_run_config(root / "examples" / "study.yaml")
    # replication at the level of the claim: judge seeds x policy seeds per arm (tests/test_dry_run.py: the design)
    assert {j.kind for j in study.judges} == kinds | {"grpo-only"} and len(study.judge_seeds) >= 2
    assert len(study.policy.seeds) >= 2
    assert study.policy.oracle_baseline and study.policy.negative_control is not None
    tiny = load_run_config(root / "examples" / "quickstart.yaml", preset="tiny")
    assert tiny.prompts.train_limit < cfg.prompts.train_limit


def test_run_end_to_end_then_kill_and_resume(tiny_causal_lm_dir, tmp_path):
    """One full run; then a second run killed during policy training resumes to the same artifacts."""
    from judgelab.data.rundir import RunDir

    # 1) uninterrupted run: every stage, report written.
    cfg_a = tmp_path / "a.yaml"
    cfg_a.write_text(yaml.safe_dump(tiny_config(tiny_causal_lm_dir, tmp_path / "run-a", policy_steps=3)))
    r = _run_cli(cfg_a)
    assert r.returncode == 0, r.stdout + r.stderr
    rd = RunDir(tmp_path / "run-a")
    html = rd.report_dir / "report.html"
    assert html.exists() and "proxy" in html.read_text().lower()
    assert (rd.eval_dir / "judges" / "direct-sft.json").exists()
    assert (rd.eval_dir / "judges" / "reward-model.json").exists()
    assert (rd.eval_dir / "policies" / "reward-model-s0.json").exists()
    adv = json.loads((rd.eval_dir / "adversarial.json").read_text())
    assert {"gold", "direct-sft", "reward-model"} <= set(adv["master_keys"])
    assert adv["master_keys"]["gold"]["fooled_rate"] is not None and "reward-model-s0" in adv["fooling_outputs"]
    ckpts_a = sorted(p.name for p in rd.policy_dir("reward-model-s0").glob("checkpoint-*"))
    assert ckpts_a == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]

    # A rerun of a finished run skips every stage.
    r2 = _run_cli(cfg_a)
    assert r2.returncode == 0 and "[run ] train-policy" not in r2.stdout
    assert r2.stdout.count("[skip]") >= 6

    # 2) same config in a fresh dir; SIGKILL once the first policy checkpoint exists.
    cfg_b = tmp_path / "b.yaml"
    cfg_b.write_text(yaml.safe_dump(tiny_config(tiny_causal_lm_dir, tmp_path / "run-b", policy_steps=3)))
    rb = RunDir(tmp_path / "run-b")
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "judgelab.cli", "run", str(cfg_b)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 600
    first = rb.policy_dir("reward-model-s0") / "checkpoint-1"
    while time.monotonic() < deadline and proc.poll() is None and not first.exists():
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not rb.is_done("train-policy-reward-model-s0")

    r3 = _run_cli(cfg_b)
    assert r3.returncode == 0, r3.stdout + r3.stderr
    assert "[skip] train-judge direct-sft" in r3.stdout  # finished stages are not redone
    ckpts_b = sorted(p.name for p in rb.policy_dir("reward-model-s0").glob("checkpoint-*"))
    assert ckpts_b == ckpts_a
    log = [json.loads(line) for line in (rb.policy_dir("reward-model-s0") / "log.jsonl").read_text().splitlines()]
    steps = sorted({row["step"] for row in log if "step" in row and "loss" in row})
    assert steps == [1, 2, 3]
    assert (rb.report_dir / "report.html").exists()


def test_oracle_baseline_trains_against_the_gold(tmp_path):
    from judgelab.data.rundir import RunDir
    from judgelab.pipeline.plan import policy_runs

    root = Path(__file__).resolve().parents[1]
    cfg = load_run_config(root / "examples" / "study.yaml", [f"run_dir={tmp_path}"])
    runs = dict(policy_runs(cfg, RunDir(tmp_path)))
    assert {"gold-s0", "gold-s1", "reward-model-j2-s1", "flawed-brevity-s1", "noisy-gold-s1"} <= set(runs)
    gold = runs["gold-s1"]
    assert gold.judge.name == "gold" and gold.judge.backend.type == "rubric" and gold.grpo.seed == 1
    assert gold.role == "positive-control" and runs["reward-model-j0-s0"].role == "study"
    assert runs["reward-model-j2-s1"].arm == "reward-model" and runs["reward-model-j2-s1"].judge_seed == 2
    assert runs["noisy-gold-s0"].role == "specificity-control" and runs["noisy-gold-s0"].judge.backend.noise == 2.0
    neg = runs["flawed-brevity-s0"]
    assert neg.role == "negative-control" and neg.judge.backend.rubric == "flawed-brevity" and neg.reward.mode == "pointwise"
    assert gold.reward.mode == "pointwise"


def test_an_llm_gold_set_once_is_used_by_every_stage(tmp_path):
    """One gold per run config: annotation, the oracle's reward, judge evaluation, monitoring and the
    adversarial probe all get the top-level gold; a stage-level gold is refused, not ignored."""
    from judgelab.pipeline.plan import policy_runs
    from judgelab.pipeline.runner import Pipeline

    llm_gold = {"name": "llm-gold", "style": "reasoning", "scale": [1, 10],
                "backend": {"type": "openai", "model": "gpt-oss-120b", "base_urls": ["http://127.0.0.1:9/v1"]}}
    cfg = load_run_config(None, [f"run_dir={tmp_path}", f"gold={json.dumps(llm_gold)}", "policy.oracle_baseline=true"])
    p = Pipeline(cfg, echo=lambda s: None)
    want = cfg.gold.model_dump(mode="json")
    assert want["backend"]["type"] == "openai" and want["name"] == "llm-gold"
    assert p.annotate_config().gold.model_dump(mode="json") == want  # annotation
    assert p.evaluate_config().gold.model_dump(mode="json") == want  # checkpoint monitoring
    oracle = dict(policy_runs(cfg, p.rd))["gold-s0"]
    assert oracle.judge.model_dump(mode="json") == want and oracle.role == "positive-control"  # the oracle reward
    specs = dict(p.judge_specs())  # judge evaluation and the adversarial probe
    assert specs["llm-gold"].model_dump(mode="json") == want
    # a gold set in a stage section would be used by that stage only: refused, with where to put it
    for section in ("annotate", "evaluate"):
        with pytest.raises(ConfigError, match=f"{section}.gold is set.*top level"):
            load_run_config(None, [f"run_dir={tmp_path}", f"{section}.gold.name=other"])
    for key, value in (("judge", "rubric-gold"), ("prompts.limit", "3")):
        with pytest.raises(ConfigError, match=f"policy.base.{key.split('.')[0]} is set"):
            load_run_config(None, [f"run_dir={tmp_path}", f"policy.base.{key}={value}"])
    # a partial top-level gold keeps the rubric-gold defaults for what it leaves out
    partial = load_run_config(None, [f"run_dir={tmp_path}", "gold.concurrency=4"])
    assert partial.gold.backend.type == "rubric" and partial.gold.concurrency == 4 and partial.gold.style == "reasoning"


def extras_config(model: str, run_dir: Path) -> dict:
    """tiny_config with every optional stage on: gold tracked during training, attacks, best-of-N, judge scaling."""
    cfg = tiny_config(model, run_dir)
    cfg["policy"]["base"]["monitor"] = {"every": 1, "prompts": 2, "samples": 1, "batch_size": 4}
    cfg["adversarial"] = {"enabled": False}
    cfg["attacks"] = {"harvest_limit": 4, "craft_kinds": ["fake_score", "master_key"], "craft_limit": 2, "bootstrap": 50}
    # the tiny reward model compares (pairwise): it runs the knockout; pointwise is skipped for it, and said so
    cfg["best_of_n"] = {"selectors": ["reward-model"], "methods": ["pointwise", "knockout"], "ns": [1, 2], "draws": 2, "max_new_tokens": 6,
                        "prompts": {"limit": 2}, "bootstrap": 50}
    cfg["judge_scaling"] = {"ks": [1, 2], "limit": 4, "bootstrap": 50}
    return cfg


def test_optional_stages_config(tmp_path):
    """The monitor passes through policy.base (watching the run's gold); the optional stages are
    off unless configured; their judge names are checked at load time."""
    from judgelab.pipeline.plan import policy_runs
    from judgelab.pipeline.runner import Pipeline

    base = [f"run_dir={tmp_path}", "policy.oracle_baseline=true"]
    cfg = load_run_config(None, base)
    assert cfg.attacks is None and cfg.best_of_n is None and cfg.judge_scaling is None
    llm_gold = {"name": "llm-gold", "backend": {"type": "openai", "model": "m", "base_urls": ["http://127.0.0.1:9/v1"]}}
    cfg = load_run_config(None, [*base, f"gold={json.dumps(llm_gold)}", "policy.base.monitor={every: 3, stop_on_hacking: true}",
                                 "attacks={}", "best_of_n={methods: [pointwise, knockout]}", "judge_scaling={ks: [1, 3]}"])
    runs = dict(policy_runs(cfg, Pipeline(cfg, echo=lambda s: None).rd))
    for pc in runs.values():
        assert pc.monitor.every == 3 and pc.monitor.stop_on_hacking
        assert pc.monitor.judge.model_dump(mode="json") == cfg.gold.model_dump(mode="json")  # the gold, set once
    p = Pipeline(cfg, echo=lambda s: None)
    assert p.attack_judges() == ["llm-gold", "direct-sft", "reasoning-sft-grpo"]
    assert p.scaling_judges() == ["direct-sft", "reasoning-sft-grpo"]  # reward models left out by default
    bc = p.best_of_n_config()
    assert bc.gold.name == "llm-gold" and bc.model == cfg.policy.base.model
    assert bc.prompts.source == str(p.rd.prompt_selection) and bc.prompts.split == "test"
    # an explicitly named monitor judge is kept
    own = load_run_config(None, [*base, "policy.base.monitor={judge: rubric-gold}"])
    assert all(pc.monitor.judge == "rubric-gold" for _, pc in policy_runs(own, Pipeline(own, echo=lambda s: None).rd))
    for override, msg in (("attacks.judges=[ghost]", "attacks.judges names unknown judges: ghost"),
                          ("best_of_n={selectors: [ghost]}", "best_of_n.selectors names unknown judges: ghost"),
                          ("best_of_n={selector: direct-sft}", "best_of_n.selector is set"),
                          ("judge_scaling={judge: direct-sft}", "judge_scaling.judge is set"),
                          ("judge_scaling={judges: [reward-model], budgets: [64]}", "reward models")):
        with pytest.raises(ConfigError, match=re.escape(msg)):
            load_run_config(None, [*base, override], preset="tiny")  # tiny: has a reward-model judge


@pytest.mark.slow
def test_run_with_optional_stages(tiny_causal_lm_dir, tmp_path):
    """`judgelab run` with every optional stage on (tiny random models, rubric gold): their artifacts
    are written, the report renders their sections, and a rerun skips them."""
    from judgelab.data.rundir import RunDir
    from judgelab.pipeline.runner import Pipeline

    cfg = load_run_config(None, [f"{k}={json.dumps(v)}" for k, v in extras_config(tiny_causal_lm_dir, tmp_path / "run").items()])
    lines: list[str] = []
    html = Pipeline(cfg, echo=lines.append).run()
    rd = RunDir(tmp_path / "run")
    mon = json.loads((rd.policy_dir("reward-model-s0") / "gold_monitor.json").read_text())
    assert [e["step"] for e in mon["evals"]] == [0, 1, 2] and all(e["gold"] is not None for e in mon["evals"])
    attacks = json.loads(rd.attacks.read_text())
    assert attacks["schema"] == "judgelab.attacks/v1"
    assert [c["step"] for c in attacks["flagged_over_training"]["reward-model-s0"]["curve"]] == [0, 1, 2]
    assert set(attacks["judges"]) == {"gold", "direct-sft", "reward-model"}  # the gold and the trained judges
    assert {"policy:reward-model-s0", "crafted:fake_score", "crafted:master_key"} <= set(attacks["transfer"])
    bon = json.loads((rd.eval_dir / "best_of_n" / "reward-model" / "best_of_n.json").read_text())
    assert bon["selector"] == "reward-model" and bon["ns"] == [1, 2] and list(bon["curves"]) == ["knockout"]
    assert bon["curves"]["knockout"][1]["gold"] is not None and bon["oracle"][1]["gold"] >= bon["random"][1]["gold"]
    assert any("best-of-N by reward-model" in ln and "skipped pointwise" in ln for ln in lines)
    assert (rd.eval_dir / "best_of_n" / "reward-model" / "best_of_n.png").exists()
    scaling = json.loads((rd.eval_dir / "judges" / "direct-sft.scaling.json").read_text())
    assert [r["k"] for r in scaling["voting"]] == [1, 2]
    page = html.read_text()
    for title in ("Gold tracked during training", "Attacks on judges", "Best-of-N", "Judge test-time scaling"):
        start = page.index(f"<h2>{title}</h2>")
        assert "not run" not in page[start: page.index("<h2>", start + 4)], title
    assert "reward-model-s0" in page and "selector: reward-model" in page and "votes k = 2" in page
    # a rerun skips the optional stages too
    lines.clear()
    Pipeline(cfg, echo=lines.append).run()
    for name in ("attacks", "best-of-n", "judge-scaling"):
        assert f"[skip] {name}: already complete" in lines


def test_logprob_ablation_adds_the_direct_judges_logprob_variant(tmp_path):
    """logprob_ablation evaluates each trained direct-sft judge a second time with verdicts read from
    token probabilities; reward models and other kinds get no variant; off by default."""
    from judgelab.judges.config import JudgeConfig
    from judgelab.judges.registry import JUDGE_FILE, TRAINED_SCHEMA
    from judgelab.pipeline.runner import Pipeline

    judges = "judges=[{kind: direct-sft}, {kind: reward-model}]"
    cfg = load_run_config(None, [f"run_dir={tmp_path}", judges])
    assert Pipeline(cfg, echo=lambda s: None).logprob_ablation_specs() == []

    cfg = load_run_config(None, [f"run_dir={tmp_path}", judges, "logprob_ablation=true"])
    pipe = Pipeline(cfg, echo=lambda s: None)
    folder = pipe.rd.judge_dir("direct-sft")
    folder.mkdir(parents=True)
    trained = JudgeConfig(name="direct-sft", backend={"type": "transformers", "model": str(folder)}, style="direct",
                          mode="pointwise", scale=(1, 10), sampling={"max_new_tokens": 16, "temperature": 0.7})
    (folder / JUDGE_FILE).write_text(json.dumps({"schema": TRAINED_SCHEMA, "judge": trained.model_dump(mode="json"),
                                                 "mode": "pointwise", "kind": "direct-sft"}))
    [(name, spec)] = pipe.logprob_ablation_specs()
    assert name == "direct-sft-logprob" and spec.name == name
    assert spec.verdict_from == "logprobs" and spec.sampling.temperature == 0.0
    assert spec.backend.model == str(folder) and tuple(spec.scale) == (1, 10)


@pytest.mark.parametrize("name", ["quickstart.yaml", "study.yaml", "paper.yaml"])
def test_launched_training_stages_get_their_exact_config(name, tmp_path):
    """`judgelab run --num-processes N` writes each training stage's config to run_dir/launch/ and the
    launched `train-judge` / `train-policy` reads it back: the same config, key for key."""
    from judgelab.config import load_config
    from judgelab.data.rundir import RunDir
    from judgelab.pipeline.plan import policy_runs
    from judgelab.train.common import TrainJudgeConfig
    from judgelab.train.policy import TrainPolicyConfig

    root = Path(__file__).resolve().parents[1]
    cfg = load_run_config(root / "examples" / name, [f"run_dir={tmp_path}"])
    stages = [(TrainJudgeConfig, j) for j in cfg.judges] + [(TrainPolicyConfig, pc) for _, pc in policy_runs(cfg, RunDir(tmp_path))]
    for i, (model, stage) in enumerate(stages):
        path = tmp_path / f"{i}.yaml"
        path.write_text(yaml.safe_dump(stage.model_dump(mode="json"), sort_keys=False))
        assert load_config(model, path).model_dump(mode="json") == stage.model_dump(mode="json")


def test_run_device_is_set_on_every_block_that_does_not_set_its_own(tmp_path):
    root = Path(__file__).resolve().parents[1]
    cfg = load_run_config(root / "examples" / "study.yaml", ["device=cuda:1", "evaluate.device=cpu"])
    assert cfg.policy.base.device == "cuda:1" and cfg.sample.policies[0].backend.device == "cuda:1"
    assert load_run_config(None, ["device=cuda:1"]).untrained_judges[0].judge.backend.device == "cuda:1"
    assert cfg.evaluate.device == "cpu"  # a block's own device wins
    plain = load_run_config(root / "examples" / "study.yaml")
    assert plain.device is None and plain.policy.base.device == "auto"  # unset: nothing changes
    assert "device" not in plain.policy.base.model_fields_set
    for bad in ("gpu", "cuda0", "cuda:x", "tpu"):
        with pytest.raises(ConfigError, match=r"unknown device.*auto, cpu, cuda or cuda:N"):
            load_run_config(root / "examples" / "study.yaml", [f"device={bad}"])
    with pytest.raises(ConfigError, match="policy.base.device"):
        load_run_config(root / "examples" / "study.yaml", ["policy.base.device=gpu"])


@pytest.mark.slow
def test_run_with_num_processes_launches_each_training_stage_on_two_ranks(tiny_causal_lm_dir, tmp_path):
    """`judgelab run CONFIG --num-processes 2`: judges and policies train on 2 real gloo ranks (each
    from its RUN/launch/<stage>.yaml); everything else runs once, in the first process."""
    from judgelab.data.rundir import RunDir

    cfg = tiny_config(tiny_causal_lm_dir, tmp_path / "run")
    cfg["policy"]["base"]["grpo"]["prompts_per_step"] = 2  # global: 4 completions, 2 per rank
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-m", "judgelab.cli", "run", str(path), "--num-processes", "2"],
                       capture_output=True, text=True, timeout=1200, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    rd = RunDir(tmp_path / "run")
    for stage in ("train-judge-direct-sft", "train-judge-reward-model", "train-policy-reward-model-s0"):
        assert (rd.root / "launch" / f"{stage}.yaml").exists()
        assert rd.is_done(stage)
    for command in ("train-judge", "train-policy"):
        assert f"[rank 0/2] judgelab {command} started" in r.stderr and f"[rank 1/2] judgelab {command} started" in r.stderr
    assert r.stdout.count("[run ] sample") == 1  # not once per rank
    assert (rd.report_dir / "report.html").exists()
    assert not list(rd.root.glob("judgments.rank*.sqlite"))  # shards merged by the next single-process stage
