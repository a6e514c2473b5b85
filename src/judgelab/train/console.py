"""Trainer output on judgelab's terms: one progress bar per training run on the terminal, the
trainers' metric dicts in the log (``-v`` shows them; ``log.jsonl`` / ``train_stats.json`` keep
them), instead of transformers' printed dicts between judgelab's own stage lines."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from transformers import TrainerCallback

from judgelab.progress import progress_bar

log = logging.getLogger(__name__)


class TrainerConsole(TrainerCallback):
    """Progress bar over the run's remaining steps; each logged metric dict goes to ``log.info``."""

    def __init__(self, label: str):
        self.label = label
        self._bar: contextlib.ExitStack | None = None
        self._advance: Any = None

    def on_train_begin(self, args, state, control, **kw):
        if state.is_world_process_zero:
            self._bar = contextlib.ExitStack()
            self._advance = self._bar.enter_context(progress_bar(max(state.max_steps - state.global_step, 0), self.label))
        return control

    def on_step_end(self, args, state, control, **kw):
        if self._advance is not None:
            self._advance(1)
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        if state.is_world_process_zero and logs:
            log.info("%s step %d: %s", self.label, state.global_step, json.dumps(logs, default=str))
        return control

    def on_train_end(self, args, state, control, **kw):
        if self._bar is not None:
            self._bar.close()
            self._bar = self._advance = None
        return control


def judgelab_console(trainer: Any, label: str) -> None:
    """Swap transformers' printing callbacks on ``trainer`` for ``TrainerConsole``."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(TrainerConsole(label))
