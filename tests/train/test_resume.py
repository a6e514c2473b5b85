"""Resume after a kill, with the gold monitor on: a real policy GRPO run (tiny random Llama, bf16 on,
programmatic judges) in a process of its own is SIGKILLed in the middle of step 3 (checkpoint-2
complete), a torn checkpoint-3 is left as a kill during a save leaves one, and the rerun resumes.

- one process: the resumed run ends where the uninterrupted one does (the same weights, the same
  monitor curve, the same training log), and its monitor curve is continuous;
- two gloo ranks (``accelerate launch``, slow): both resume from the same checkpoint, finish, and end
  with identical parameters, equal to the checkpoint written and to two uninterrupted ranks'.

The worker: tests/train/resume_worker.py. Unit tests of the pieces: tests/train/test_gold_callback.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from judgelab.data.jsonl import iter_jsonl, write_jsonl
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import checkpoints

WORKER = Path(__file__).with_name("resume_worker.py")
STEPS = 4  # resume_worker.STEPS: an epoch is 2 steps (4 prompts, 2 a step), so the resumed steps are a later epoch
PER_STEP = 4  # completions per step (resume_worker: 2 prompts x 2 generations)
# Weights of two runs of the same steps on the same machine and threads: the same arithmetic in the
# same order, so equal to the bit; the tolerance only absorbs a reordered reduction, far below one
# Adam step at lr 1e-3.
ATOL = 1e-6


@pytest.fixture()
def setup(tmp_path):
    from judgelab.models.testing import tiny_model

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    prompts = [PromptRecord(id=f"p{i}", family=f"f{i % 2}", prompt=f"Write about thing {i}.", split="train")
               for i in range(4)]
    prompts += [PromptRecord(id=f"t{i}", family=f"f{i % 2}", prompt=f"Describe item {i}.", split="val")
                for i in range(3)]
    write_jsonl(run_dir / "prompts.jsonl", [p.to_dict() for p in prompts])
    model, tok = tiny_model()
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    return tmp_path


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(ranks: int, run_dir: Path, model_dir: Path, out: Path, pause: int | None) -> list[str]:
    args = [str(WORKER), str(run_dir), str(model_dir), str(out)] + ([] if pause is None else ["--pause-at-step", str(pause)])
    if ranks == 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(ranks),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(_free_port()), *args]


def _run(ranks: int, run_dir: Path, model_dir: Path, out: Path) -> None:
    p = subprocess.run(_command(ranks, run_dir, model_dir, out, None), env=_env(), capture_output=True, text=True,
                       timeout=900, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-6000:]


def _run_and_kill(ranks: int, run_dir: Path, model_dir: Path, out: Path, step: int) -> None:
    """Start the run, wait until every rank is inside step ``step``, SIGKILL the launcher's process group."""
    log_path = out.parent / f"{out.name}.log"
    markers = [out / f"paused.rank{r}" for r in range(ranks)]
    with log_path.open("w") as log:
        p = subprocess.Popen(_command(ranks, run_dir, model_dir, out, step), env=_env(), stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 900
        try:
            while not all(m.exists() and m.read_text() for m in markers):
                assert p.poll() is None, log_path.read_text()[-6000:]
                assert time.monotonic() < deadline, "the run never reached the kill point"
                time.sleep(0.2)
        finally:
            pids = [int(m.read_text()) for m in markers if m.exists() and m.read_text()]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            for pid in pids:  # a launcher may start its ranks in sessions of their own
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            p.wait(timeout=60)


def _tear(pdir: Path, step: int) -> None:
    """What a kill during ``save_model`` leaves: a checkpoint folder without trainer_state.json."""
    torn = pdir / f"checkpoint-{step}"
    torn.mkdir(exist_ok=True)
    (torn / "model.safetensors").write_bytes(b"partial")


def _params(out: Path, rank: int = 0) -> dict:
    import torch

    return torch.load(out / f"params.rank{rank}.pt")


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _curve(pdir: Path) -> list[dict]:
    evals = json.loads((pdir / "gold_monitor.json").read_text())["evals"]
    return [{k: v for k, v in e.items() if k != "seconds"} for e in evals]


def _rewards(pdir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["reward"]) for _, r in iter_jsonl(pdir / "log.jsonl") if "reward" in r]


def _rewarded(out: Path, rank: int = 0) -> list[dict]:
    """(prompt, completion) of every reward call of one process, in order."""
    return [r for _, r in iter_jsonl(out / f"rewarded.rank{rank}.jsonl")]


def _killed_then_resumed(ranks: int, root: Path) -> tuple[Path, Path]:
    """(policy folder, the resumed run's output folder) of a run killed in step 3 and rerun."""
    run_dir, model_dir = root / "run", root / "model"
    killed = root / "killed"
    _run_and_kill(ranks, run_dir, model_dir, killed, step=3)
    pdir = run_dir / "policies" / "pol"
    assert [s for s, _ in checkpoints(pdir)] == [2]
    assert [e["step"] for e in _curve(pdir)] == [0, 1, 2]  # the curve up to the kill
    assert not (killed / "rank0.json").exists()  # really killed, not finished
    _tear(pdir, 3)
    resumed = root / "resumed"
    _run(ranks, run_dir, model_dir, resumed)
    return pdir, resumed


def test_resume_after_kill_with_monitor_one_process(setup):
    pdir, resumed = _killed_then_resumed(1, setup)
    info = json.loads((resumed / "rank0.json").read_text())
    assert info["resumed_from"] == "checkpoint-2" and info["final"] == f"checkpoint-{STEPS}"
    assert not (pdir / "checkpoint-3").exists()  # the torn checkpoint was removed, not resumed from
    assert [s for s, _ in checkpoints(pdir)] == [2, STEPS]
    curve = _curve(pdir)
    assert [e["step"] for e in curve] == list(range(STEPS + 1))  # continuous: no new baseline, no gap
    resumed_curve, resumed_rewards, resumed_params = curve, _rewards(pdir), _params(resumed)

    # the same run, never interrupted, in a fresh run directory
    import shutil

    shutil.rmtree(setup / "run" / "policies")
    whole = setup / "whole"
    _run(1, setup / "run", setup / "model", whole)
    assert resumed_curve == _curve(pdir)
    # trained on the same prompts, in the same order, with the same completions (the kill came at step 3's first reward call)
    before_kill = _rewarded(setup / "killed")[: 2 * PER_STEP]
    assert before_kill + _rewarded(resumed) == _rewarded(whole)
    assert resumed_rewards == _rewards(pdir) and [s for s, _ in resumed_rewards] == list(range(1, STEPS + 1))
    from safetensors.torch import load_file

    at_kill = {k: v.float() for k, v in load_file(str(pdir / "checkpoint-2" / "model.safetensors")).items()}
    assert _max_diff(at_kill, {k: resumed_params[k] for k in at_kill}) > 0  # the steps after the resume moved the weights
    diff = _max_diff(resumed_params, _params(whole))
    print(f"one process: resumed vs uninterrupted weights, max abs difference {diff:.3g}")
    assert diff <= ATOL


@pytest.mark.slow
def test_resume_after_kill_with_monitor_two_ranks(setup):
    pdir, resumed = _killed_then_resumed(2, setup)
    infos = [json.loads((resumed / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [i["resumed_from"] for i in infos] == ["checkpoint-2", "checkpoint-2"]  # both ranks, the same checkpoint
    assert [i["final"] for i in infos] == [f"checkpoint-{STEPS}"] * 2
    assert not (pdir / "checkpoint-3").exists()
    assert [s for s, _ in checkpoints(pdir)] == [2, STEPS]
    assert [e["step"] for e in _curve(pdir)] == list(range(STEPS + 1))
    assert [s for s, _ in _rewards(pdir)] == list(range(1, STEPS + 1))
    p0, p1 = _params(resumed, 0), _params(resumed, 1)
    across = _max_diff(p0, p1)
    from safetensors.torch import load_file

    saved = {k: v.float() for k, v in load_file(str(pdir / f"checkpoint-{STEPS}" / "model.safetensors")).items()}
    vs_saved = _max_diff({k: p0[k] for k in saved}, saved)
    at_kill = {k: v.float() for k, v in load_file(str(pdir / "checkpoint-2" / "model.safetensors")).items()}
    assert _max_diff(at_kill, saved) > 0  # the steps after the resume moved the weights
    print(f"two ranks: max abs difference across ranks {across:.3g}, rank 0 vs checkpoint-{STEPS} {vs_saved:.3g}; "
          f"parameter sums {infos[0]['param_sum']!r} / {infos[1]['param_sum']!r}")
    assert across == 0.0  # DDP: the same averaged gradients, the same optimizer arithmetic on each rank
    assert vs_saved == 0.0

    # and where the same two ranks, never interrupted, end
    import shutil

    curve, rewards = _curve(pdir), _rewards(pdir)
    shutil.rmtree(setup / "run" / "policies")
    whole = setup / "whole"
    _run(2, setup / "run", setup / "model", whole)
    assert curve == _curve(pdir) and rewards == _rewards(pdir)
    for r in (0, 1):  # each rank trained on the same prompts and completions as it would have
        assert _rewarded(setup / "killed", r)[: 2 * PER_STEP // 2] + _rewarded(resumed, r) == _rewarded(whole, r)
    vs_whole = _max_diff(p0, _params(whole, 0))
    print(f"two ranks: resumed vs uninterrupted weights, max abs difference {vs_whole:.3g}")
    assert vs_whole <= ATOL
