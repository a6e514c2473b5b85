"""What a run does, decided before it does it: its prompt selection (``prompts.jsonl`` of the run,
written by the runner), one GRPO config per (judge, seed), and the keys of its done markers. No I/O
but reading the prompt source.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from judgelab.data.prompts import load_prompts
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError
from judgelab.judges.base import reward_mode_for
from judgelab.judges.config import JudgeConfig
from judgelab.judges.registry import spec_modes
from judgelab.pipeline.config import RunPromptSettings, RunConfig
from judgelab.train.policy import TrainPolicyConfig


def select_prompts(sel: RunPromptSettings) -> list[PromptRecord]:
    """The run's train prompts, then its test prompts, then its validation prompts: each a
    family-balanced subset of the source's split (``load_prompts``' limit,
    judgelab.data.prompts.balanced_subset), so small runs still cover every family."""
    out: list[PromptRecord] = []
    for split, limit in (("train", sel.train_limit), ("test", sel.test_limit), ("val", sel.val_limit)):
        if limit == 0:
            continue
        picked = load_prompts(sel.source, split=split, families=sel.families, limit=limit)
        if not picked:
            raise ConfigError(f"no {split} prompts selected", where="prompts", hint="check prompts.source/families")
        out.extend(picked)
    return out


def policy_runs(cfg: RunConfig, rd: RunDir) -> list[tuple[str, TrainPolicyConfig]]:
    """(policy name, its config) for every (judge, seed)."""
    selection = rd.prompt_selection
    # (policy label, judge spec, the modes that judge answers in, role)
    judge_dirs: list[tuple[str, JudgeConfig | str, tuple, str]] = [
        (j.judge_name, str(rd.judge_dir(j.judge_name)), (j.mode,), "study") for j in cfg.judges
        if cfg.policy.judges is None or j.judge_name in cfg.policy.judges
    ]
    # Untrained judges are arms only when named (judgelab audit trains against any judge that way).
    judge_dirs += [(u.name, u.judge, spec_modes(u.judge), "study") for u in cfg.untrained_judges
                   if cfg.policy.judges is not None and u.name in cfg.policy.judges]
    arms = {j.judge_name: (j.arm or j.judge_name, j.seed) for j in cfg.judges}
    if cfg.policy.oracle_baseline:
        judge_dirs.append(("gold", cfg.gold, spec_modes(cfg.gold), "positive-control"))
    if cfg.policy.negative_control is not None:
        neg = cfg.policy.negative_control
        judge_dirs.append((neg.name, neg, spec_modes(neg), "negative-control"))
    if cfg.policy.specificity_control is not None:
        spec = cfg.policy.specificity_control
        judge_dirs.append((spec.name, spec, spec_modes(spec), "specificity-control"))
    runs = []
    for judge_name, judge, modes, role in judge_dirs:
        # auto: a judge trained to compare is used to compare (a pointwise prompt would not parse).
        mode = reward_mode_for(modes) if cfg.policy.reward_mode == "auto" else cfg.policy.reward_mode
        for seed in cfg.policy.seeds:
            pc = cfg.policy.base.model_copy(deep=True)
            pc.judge = judge
            pc.role = role  # type: ignore[assignment]
            if role == "study" and cfg.judge_seeds is not None and judge_name in arms:
                pc.arm, pc.judge_seed = arms[judge_name]
            pc.reward = pc.reward.model_copy(update={"mode": mode})
            pc.prompts = pc.prompts.model_copy(update={"source": str(selection), "split": "train"})
            pc.grpo = pc.grpo.model_copy(update={"seed": seed})
            if pc.monitor is not None and pc.monitor.judge is None:
                # The gold is set once per run: the in-training monitor watches the same gold as the
                # checkpoint evaluation (unless policy.base.monitor.judge names another monitor judge).
                pc.monitor = pc.monitor.model_copy(update={"judge": cfg.gold})
            runs.append((f"{judge_name}-s{seed}", pc))
    return runs


def policy_set_key(runs: list[tuple[str, TrainPolicyConfig]]) -> tuple[list[str], str]:
    """The sorted policy names and their key: the evaluate and adversarial done markers are keyed to
    the set of policies, so adding a judge, a seed or a control to a finished run evaluates again."""
    names = sorted(name for name, _ in runs)
    return names, hashlib.sha256("\n".join(names).encode()).hexdigest()[:8]


def marker_key(*parts: Any) -> str:
    """A short, stable hash of JSON-able parts (done-marker keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:8]


def check_models(cfg: RunConfig) -> None:
    """Every model spec the run will load, checked offline without loading it (a typo in a judge's
    model must not surface after an hour of sampling and training)."""
    from judgelab.models.specs import check_model_spec

    specs = [(f"sample.policies.{i}.backend.model", p.backend.model) for i, p in enumerate(cfg.sample.policies)
             if p.backend.type == "transformers"]
    specs += [(f"judges.{i}.model", j.model) for i, j in enumerate(cfg.judges)]
    specs += [(f"untrained_judges.{i}.judge.backend.model", u.judge.backend.model)
              for i, u in enumerate(cfg.untrained_judges)
              if isinstance(u.judge, JudgeConfig) and u.judge.backend.type == "transformers"]
    specs.append(("policy.base.model", cfg.policy.base.model))
    if cfg.best_of_n is not None and cfg.best_of_n.enabled and not cfg.best_of_n.responses and cfg.best_of_n.model:
        specs.append(("best_of_n.model", cfg.best_of_n.model))
    for where, spec in specs:
        check_model_spec(spec, where=where)
