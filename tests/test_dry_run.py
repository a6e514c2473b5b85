"""``judgelab run CONFIG --dry-run``: validates a run config and prints its plan and estimate without
loading a model, touching the network or writing anything (judgelab.pipeline.dry_run, .estimate)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from judgelab.pipeline.config import load_run_config
from judgelab.pipeline.dry_run import Estimator, plan_lines
from judgelab.pipeline.estimate import param_count, params_from_config, sharding, train_gb
from judgelab.pipeline.launch import Launch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _judgelab() -> list[str]:
    exe = shutil.which("judgelab")
    return [exe] if exe else [sys.executable, "-m", "judgelab.cli"]


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test."""
    def refuse(*a, **k):
        raise AssertionError(f"dry run touched the network: {a}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", ["paper.yaml", "quickstart.yaml", "study.yaml", "pilot.yaml"])
def test_shipped_configs_plan_offline_and_write_nothing(name, tmp_path, no_network):
    run_dir = tmp_path / "run"
    cfg = load_run_config(EXAMPLES / name, [f"run_dir={run_dir}"])
    launch = Launch(None, str(EXAMPLES / "accelerate" / "zero3.yaml")) if name == "paper.yaml" else Launch()
    text = "\n".join(plan_lines(cfg, launch, name))
    assert f"dry run of {name}: valid" in text
    for part in ("stages: prompts, sample, annotate, train-judge x", "models:", "judges: ", "policies: ", "devices: ",
                 "estimate (one H100 80GB per process", "total GPU-hours: ", "peak memory per GPU: "):
        assert part in text, part
    assert "unknown" not in text  # every model of the shipped configs has a known size
    assert not run_dir.exists()   # nothing written


def test_paper_config_has_the_studys_shape():
    cfg = load_run_config(EXAMPLES / "paper.yaml")
    models = {j.model for j in cfg.judges}
    assert {"Qwen/Qwen3-1.7B", "Qwen/Qwen3-4B", "Qwen/Qwen3-8B"} <= models
    assert {j.style for j in cfg.judges} == {"direct", "reasoning"}
    assert {j.mode for j in cfg.judges} == {"pointwise", "pairwise"}
    assert cfg.policy.base.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert cfg.gold.backend.type == "openai" and cfg.gold.backend.model == "openai/gpt-oss-120b"
    assert cfg.policy.base.grpo.max_completion_length >= 1024
    lines = plan_lines(cfg, Launch(None, str(EXAMPLES / "accelerate" / "zero3.yaml")), "paper.yaml")
    text = "\n".join(lines)
    assert "policies: 33 = 11 reward judges x 3 seeds" in text
    assert "judges: 9 trained (5 non-reasoning, 4 reasoning; 7 pointwise, 2 pairwise), 2 untrained, 1 gold" in text
    assert "8 processes via accelerate (" in text and "ZeRO-3" in text
    assert "openai/gpt-oss-120b (over the openai API)" in text
    policy = next(line for line in lines if line.strip().startswith("train-policy"))
    assert "GB" in policy and "API:" in policy  # the oracle baseline's and the monitor's gold calls
    # ZeRO-3 over 8 GPUs fits the 8B policy, its vLLM copy and an 8B judge on one 80 GB GPU
    gb = float(policy.split("GB")[0].split()[-1])
    assert 30 < gb < 80


def test_cli_dry_run_in_a_fresh_process_is_quick_and_offline(tmp_path):
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    import os

    env = {**os.environ, **env}
    r = subprocess.run([*_judgelab(), "run", str(EXAMPLES / "paper.yaml"), "--dry-run", "--accelerate-config",
                        str(EXAMPLES / "accelerate" / "zero3.yaml"), "--set", f"run_dir={tmp_path / 'r'}"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "train-policy" in r.stdout and "total GPU-hours" in r.stdout
    assert "torch" not in r.stderr
    assert not (tmp_path / "r").exists()


def test_bad_config_fails_the_dry_run_with_the_key(tmp_path):
    r = subprocess.run([*_judgelab(), "run", str(EXAMPLES / "quickstart.yaml"), "--dry-run", "--set", "device=gpu0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "device" in r.stderr and "cuda:N" in r.stderr


def test_param_counts_from_table_folder_and_unknown(tmp_path):
    assert param_count("Qwen/Qwen3-8B") == (8.2, "table")
    assert param_count("qwen/qwen3-8b")[0] == 8.2
    assert param_count("someone/unknown-model") == (None, "unknown")
    # Llama-3.1-8B's sizes give its 8.03 B parameters
    llama = {"hidden_size": 4096, "num_hidden_layers": 32, "vocab_size": 128256, "num_attention_heads": 32,
             "num_key_value_heads": 8, "intermediate_size": 14336, "tie_word_embeddings": False}
    assert params_from_config(llama) == pytest.approx(8.03, abs=0.01)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(llama))
    assert param_count(str(folder)) == (pytest.approx(8.03, abs=0.01), "config.json")
    (folder / "config.json").write_text("{}")
    assert param_count(str(folder))[0] is None


def test_unknown_model_makes_its_stages_unknown_not_an_error(tmp_path):
    folder = tmp_path / "mystery"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    cfg = load_run_config(EXAMPLES / "quickstart.yaml", [f"policy.base.model={folder}", f"run_dir={tmp_path / 'r'}"])
    text = "\n".join(plan_lines(cfg, Launch(), "quickstart.yaml"))
    assert "size unknown" in text
    assert "total GPU-hours: " in text and "+ unknown (train-policy, evaluate)" in text


def test_memory_rules_and_sharding_from_the_shipped_accelerate_configs():
    acc = EXAMPLES / "accelerate"
    assert sharding(None, str(acc / "zero3.yaml")) == (3, 8)
    assert sharding(2, str(acc / "zero3.yaml")) == (3, 2)
    assert sharding(None, str(acc / "zero2.yaml")) == (2, 8)
    assert sharding(None, str(acc / "fsdp.yaml")) == (3, 8)
    assert sharding(None, str(acc / "multi_gpu.yaml")) == (0, 8)
    assert sharding(4, None) == (0, 4)
    # 16 bytes per parameter unsharded; ZeRO-3 divides it all, ZeRO-2 all but the weights
    assert train_gb(1.0, False, (0, 8)) == pytest.approx(16 * 1.2)
    assert train_gb(1.0, False, (3, 8)) == pytest.approx(2 * 1.2)
    assert train_gb(1.0, False, (2, 8)) == pytest.approx((4 + 1.5) * 1.2)


def test_global_batch_counts_the_same_completions_on_any_process_count():
    cfg = load_run_config(EXAMPLES / "paper.yaml")
    one = Estimator(cfg, Launch()).train_policies()
    eight = Estimator(cfg, Launch(8)).train_policies()
    assert one.api_requests == eight.api_requests  # the same completions judged (prompts_per_step is global)


def test_study_config_is_the_preregistered_design():
    """examples/study.yaml (issue 23): pointwise and pairwise arms of both kinds, judge seeds, the
    ablations outside the primary contrast, a cap that lets length hacks happen, three controls."""
    from judgelab.errors import ConfigError

    cfg = load_run_config(EXAMPLES / "study.yaml")
    arms = {j.arm for j in cfg.judges}
    assert {"direct-point", "direct-pair", "reward-model", "reasoning-point", "reasoning-pair",
            "reasoning-rl-only", "reasoning-names"} == arms and cfg.judge_seeds == [0, 1, 2]
    assert {(j.arm, j.mode) for j in cfg.judges} >= {("direct-pair", "pairwise"), ("reasoning-pair", "pairwise")}
    st = cfg.evaluate.study
    assert st.reasoning_arms == ["reasoning-point", "reasoning-pair"] and "reasoning-names" not in st.non_reasoning_arms
    assert cfg.policy.base.grpo.max_completion_length >= 128 and cfg.sample.max_new_tokens >= 128
    assert cfg.policy.specificity_control is not None and cfg.policy.negative_control is not None
    assert cfg.evaluate.arena.style == "auto" and cfg.evaluate.arena.judges == ["gold"]
    assert "primary endpoint" in (EXAMPLES / "study.yaml").read_text()
    with pytest.raises(ConfigError, match="evaluate.study.reasoning_arms names unknown arms: nope"):
        load_run_config(EXAMPLES / "study.yaml", overrides=["evaluate.study.reasoning_arms=[nope]"])


def test_llm_gold_study_config_loads_and_plans():
    cfg = load_run_config(EXAMPLES / "study_llm_gold.yaml")
    assert cfg.gold.backend.type == "openai" and cfg.policy.specificity_control is None
    assert {j.arm for j in cfg.judges} == {j.arm for j in load_run_config(EXAMPLES / "study.yaml").judges}
    text = "\n".join(plan_lines(cfg, Launch(), "study_llm_gold.yaml"))
    assert "openai/gpt-oss-120b (over the openai API)" in text and "gold-check" in (EXAMPLES / "study_llm_gold.yaml").read_text()


@pytest.mark.parametrize("expr,match", [
    ("prompts.families=[poemm]", "unknown family 'poemm'"),
    ("prompts.source=nothere.csv", "nothere.csv: prompt file not found"),
    ("prompts.source=nothere.jsonl", "nothere.jsonl: prompt file not found"),
])
def test_dry_run_checks_the_prompt_selection(expr, match, tmp_path, no_network, monkeypatch):
    from judgelab.errors import JudgelabError

    monkeypatch.chdir(tmp_path)
    cfg = load_run_config(EXAMPLES / "quickstart.yaml", [f"run_dir={tmp_path / 'run'}", expr])
    with pytest.raises(JudgelabError, match=match):
        plan_lines(cfg, Launch(), "quickstart.yaml")


def test_dry_run_reads_a_local_prompt_file(tmp_path, no_network):
    rows = [{"id": f"{f}-{i}", "prompt": "Write.", "family": f, "split": s}
            for f in ("poem", "advice") for i, s in enumerate(["train"] * 3 + ["test", "val"])]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_run_config(EXAMPLES / "quickstart.yaml", [f"run_dir={tmp_path / 'run'}", f"prompts.source={tmp_path / 'p.jsonl'}"])
    assert "valid" in plan_lines(cfg, Launch(), "quickstart.yaml")[0]
    cfg = load_run_config(EXAMPLES / "quickstart.yaml", [f"run_dir={tmp_path / 'run'}", f"prompts.source={tmp_path / 'p.jsonl'}",
                                                          "prompts.families=[story]"])
    with pytest.raises(Exception, match="unknown family 'story'.*advice, poem"):
        plan_lines(cfg, Launch(), "quickstart.yaml")


def test_cli_dry_run_creates_no_log_file_in_the_run_dir(tmp_path, monkeypatch, capsys):
    """The default log goes to RUN/logs/: a dry run, which says it writes nothing, must not make RUN."""
    from judgelab.cli import main

    monkeypatch.delenv("JUDGELAB_LOG_FILE", raising=False)
    monkeypatch.setenv("JUDGELAB_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "r"
    with pytest.raises(SystemExit) as ei:
        main(["run", str(EXAMPLES / "quickstart.yaml"), "--dry-run", "--run-dir", str(run)])
    assert ei.value.code == 0 and "nothing written" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no run dir, no cache log
    with pytest.raises(SystemExit) as ei:  # a log file asked for is still written
        main(["--log-file", str(tmp_path / "dry.log"), "run", str(EXAMPLES / "quickstart.yaml"), "--dry-run",
              "--run-dir", str(run)])
    assert ei.value.code == 0 and (tmp_path / "dry.log").exists() and not run.exists()
