"""One command to scale a training stage: ``--num-processes N`` / ``--accelerate-config FILE`` start the
same judgelab command under ``accelerate launch`` (one process per GPU, or gloo ranks on a CPU).

``judgelab train-judge`` and ``train-policy`` re-launch themselves through ``launch``; ``judgelab run``
stays one process and launches only its training stages (each judge, each policy) this way, with the
stage's config written to ``run_dir/launch/<stage>.yaml``, so sampling, annotation and evaluation
are not run N times. Without a config file the launch is the plain data-parallel one, the same on
CPUs (gloo) and GPUs (NCCL)::

    accelerate launch --multi_gpu --num_processes N --num_machines 1 --mixed_precision no \\
        --dynamo_backend no --main_process_port PORT -m judgelab.cli COMMAND ...

(``--cpu --num_processes 2`` would silently start ONE process.) Mixed precision stays judgelab's
choice (``bf16``), not the launcher's. With a config file (DeepSpeed, FSDP, several nodes:
``examples/accelerate/``) the file decides, and ``--num-processes`` overrides its ``num_processes``.
Reads nothing; starts the launcher as a child process and waits for it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from judgelab.errors import ConfigError, JudgelabError
from judgelab.models.devices import dist_rank

# Set in every launched rank, so a launched command never launches again.
LAUNCHED_ENV = "JUDGELAB_LAUNCHED"


@dataclass(frozen=True)
class Launch:
    """How a stage is started: ``num_processes`` ranks (None: the config file's count) and an
    accelerate config file (None: plain data parallel)."""

    num_processes: int | None = None
    config_file: str | None = None

    @property
    def active(self) -> bool:
        """Whether the stage runs under accelerate (one process without a config file runs here)."""
        return self.config_file is not None or (self.num_processes or 1) > 1


def check_launch(num_processes: int | None, config_file: str | None) -> Launch:
    """The launch the options ask for, checked before anything else runs."""
    if num_processes is not None and num_processes < 1:
        raise ConfigError(f"--num-processes must be >= 1, got {num_processes}", where="--num-processes",
                          hint="the number of processes (GPUs, or CPU ranks) to train on")
    if config_file is not None and not Path(config_file).is_file():
        raise ConfigError("accelerate config file not found", where=config_file,
                          hint="pass one of examples/accelerate/*.yaml or the file `accelerate config` wrote")
    launch = Launch(num_processes, config_file)
    if launch.active and (os.environ.get(LAUNCHED_ENV) or dist_rank()[2] > 1):
        raise ConfigError("--num-processes / --accelerate-config given inside a launched process",
                          where="--num-processes",
                          hint="either `judgelab ... --num-processes N` or `accelerate launch -m judgelab.cli ...`, not both")
    return launch


def free_port() -> int:
    """A TCP port free now on this machine (the rendezvous port of a one-node launch)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accelerate_command(launch: Launch, judgelab_args: Sequence[str], port: int | None = None) -> list[str]:
    """The ``accelerate launch`` command line that runs ``judgelab <judgelab_args>`` per ``launch``."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if launch.config_file is not None:
        cmd += ["--config_file", launch.config_file]
        if launch.num_processes is not None:
            cmd += ["--num_processes", str(launch.num_processes)]
    else:
        cmd += ["--multi_gpu", "--num_processes", str(launch.num_processes or 1), "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", str(port if port is not None else free_port())]
    return [*cmd, "-m", "judgelab.cli", *judgelab_args]


def run_launched(launch: Launch, judgelab_args: Sequence[str]) -> int:
    """Run ``judgelab <judgelab_args>`` under accelerate; returns the launcher's exit code."""
    env = dict(os.environ, **{LAUNCHED_ENV: "1"})
    return subprocess.run(accelerate_command(launch, judgelab_args), env=env, check=False).returncode


def is_main_rank() -> bool:
    """Rank 0 of a launched job, or a plain process: the one that prints closing lines."""
    return dist_rank()[0] == 0


def run_stage_launched(launch: Launch, run_dir: str | Path, command: str, stage: str, config: BaseModel,
                       args: Sequence[str] = ()) -> None:
    """One training stage of ``judgelab run`` under accelerate: its config is written to
    ``run_dir/launch/<stage>.yaml``, then ``judgelab <command> --config FILE --run RUN_DIR <args>``
    runs on every rank. Raises when the launch fails (the ranks' own lines say why)."""
    import yaml

    from judgelab.data.jsonl import atomic_write_text

    path = Path(run_dir) / "launch" / f"{stage}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    code = run_launched(launch, [command, "--config", str(path), "--run", str(run_dir), *args])
    if code != 0:
        ranks = launch.num_processes or "the config file's"
        raise JudgelabError(f"{command} on {ranks} processes exited with code {code}",
                            where=str(path), hint="see the ranks' lines above; rerun `judgelab run` to resume")
