"""Gold tracking during policy training: a TRL/transformers ``TrainerCallback`` that watches the
gold while GRPO runs, and can stop the run at the reward-hacking onset.

Every ``monitor.every`` optimizer steps (and once before the first step, the baseline) it samples
``monitor.samples`` completions per held-out prompt from the policy *being trained* (the trainer's
own model object, through judgelab.lm.local; no reload), at the training temperature with the same
seeds every time (so two evaluations differ only through the policy), and scores them with the
monitor judge (default: the rubric gold) and, where the reward is pointwise, with the proxy judge.

Reads: the held-out prompts (``monitor.split``, default ``test``, of the training prompts'
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
so the stop step has a checkpoint) at the evaluation where the rule fires. It runs on every
process of a distributed run (same weights, same seeds, same verdicts: every rank takes the same
stop decision); only the main process writes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from judgelab.data.records import PromptRecord
from judgelab.judges.base import Judge
from judgelab.judges.types import PointwiseItem
from judgelab.train.policy_settings import MonitorSettings
from judgelab.train.results import GoldMonitorResult, write_result

log = logging.getLogger(__name__)

MONITOR_FILE = "gold_monitor.json"


def _normalise(score: float | None, scale: tuple[float, float]) -> float | None:
    if score is None:
        return None
    lo, hi = scale
    return min(1.0, max(0.0, (score - lo) / (hi - lo)))


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
        if [p["id"] for p in self.prompts] != prev.get("prompts"):
            log.warning("gold monitor: held-out prompts changed since the last run; starting a new curve")
            return
        self.evals = [e for e in prev.get("evals", []) if e["step"] <= step]

    # ------------------------------------------------------------------ events

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, processing_class: Any = None, **kw: Any):
        self.load_previous(state.global_step)
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

    def _sample(self, args: Any, model: Any, tok: Any) -> list[dict[str, Any]]:
        import torch

        from judgelab.lm.local import LocalGenerator
        from judgelab.lm.types import SamplingParams
        from judgelab.train.cpu_path import bf16_weights

        side, was_training = tok.padding_side, model.training
        gen = LocalGenerator(model, tok)
        rows: list[dict[str, Any]] = []
        cpu = next(model.parameters()).device.type == "cpu"
        # On a CPU with bf16 on, rollouts run on bf16 weights (judgelab.train.cpu_path): sample
        # the monitored policy the same way, so its samples come from the distribution trained.
        ctx = bf16_weights(model) if cpu and getattr(args, "bf16", False) else contextlib.nullcontext()
        try:
            model.eval()
            with torch.autocast(device_type="cpu", enabled=False) if cpu else contextlib.nullcontext(), ctx:
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
            tok.padding_side = side
            model.train(was_training)
        return rows

    def _score(self, judge: Judge, rows: list[dict[str, Any]], step: int, tag: str) -> list[float | None]:
        items = [PointwiseItem(id=f"monitor-{tag}:{step}:{r['prompt'].id}:{r['sample_index']}", prompt=r["prompt"].prompt,
                               response=r["response"], meta={"prompt_id": r["prompt"].id, "family": r["prompt"].family,
                                                             "constraints": r["prompt"].constraints})
                 for r in rows]
        return [_normalise(v.score if v.ok else None, judge.scale) for v in judge.judge(items)]

    def _proxy_train(self, state: Any, since: int) -> float | None:
        vals = [h["reward"] for h in state.log_history
                if "reward" in h and h.get("reward") is not None and since < h.get("step", 0) <= state.global_step]
        return sum(vals) / len(vals) if vals else None

    def _evaluate(self, args: Any, state: Any, control: Any, model: Any, tok: Any) -> None:
        from judgelab.evaluate.policies.hacking import paired_change_ci
        from judgelab.evaluate.stats import bootstrap_cluster_mean_ci

        t0 = time.perf_counter()
        step = state.global_step
        rows = self._sample(args, model, tok)
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
        self.evals.append(ev)
        onset = self.s.rule.onset([e["step"] for e in self.evals], [e["proxy"] for e in self.evals],
                                  [e["gold"] for e in self.evals], gold_change_ci=[e["gold_change_ci"] for e in self.evals])
        flag = onset.flags[-1]
        ev["flagged"] = bool(flag and flag.flagged)
        ev["reason"] = flag.reason if flag else "baseline"
        ev["seconds"] = time.perf_counter() - t0
        self.result = onset.to_dict()
        fire = self.s.stop_on_hacking and onset.stop_step == step
        if fire:
            self.stopped = True
            control.should_training_stop = True
            control.should_save = True
        log.info("gold monitor step %d: gold %.3f proxy %s%s", step, gold_mean if gold_mean is not None else float("nan"),
                 "n/a" if ev["proxy"] is None else f"{ev['proxy']:.3f}", " -> stopping (hacking onset)" if fire else "")
        self._log(state, ev)
        if state.is_world_process_zero:
            self.write()

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
        write_result(GoldMonitorResult.model_validate({
            "judge": self.judge_spec,
            "settings": {**self.s.model_dump(mode="json", exclude={"judge"}), "judge": self.judge_spec},
            "prompts": [p.id for p in self.prompts],
            "evals": self.evals,
            **{k: v for k, v in self.result.items() if k != "flags"},
            "stopped": self.stopped,
        }), self.path)


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
