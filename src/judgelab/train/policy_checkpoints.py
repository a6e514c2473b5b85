"""A policy's checkpoints during and after GRPO: saving (with merged LoRA weights for evaluation),
keeping optimizer state only where resuming needs it, mirroring the log, and what a rerun finds.

Reads and writes ``policies/<name>/``: ``checkpoint-N/`` (``merged/`` with LoRA), ``log.jsonl``;
reads ``gold_monitor.json`` (whether an earlier run was stopped at the hacking onset). The folder
layout is judgelab.data.rundir's (``checkpoints``). Which checkpoint a rerun resumes from is decided
once, by the main process after it removed torn checkpoints, for every process (``resume_point``).
"""

from __future__ import annotations

import copy
import logging
import shutil
from pathlib import Path
from typing import Any

from judgelab.data.jsonl import read_jsonl_tolerant, write_jsonl
from judgelab.data.rundir import RunDir, checkpoints
from judgelab.train.policy_settings import MonitorSettings

log = logging.getLogger(__name__)

OPTIMIZER_FILES = ("optimizer.pt", "scheduler.pt")


def drop_optimizer_state(checkpoint: Path) -> None:
    """Delete a checkpoint's optimizer/scheduler state (a 135M model's Adam state is ~1 GB)."""
    for f in OPTIMIZER_FILES:
        (checkpoint / f).unlink(missing_ok=True)


def drop_partial_checkpoints(policy_dir: Path) -> None:
    for d in policy_dir.glob("checkpoint-*"):
        if d.is_dir() and not (d / "trainer_state.json").exists():
            log.warning("removing incomplete checkpoint %s (a killed run's half-written save)", d)
            shutil.rmtree(d)


def resume_point(policy_dir: Path) -> tuple[int, Path] | None:
    """The newest complete checkpoint to resume from (None: start afresh), the same on every process
    of a distributed run: the main process removes torn checkpoints (a killed run's half-written
    save), every process waits for it, and the main process's pick is broadcast. Picking before the
    cleanup finished would let a rank resume from a folder being deleted. Call it on every process,
    after the trainer (and with it accelerate's state) exists."""
    from accelerate import PartialState

    state = PartialState()
    if state.is_main_process:
        drop_partial_checkpoints(policy_dir)
    state.wait_for_everyone()
    found = checkpoints(policy_dir)
    if state.num_processes == 1:
        return found[-1] if found else None
    from accelerate.utils import broadcast_object_list

    step = broadcast_object_list([found[-1][0] if found else None], from_process=0)[0]
    if step is None:
        return None
    ckpt = policy_dir / f"checkpoint-{step}"
    if not (ckpt / "trainer_state.json").exists():
        from judgelab.errors import ConfigError

        raise ConfigError(f"process {state.process_index} cannot see {ckpt}, the checkpoint the main process resumes from",
                          where=str(policy_dir),
                          hint="put the run directory on storage every node shares (or copy the checkpoint to each node)")
    return step, ckpt


def _repeat_sampler(loader: Any) -> Any:
    """TRL's RepeatSampler behind a (prepared) dataloader, or None."""
    from trl.trainer.utils import RepeatSampler

    todo, seen = [loader], set()
    while todo:
        obj = todo.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, RepeatSampler):
            return obj
        todo += [getattr(obj, a, None) for a in ("sampler", "batch_sampler", "base_dataloader")]
    return None


def replay_data_order(args: Any, state: Any, train_dataloader: Any) -> int:
    """On resume, put the prompt order where an uninterrupted run has it: TRL's RepeatSampler draws
    a new permutation from its own generator at every epoch and has no ``set_epoch``, so a resumed
    trainer (a fresh sampler) would replay epoch 0's order for the epochs after the checkpoint.
    Draws (and drops) one permutation per epoch already trained, as the Trainer counts them;
    returns how many (0 on a fresh run: nothing changes there)."""
    sampler = _repeat_sampler(train_dataloader)
    if state.global_step <= 0 or sampler is None or not getattr(sampler, "shuffle", False) or args.ignore_data_skip:
        return 0
    import torch

    n, ga = len(train_dataloader), args.gradient_accumulation_steps
    epochs = state.global_step // max(n // ga + int(n % ga > 0), 1)
    for _ in range(epochs):
        torch.randperm(sampler.num_samples, generator=sampler.generator)
    return epochs


def save_and_log(policy_dir: Path, max_steps: int, lora: bool) -> Any:
    """The callback that saves at the last step, merges LoRA for evaluation, keeps optimizer state
    only in the newest checkpoint, mirrors the log history to log.jsonl, and on resume restores the
    uninterrupted run's prompt order (``replay_data_order``)."""
    from transformers import TrainerCallback

    class SaveAndLog(TrainerCallback):
        def on_train_begin(self, args, state, control, train_dataloader=None, **kw):
            if train_dataloader is not None:
                replay_data_order(args, state, train_dataloader)
            return control

        def on_step_end(self, args, state, control, **kw):
            if state.global_step >= max_steps:
                control.should_save = True
            return control

        def on_save(self, args, state, control, model=None, **kw):
            if not state.is_world_process_zero:
                return control
            ckpt = policy_dir / f"checkpoint-{state.global_step}"
            if lora and model is not None and hasattr(model, "merge_and_unload"):
                merged = copy.deepcopy(model).merge_and_unload()
                merged.save_pretrained(ckpt / "merged")
                tok = kw.get("processing_class")
                if tok is not None:
                    tok.save_pretrained(ckpt / "merged")
            for step, d in checkpoints(policy_dir):
                if step < state.global_step:
                    drop_optimizer_state(d)
            return control

        def on_log(self, args, state, control, **kw):
            if state.is_world_process_zero:
                write_jsonl(policy_dir / "log.jsonl", state.log_history)
            return control

    return SaveAndLog()


def previous_stop(policy_dir: Path, monitor: MonitorSettings | None) -> int | None:
    """The step an earlier run of this policy was stopped at by the gold monitor, if it was."""
    if monitor is None or not monitor.stop_on_hacking:
        return None
    from judgelab.train.gold_callback import read_monitor

    prev = read_monitor(policy_dir)
    return prev["stop_step"] if prev and prev.get("stopped") and prev.get("stop_step") is not None else None


def finish_trained(rd: RunDir, policy_dir: Path, name: str, last: tuple[int, Path], keep_optimizer: bool) -> None:
    """A policy already trained to max_steps (a rerun, or a kill after the last save): restore its
    log and mark it done, as a run that just finished would have (main process only)."""
    from transformers import TrainerState

    step, ckpt = last
    history = TrainerState.load_from_json(str(ckpt / "trainer_state.json")).log_history
    logged = read_jsonl_tolerant(policy_dir / "log.jsonl")  # a torn last line is dropped
    # Keep the whole log (its end-of-training row too) when it holds the checkpoint's history.
    write_jsonl(policy_dir / "log.jsonl", logged if logged[: len(history)] == history else history)
    rd.mark_done(f"train-policy-{name}", {"steps": step})
    if not keep_optimizer:
        drop_optimizer_state(ckpt)
