"""One command to scale a stage (judgelab.pipeline.launch, cli.common): ``--num-processes N`` and
``--accelerate-config FILE`` re-launch the same judgelab command under ``accelerate launch``; the
shipped accelerate configs are valid for accelerate's own launcher; a real 2-rank launch starts 2 ranks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from judgelab.errors import ConfigError
from judgelab.pipeline.launch import LAUNCHED_ENV, Launch, accelerate_command, check_launch

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = sorted((ROOT / "examples" / "accelerate").glob("*.yaml"))


def _judgelab() -> list[str]:
    exe = shutil.which("judgelab")
    return [exe] if exe else [sys.executable, "-m", "judgelab.cli"]


def test_plain_launch_is_gloo_or_nccl_data_parallel_with_n_ranks():
    cmd = accelerate_command(Launch(2), ["train-judge", "--run", "r"], port=29999)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    launcher = cmd[3:cmd.index("-m", 3)]
    # --multi_gpu (not --cpu: `--cpu --num_processes 2` silently starts one process)
    assert launcher == ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                        "--dynamo_backend", "no", "--main_process_port", "29999"]
    assert cmd[-5:] == ["-m", "judgelab.cli", "train-judge", "--run", "r"]


def test_config_file_launch_lets_the_file_decide_and_n_override(tmp_path):
    f = str(ACCELERATE[0])
    assert accelerate_command(Launch(None, f), ["run"])[3:6] == ["--config_file", f, "-m"]
    assert accelerate_command(Launch(4, f), ["run"])[3:7] == ["--config_file", f, "--num_processes", "4"]


def test_one_process_without_a_file_stays_here():
    assert not Launch().active and not Launch(1).active
    assert Launch(2).active and Launch(None, "x.yaml").active


def test_bad_launch_options_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="--num-processes must be >= 1"):
        check_launch(0, None)
    with pytest.raises(ConfigError, match="accelerate config file not found"):
        check_launch(None, str(tmp_path / "missing.yaml"))
    monkeypatch.setenv(LAUNCHED_ENV, "1")
    with pytest.raises(ConfigError, match="inside a launched process"):
        check_launch(2, None)
    assert not check_launch(None, None).active  # a launched rank itself goes on


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.name)
def test_shipped_accelerate_configs_pass_accelerates_checks(path):
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    args = launch_command_parser().parse_args(["--config_file", str(path), "-m", "judgelab.cli", "run"])
    args, _, _ = _validate_launch_command(args)
    assert args.num_processes >= 8
    name = path.stem
    assert args.use_deepspeed == name.startswith("zero") or name == "multi_node"
    assert args.use_fsdp == (name == "fsdp")
    if args.use_deepspeed:
        assert args.mixed_precision == "bf16" and args.zero_stage in (2, 3)


def test_every_scaled_command_has_the_launch_options():
    for cmd in ("train-judge", "train-policy", "run"):
        r = subprocess.run([*_judgelab(), cmd, "--help"], capture_output=True, text=True, timeout=120)
        assert "--num-processes" in r.stdout and "--accelerate-config" in r.stdout, cmd
    r = subprocess.run([*_judgelab(), "run", "--help"], capture_output=True, text=True, timeout=120)
    assert "--dry-run" in r.stdout


def _tiny_run(root: Path) -> None:
    from judgelab.data.jsonl import write_jsonl
    from judgelab.data.records import PointAnnotation
    from judgelab.data.rundir import RunDir
    from judgelab.models.testing import tiny_model

    model, tok = tiny_model()
    model.save_pretrained(root / "tiny")
    tok.save_pretrained(root / "tiny")
    points = [PointAnnotation(id=f"pt{i}-{j}", prompt_id=f"p{i}", prompt=f"Write about {i}.", response_id=f"r{i}-{j}",
                              response="A line" + "!" * j, score=float(9 - 3 * j), reasoning="-", raw=f"Score: {9 - 3 * j}",
                              family="f", split="train").to_dict() for i in range(4) for j in range(3)]
    RunDir(root / "run").annotations_dir.mkdir(parents=True)
    write_jsonl(RunDir(root / "run").points, points)


@pytest.mark.slow
def test_num_processes_2_starts_two_gloo_ranks_that_train_one_judge(tmp_path):
    """`judgelab train-judge --num-processes 2` on a CPU: two real ranks (gloo), one step, one judge."""
    _tiny_run(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop(LAUNCHED_ENV, None)
    r = subprocess.run([*_judgelab(), "train-judge", "--run", str(tmp_path / "run"), "--set", f"model={tmp_path / 'tiny'}",
                        "--set", "mode=pointwise", "--set", "max_steps=1", "--set", "batch_size=2",
                        "--set", "max_length=512", "--num-processes", "2"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "[rank 0/2] judgelab train-judge started" in r.stderr
    assert "[rank 1/2] judgelab train-judge started" in r.stderr
    assert r.stdout.count("trained direct-sft judge") == 1  # the closing lines come from rank 0 only
    assert (tmp_path / "run" / "judges" / "direct-sft" / "judgelab_judge.json").exists()


def _parsed(argv: list[str]):
    from judgelab.cli import cli

    root = cli.make_context("judgelab", list(argv))
    rest = [*getattr(root, "_protected_args", []), *root.args] if hasattr(root, "_protected_args") else root.args
    cmd = cli.get_command(root, rest[0])
    return cmd.make_context(rest[0], rest[1:], parent=root)


@pytest.mark.parametrize("argv, expected", [
    (["-v", "train-policy", "-c", "p.yaml", "--set", "a=1", "--set", "b=[1,2]", "--run", "r", "--name", "n",
      "--max-steps", "3", "--num-processes", "2"],
     ["-v", "train-policy", "--config", "p.yaml", "--set", "a=1", "--set", "b=[1,2]", "--run", "r", "--name", "n",
      "--max-steps", "3"]),
    (["--log-file", "x.log", "train-judge", "--run", "r", "--accelerate-config", "z.yaml", "--out", "o"],
     ["--log-file", "x.log", "train-judge", "--run", "r", "--out", "o"]),
])
def test_each_rank_runs_the_same_command_without_the_launch_options(argv, expected, monkeypatch):
    from judgelab.cli.common import command_line

    monkeypatch.delenv("JUDGELAB_LOG_FILE", raising=False)

    assert command_line(_parsed(argv)) == expected
