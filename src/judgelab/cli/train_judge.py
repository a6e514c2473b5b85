"""``judgelab train-judge``: train one judge from a run's gold annotations.

    judgelab train-judge -c examples/train_judge_direct_sft.yaml --run runs/quick
    judgelab train-judge --run runs/quick --set kind=reward-model --set epochs=1
    judgelab train-judge -c judge.yaml --run runs/big --num-processes 4          # 4 GPUs (or CPU ranks)
    judgelab train-judge -c judge.yaml --run runs/big --accelerate-config examples/accelerate/zero3.yaml
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from judgelab.cli.common import (accelerate_config_option, announce_rank, config_option, num_processes_option,
                                 relaunch_if_asked, set_option)

if TYPE_CHECKING:
    from judgelab.train.common import TrainJudgeConfig


@click.command("train-judge")
@config_option
@set_option
@click.option("--run", "run_dir", type=click.Path(file_okay=False), required=True, help="Run directory with annotations/.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="Checkpoint folder (default run/judges/<name>).")
@num_processes_option
@accelerate_config_option
def command(config_path: str | None, overrides: tuple[str, ...], run_dir: str, out_dir: str | None,
            num_processes: int | None, accelerate_config: str | None) -> None:
    """Train a judge (direct SFT, reward model, reasoning SFT and/or GRPO) on gold annotations."""
    from judgelab.config import load_config
    from judgelab.pipeline.launch import is_main_rank
    from judgelab.train.common import TrainJudgeConfig
    from judgelab.train.judge import train_judge

    cfg = load_config(TrainJudgeConfig, config_path, list(overrides))
    if out_dir:
        cfg.output_dir = out_dir
    _preflight(cfg, run_dir)  # a bad config or row fails once, here, not in every launched rank
    relaunch_if_asked(num_processes, accelerate_config)
    announce_rank("train-judge")
    out = train_judge(cfg, run_dir)
    if is_main_rank():
        click.echo(f"trained {cfg.kind} judge '{cfg.judge_name}' -> {out}")
        click.echo(f"use it: judgelab eval-judge --judge {out} --run {run_dir}")


def _preflight(cfg: TrainJudgeConfig, run_dir: str) -> None:
    """Read (and type-check) the annotations the judge will train on before any model loads: a
    malformed row must not cost a model load first (the trainers load the base model, then read)."""
    from judgelab.data.annotations import read_pairs, read_points

    pairs = read_pairs(run_dir, cfg.split) if cfg.mode == "pairwise" else []
    if cfg.mode == "pointwise" or (cfg.kind == "reward-model" and not pairs):
        read_points(run_dir, cfg.split)
