"""``judgelab train-policy``: GRPO of a policy against a judge reward into RUN/policies/NAME/."""

from __future__ import annotations

import click

from judgelab.cli.common import (accelerate_config_option, announce_rank, config_option, num_processes_option,
                                 relaunch_if_asked, set_option)


@click.command("train-policy")
@config_option
@set_option
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--name", required=True, help="Policy name (folder under RUN/policies/).")
@click.option("--judge", "judge", default=None, help="Trained judge folder (holding judgelab_judge.json); overrides the config's judge.")
@click.option("--max-steps", type=int, default=None, help="Override grpo.max_steps (>= 1).")
@num_processes_option
@accelerate_config_option
def command(config_path: str | None, overrides: tuple[str, ...], run_dir: str, name: str, judge: str | None,
            max_steps: int | None, num_processes: int | None, accelerate_config: str | None) -> None:
    """Train a policy with TRL GRPO, the judge as reward (default: SmolLM2-135M on creative-v1).

    Resumable: rerunning the same command continues from the newest checkpoint.
    Several GPUs (or CPU ranks): --num-processes N, or --accelerate-config FILE (docs/guide/scaling.md).
    """
    from judgelab.config import load_config, option_value
    from judgelab.errors import ConfigError
    from judgelab.models.devices import require_vllm
    from judgelab.pipeline.launch import is_main_rank
    from judgelab.train.policy import TrainPolicyConfig, train_policy

    if max_steps is not None and max_steps < 1:
        # Checked here, not as grpo.max_steps, so the message names the option the user typed.
        raise ConfigError(f"--max-steps must be an integer >= 1, got {max_steps}", where="--max-steps",
                          hint="the number of GRPO steps in total (raise it to continue a finished policy)")
    # The options' values are set as typed, never read as YAML (a judge folder named `v1 #2` stays that).
    extra = [*overrides, *([option_value("judge", judge, "--judge")] if judge else []),
             *([option_value("grpo.max_steps", max_steps, "--max-steps")] if max_steps is not None else [])]
    config = load_config(TrainPolicyConfig, config_path, extra)
    if config.grpo.use_vllm or config.grpo.extra.get("use_vllm"):
        require_vllm("grpo.use_vllm")
    relaunch_if_asked(num_processes, accelerate_config)
    announce_rank("train-policy")
    final = train_policy(config, run_dir, name)
    if is_main_rank():
        click.echo(f"policy {name}: final checkpoint {final}")
