"""Typed command-line options reach the config as typed: ``--run-dir``, ``--responses``,
``--selector``, ``--judge`` values are never read as YAML (a ``#`` is no comment, ``2024`` or ``on``
no number or boolean), while ``--set`` stays YAML; errors name the option the user typed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from judgelab.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart.yaml"


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ei:
        main(args)
    out = capsys.readouterr()
    return ei.value.code, out.out, out.err


@pytest.mark.parametrize("name", ["x #1", "2024", "on", "0x10", "a: b"])
def test_run_dir_is_taken_as_typed(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["run", str(QUICKSTART), "--dry-run", "--run-dir", str(tmp_path / name)], capsys)
    assert code == 0, err
    assert f"valid; run_dir {tmp_path / name} (nothing loaded" in out
    code, out, err = run_cli(["run", str(QUICKSTART), "--dry-run", "--run-dir", name], capsys)  # relative: no prefix to hide it
    assert code == 0 and f"valid; run_dir {name} (nothing loaded" in out, err


def test_an_empty_run_dir_is_refused_by_its_option(capsys):
    code, _, err = run_cli(["run", str(QUICKSTART), "--dry-run", "--run-dir", ""], capsys)
    assert code == 2 and err.startswith("error: --run-dir: bad value for 'run_dir': run_dir is empty"), err


def test_an_empty_run_config_is_refused(tmp_path, capsys):
    (tmp_path / "empty.yaml").write_text("")
    code, _, err = run_cli(["run", str(tmp_path / "empty.yaml"), "--dry-run"], capsys)
    assert code == 2 and f"error: {tmp_path / 'empty.yaml'}: the run config is empty" in err, err


def test_best_of_n_paths_are_taken_as_typed(tmp_path, capsys):
    from judgelab.data.jsonl import write_jsonl
    from judgelab.data.prompts import load_prompts

    prompts = load_prompts("creative-v1", split="test", limit=2)
    responses = tmp_path / "cands #2.jsonl"
    write_jsonl(responses, [{"prompt_id": p.id, "prompt": p.prompt, "family": p.family, "constraints": p.constraints,
                             "response": "words " * n} for p in prompts for n in (3, 30)])
    selector = tmp_path / "judge v1: rubric.yaml"
    shutil.copy(ROOT / "examples" / "judge_rubric.yaml", selector)
    code, out, err = run_cli(["best-of-n", "--selector", str(selector), "--responses", str(responses), "--n", "1",
                              "--n", "2", "--draws", "1", "--out", str(tmp_path / "bon #1")], capsys)
    assert code == 0, err
    assert "pointwise: N=1" in out and (tmp_path / "bon #1" / "best_of_n.json").exists()


def test_train_policy_judge_is_taken_as_typed(tmp_path, monkeypatch, capsys):
    import judgelab.train.policy as policy

    seen = {}

    def fake_train(config, run_dir, name):
        seen.update(judge=config.judge, max_steps=config.grpo.max_steps)
        return Path(run_dir) / "final"

    monkeypatch.setattr(policy, "train_policy", fake_train)
    code, out, err = run_cli(["train-policy", "--run", str(tmp_path / "run"), "--name", "p", "--judge", "judges/v1 #2",
                              "--max-steps", "3"], capsys)
    assert code == 0, err
    assert seen == {"judge": "judges/v1 #2", "max_steps": 3}


def test_set_help_examples_are_keys_of_the_configs_it_names():
    from judgelab.annotate.stage import AnnotateConfig
    from judgelab.cli.common import set_option
    from judgelab.config import apply_overrides, validate
    from judgelab.evaluate.policies.policy_eval import EvaluateConfig
    from judgelab.pipeline.config import RunConfig
    from judgelab.sample import SampleConfig

    @set_option
    def f(overrides):  # the decorator's click.Option, to read its help
        pass

    help_text = f.__click_params__[0].help
    examples = re.findall(r"--set ([\w.]+=[\w.]+?)[,.]?(?:\s|$)", help_text)
    assert examples and "sampling.temperature" not in help_text
    first, *rest = examples
    for model in (RunConfig, SampleConfig, AnnotateConfig, EvaluateConfig):  # the general example fits every stage
        validate(model, apply_overrides({}, [first]), "--set", [first])
    for ex in rest:  # the run-specific ones fit a run config
        validate(RunConfig, apply_overrides({}, [ex]), "--set", [ex])


def test_installed_command_keeps_a_hash_in_the_run_dir_and_writes_nothing(tmp_path):
    exe = shutil.which("judgelab")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "JUDGELAB_CACHE": str(tmp_path / "cache")}
    env.pop("JUDGELAB_LOG_FILE", None)
    r = subprocess.run([*([exe] if exe else [sys.executable, "-m", "judgelab.cli"]), "run", str(QUICKSTART),
                        "--dry-run", "--run-dir", "runs/x #1"], capture_output=True, text=True, timeout=120,
                       env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "valid; run_dir runs/x #1 (nothing loaded, nothing written)" in r.stdout
    assert list(tmp_path.iterdir()) == []  # neither runs/x #1 nor runs/x, nor a log
