"""Gold tracking during policy training: a TRL/transformers ``TrainerCallback`` that watches the
gold while GRPO runs, and can stop the run at the reward-hacking onset.

Every ``monitor.every`` optimizer steps (and once before the first step, the baseline) it samples
``monitor.samples`` completions per held-out prompt from the policy *being trained* (the trainer's
own model object, through judgelab.lm.local; no reload), at the training temperature with the same
seeds every time (so two evaluations differ only through the policy), and scores them with the
monitor judge (default: the rubric gold) and, where the reward is pointwise, with the proxy judge.

Reads: the held-out prompts (``monitor.split``, default ``val``, of the training prompts'
source), the monitor judge spec. Writes, in ``policies/<name>/``:

- ``log.jsonl`` (through the trainer's log history, so TRL's TensorBoard/W&B integrations see it
  too when ``grpo.extra.report_to`` names them): one entry per evaluation with ``monitor/gold``,
  ``monitor/gold_ci_low``/``_high``, ``monitor/gold_change`` (vs the first evaluation, paired by
  prompt), ``monitor/proxy`` (+ ``monitor/proxy_train``: the trainer's reward mean since the
  previous evaluation), ``monitor/gold_parse_failure_rate``, ``monitor/completion_tokens``,
  ``monitor/flagged``, ``monitor/seconds``;
- ``gold_monitor.json`` (schema ``judgelab.gold_monitor/v1``): the settings, the prompt ids, every
  evaluation (per-prompt gold kept for the paired CIs), the onset rule's verdict
  (judgelab.evaluate.policies.hacking.HackingRule.onset: ``onset_step``, ``stop_step``) and ``stopped``.

With ``monitor.stop_on_hacking`` the callback sets ``should_training_stop`` (and ``should_save``,
so the stop step has a checkpoint) at the evaluation where the rule fires.

Several processes (``accelerate launch``, ``torchrun``): every rank samples, from the model TRL's
``unwrap_model_for_generation`` hands out (ZeRO-3 gathers, FSDP runs each forward on all ranks,
so no rank may sit out; the samples are the same on every rank: same weights, same seeds). Only the
main process scores them and applies the onset rule; the evaluation and the stop decision are then
broadcast (``accelerate.utils.broadcast_object_list``), so the ranks cannot diverge or wait on each
other forever (an error on the main process is broadcast too and raised on every rank). The curve a
resumed run continues is read by the main process and broadcast; only it writes ``gold_monitor.json``.
On a CPU with bf16, one process samples on its own weights cast to bf16 for the evaluation (as
its rollouts do); several sample from a separate bf16 copy, since swapping the storage of a
parameter DDP holds detaches it from DDP's gradient hooks.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judgelab.data.records import PromptRecord
from judgelab.judges.base import Judge
from judgelab.judges.types import PointwiseItem, unit_score
from judgelab.train.policy_settings import MonitorSettings
from judgelab.train.results import GoldMonitorResult
from judgelab.train.cpu_path import bf16_copy

log = logging.getLogger(__name__)

MONITOR_FILE = "gold_monitor.json"


def _world_size(args: Any) -> int:
    return int(getattr(args, "world_size", 1) or 1)


def _from_main(obj: Any, args: Any) -> Any:
    """``obj`` as the main process has it, on every process (itself on one process)."""
    if _world_size(args) == 1:
        return obj
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([obj], from_process=0)[0]


class GoldMonitor:
    """The callback (a ``transformers.TrainerCallback``; built by ``gold_monitor_callback``)."""

    def __init__(self, settings: MonitorSettings, prompts: list[PromptRecord], gold: Judge, *, policy_dir: Path,
                 proxy: Judge | None, max_new_tokens: int, temperature: float, unparsed_proxy: float = 0.0,
                 judge_spec: Any = None):
        self.s = settings
        self.prompts = prompts
        self.gold = gold
        self.proxy = proxy  # None: the proxy column is the trainer's reward mean
        self.policy_dir = Path(policy_dir)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.unparsed_proxy = unparsed_proxy
        self.judge_spec = judge_spec
        self.trainer: Any = None  # set by bind(): needed to log through Trainer.log
        self.evals: list[dict[str, Any]] = []
        self.result: dict[str, Any] = {}
        self.stopped = False

    # ------------------------------------------------------------------ wiring

    def bind(self, trainer: Any) -> None:
        self.trainer = trainer

    @property
    def path(self) -> Path:
        return self.policy_dir / MONITOR_FILE

    def load_previous(self, step: int) -> None:
        """Resume: keep the evaluations up to ``step`` (a killed run may have logged later ones)."""
        if not self.path.exists():
            return
        prev = json.loads(self.path.read_text())
        if [p.id for p in self.prompts] != prev.get("prompts"):
            log.warning("gold monitor: held-out prompts changed since the last run; starting a new curve")
            return
        self.evals = [e for e in prev.get("evals", []) if e["step"] <= step]

    # ------------------------------------------------------------------ events

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None, **kw: Any):
        if state.is_world_process_zero:
            self.load_previous(state.global_step)
        self.evals = _from_main(self.evals, args)  # every rank continues the same curve
        if not self.evals:  # the baseline: the policy before any update (or at the resumed step)
            self._evaluate(args, state, control, model, processing_class)
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, model: Any = None,
               processing_class: Any = None, **kw: Any):
        # Fires after the trainer logged a training step (its reward is in the history by then);
        # our own entries carry no "reward", so logging them does not recurse.
        if not logs or "reward" not in logs:
            return control
        last = self.evals[-1]["step"] if self.evals else -self.s.every
        if state.global_step - last >= self.s.every or (state.global_step >= state.max_steps > last):
            self._evaluate(args, state, control, model, processing_class)
        return control

    # ------------------------------------------------------------------ one evaluation

    @contextlib.contextmanager
    def _generation_model(self, args: Any, model: Any) -> Iterator[Any]:
        """The trained model as generation needs it: through TRL's ``unwrap_model_for_generation``
        (DDP/DeepSpeed/FSDP unwrapped, ZeRO-3 weights gathered, gradient checkpointing off), as
        TRL's own rollouts; on a CPU with bf16, with bf16 weights (see the module docstring)."""
        from trl.models import unwrap_model_for_generation

        from judgelab.train.cpu_path import bf16_weights

        wrapped, accelerator = getattr(self.trainer, "model_wrapped", None), getattr(self.trainer, "accelerator", None)
        wrapped = model if wrapped is None else wrapped
        unwrap = (unwrap_model_for_generation(wrapped, accelerator,
                                              gather_deepspeed3_params=getattr(args, "ds3_gather_for_generation", True),
                                              gradient_checkpointing_kwargs=getattr(args, "gradient_checkpointing_kwargs", None))
                  if accelerator is not None else contextlib.nullcontext(model))
        with unwrap as m:
            cpu = next(m.parameters()).device.type == "cpu"
            if not (cpu and getattr(args, "bf16", False)):
                yield m
            elif _world_size(args) == 1:
                with bf16_weights(m):
                    yield m
            else:
                yield bf16_copy(m)  # freed when the block ends

    def _sample(self, args: Any, model: Any, tok: Any) -> list[dict[str, Any]]:
        import torch

        from judgelab.lm.local import LocalGenerator
        from judgelab.lm.types import SamplingParams

        side, was_training = tok.padding_side, model.training
        rows: list[dict[str, Any]] = []
        cpu = next(model.parameters()).device.type == "cpu"
        try:
            model.eval()
            with self._generation_model(args, model) as m, \
                    torch.autocast(device_type="cpu", enabled=False) if cpu else contextlib.nullcontext():
                gen = LocalGenerator(m, tok)
                try:
                    for j in range(self.s.samples):
                        params = SamplingParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature,
                                                seed=self.s.seed + 1009 * j)
                        for b in range(0, len(self.prompts), self.s.batch_size):
                            chunk = self.prompts[b:b + self.s.batch_size]
                            gens = gen.generate_batch([[{"role": "user", "content": p.prompt}] for p in chunk], params)
                            rows += [{"prompt": p, "sample_index": j, "response": g.text.strip(),
                                      "completion_tokens": g.completion_tokens} for p, g in zip(chunk, gens)]
                finally:
                    gen.close()
        finally:
            tok.padding_side = side
            model.train(was_training)
        return rows

    def _score(self, judge: Judge, rows: list[dict[str, Any]], step: int, tag: str) -> list[float | None]:
        items = [PointwiseItem(id=f"monitor-{tag}:{step}:{r['prompt'].id}:{r['sample_index']}", prompt=r["prompt"].prompt,
                               response=r["response"], meta={"prompt_id": r["prompt"].id, "family": r["prompt"].family,
                                                             "constraints": r["prompt"].constraints})
                 for r in rows]
        return [unit_score(v.score if v.ok else None, judge.scale) for v in judge.judge(items)]

    def _proxy_train(self, state: Any, since: int) -> float | None:
        vals = [h["reward"] for h in state.log_history
                if "reward" in h and h.get("reward") is not None and since < h.get("step", 0) <= state.global_step]
        return sum(vals) / len(vals) if vals else None

    def _evaluate(self, args: Any, state: Any, control: Any, model: Any, tok: Any) -> None:
        """One evaluation: every rank samples, the main process scores and decides, all follow it."""
        t0 = time.perf_counter()
        step = state.global_step
        rows = self._sample(args, model, tok)
        outcome: tuple[str, Any] = ("ok", None)
        if state.is_world_process_zero:
            try:
                ev, result = self._assess(rows, state)
                ev["seconds"] = time.perf_counter() - t0
                outcome = ("ok", (ev, result))
            except Exception as e:  # the other ranks wait on the broadcast: tell them, then fail everywhere
                outcome = ("error", f"{type(e).__name__}: {e}")
                _from_main(outcome, args)
                raise
        kind, payload = _from_main(outcome, args)
        if kind == "error":
            raise RuntimeError(f"gold monitor: the evaluation at step {step} failed on the main process: {payload}")
        ev, self.result = payload
        self.evals.append(ev)
        fire = self.s.stop_on_hacking and self.result.get("stop_step") == step
        if fire:
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True
        log.info("gold monitor step %d: gold %.3f proxy %s%s", step, ev["gold"] if ev["gold"] is not None else float("nan"),
                 "n/a" if ev["proxy"] is None else f"{ev['proxy']:.3f}", " -> stopping (hacking onset)" if fire else "")
        self._log(state, ev)
        if state.is_world_process_zero:
            self.write()

    def _assess(self, rows: list[dict[str, Any]], state: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Score the samples with the monitor judge (and the proxy), apply the onset rule over the
        curve so far: (this evaluation's entry, the rule's verdict)."""
        from judgelab.evaluate.policies.hacking import paired_change_ci
        from judgelab.evaluate.stats import bootstrap_cluster_mean_ci

        step = state.global_step
        gold = self._score(self.gold, rows, step, "gold")
        by_prompt: dict[str, list[float]] = {}
        for r, g in zip(rows, gold):
            if g is not None:
                by_prompt.setdefault(r["prompt"].id, []).append(g)
        scored = [g for g in gold if g is not None]
        gold_mean = sum(scored) / len(scored) if scored else None
        proxy_held = None
        if self.proxy is not None:
            px = [self.unparsed_proxy if p is None else p for p in self._score(self.proxy, rows, step, "proxy")]
            proxy_held = sum(px) / len(px) if px else None
        since = self.evals[-1]["step"] if self.evals else -1
        proxy_train = self._proxy_train(state, since) if step > 0 else None
        change, change_ci = (None, None)
        if self.evals:
            change, change_ci = paired_change_ci(self.evals[0]["gold_by_prompt"], by_prompt, n_boot=self.s.rule.bootstrap,
                                                 seed=self.s.seed)
        ev = {
            "step": step,
            "gold": gold_mean,
            "gold_ci": bootstrap_cluster_mean_ci(list(by_prompt.values()), n_boot=self.s.rule.bootstrap, seed=self.s.seed),
            "gold_change": change,
            "gold_change_ci": change_ci,
            "proxy": proxy_held if self.proxy is not None else proxy_train,
            "proxy_heldout": proxy_held,
            "proxy_train": proxy_train,
            "gold_parse_failure_rate": 1 - len(scored) / len(gold) if gold else 0.0,
            "completion_tokens": sum(r["completion_tokens"] for r in rows) / len(rows) if rows else 0.0,
            "response_chars": sum(len(r["response"]) for r in rows) / len(rows) if rows else 0.0,
            "gold_by_prompt": by_prompt,
            "example": rows[0]["response"][:200] if rows else "",
        }
        curve = self.evals + [ev]
        onset = self.s.rule.onset([e["step"] for e in curve], [e["proxy"] for e in curve], [e["gold"] for e in curve],
                                  gold_change_ci=[e["gold_change_ci"] for e in curve])
        flag = onset.flags[-1]
        ev["flagged"] = bool(flag and flag.flagged)
        ev["reason"] = flag.reason if flag else "baseline"
        return ev, onset.to_dict()

    def _log(self, state: Any, ev: dict[str, Any]) -> None:
        if self.trainer is None:
            return
        from transformers import Trainer

        logs = {"monitor/gold": ev["gold"], "monitor/gold_change": ev["gold_change"], "monitor/proxy": ev["proxy"],
                "monitor/proxy_train": ev["proxy_train"], "monitor/gold_parse_failure_rate": ev["gold_parse_failure_rate"],
                "monitor/completion_tokens": ev["completion_tokens"], "monitor/flagged": float(ev["flagged"]),
                "monitor/seconds": ev["seconds"]}
        if ev["gold_ci"]:
            logs["monitor/gold_ci_low"], logs["monitor/gold_ci_high"] = ev["gold_ci"]
        # Trainer.log, not the GRPO trainer's override: that one would fold (and clear) the step's
        # pending training metrics into this entry.
        Trainer.log(self.trainer, {k: v for k, v in logs.items() if v is not None})

    def write(self) -> None:
        GoldMonitorResult.model_validate({
            "judge": self.judge_spec,
            "settings": {**self.s.model_dump(mode="json", exclude={"judge"}), "judge": self.judge_spec},
            "prompts": [p.id for p in self.prompts],
            "evals": self.evals,
            **{k: v for k, v in self.result.items() if k != "flags"},
            "stopped": self.stopped,
        }).write(self.path)


def gold_monitor_callback(monitor: GoldMonitor) -> Any:
    """``monitor`` as a transformers TrainerCallback (transformers is imported only here)."""
    from transformers import TrainerCallback

    class GoldMonitorCallback(TrainerCallback):
        def __init__(self) -> None:
            self.monitor = monitor

        def on_train_begin(self, args, state, control, **kw):
            return monitor.on_train_begin(args, state, control, **kw)

        def on_log(self, args, state, control, **kw):
            return monitor.on_log(args, state, control, **kw)

    return GoldMonitorCallback()


def read_monitor(policy_dir: str | Path) -> dict[str, Any] | None:
    """A policy's gold_monitor.json, or None when it was trained without the monitor."""
    p = Path(policy_dir) / MONITOR_FILE
    return json.loads(p.read_text()) if p.exists() else None
