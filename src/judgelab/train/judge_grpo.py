"""GRPO of a generative judge with TRL's GRPOTrainer: the judge samples ``num_generations``
verdicts per gold-annotated prompt and is rewarded for agreeing with the gold label.

Reward = agreement + ``format_reward_weight`` x parseable:

- agreement, pairwise: 1 if the parsed preference equals the gold label ("[[C]]" = tie), else 0;
- agreement, pointwise: 1 - |score - gold| / (hi - lo), 0 when unparseable;
- parseable: 1 if judgelab.judges.parsing parses a verdict from the completion.

Parse-failure rate and agreement are logged per step through TRL's ``log_metric`` hook.
Prompts are the judge templates of the given style (reasoning by default), so the trained model
is used through ``load_judge`` (style from its judgelab_judge.json) unchanged. Writes a merged checkpoint folder when ``save``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from judgelab.judges.parsing.pairwise import parse_pairwise
from judgelab.judges.parsing.pointwise import parse_pointwise
from judgelab.judges.types import Style
from judgelab.train.common import TrainJudgeConfig, common_trainer_args, load_base, peft_config, run_stage, save_judge
from judgelab.train.judge_examples import build_examples, shuffled
from judgelab.train.reward_inputs import completion_text  # one reading of TRL completions (str, messages, content parts)

log = logging.getLogger(__name__)


def make_reward_funcs(mode: str, scale: tuple[int, int], allow_tie: bool) -> tuple[Any, Any]:
    """(agreement_reward, format_reward) with TRL's reward-function signature."""
    lo, hi = scale

    def parse(text: str) -> Any:
        return parse_pointwise(text, (lo, hi)) if mode == "pointwise" else parse_pairwise(text, allow_tie)

    def agreement_reward(prompts: list[Any], completions: list[Any], gold: list[str], **kw: Any) -> list[float]:
        out = []
        fails = 0
        for c, g in zip(completions, gold):
            r = parse(completion_text(c))
            if not r.parsed:
                fails += 1
                out.append(0.0)
            elif mode == "pointwise":
                out.append(max(0.0, 1.0 - abs(float(r.score) - float(g)) / (hi - lo)))
            else:
                out.append(1.0 if r.preference == g else 0.0)
        log_metric = kw.get("log_metric")
        if log_metric is not None and completions:
            log_metric("judge/parse_failure_rate", fails / len(completions))
            log_metric("judge/agreement", sum(out) / len(out))
        return out

    def format_reward(prompts: list[Any], completions: list[Any], **kw: Any) -> list[float]:
        return [1.0 if parse(completion_text(c)).parsed else 0.0 for c in completions]

    return agreement_reward, format_reward


def grpo_dataset(cfg: TrainJudgeConfig, run_dir: str | Path, style: Style, tokenizer: Any) -> Any:
    from datasets import Dataset

    from judgelab.errors import DataError

    examples = build_examples(cfg, run_dir, target="verdict", style=style)
    budget = cfg.max_length - cfg.grpo.max_completion_length
    rows, too_long = [], 0
    for ex in shuffled(examples, cfg.seed):
        n = len(tokenizer.apply_chat_template(ex.messages, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"])
        if n > budget:
            too_long += 1
            continue
        rows.append({"prompt": ex.messages, "gold": ex.gold})
    if too_long:
        log.warning("dropped %d GRPO prompts longer than max_length - max_completion_length = %d tokens", too_long, budget)
    if not rows:
        raise DataError("no GRPO prompts fit in max_length", where="train-judge", hint="raise max_length")
    return Dataset.from_list(rows)


def train_grpo(
    cfg: TrainJudgeConfig,
    run_dir: str | Path,
    out_dir: Path,
    *,
    style: Style = "reasoning",
    model: Any = None,
    tokenizer: Any = None,
    save: bool = True,
    previous_stages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the GRPO stage from ``model`` (an in-memory SFT result) or the base model."""
    from trl import GRPOConfig

    from judgelab.train.cpu_path import grpo_trainer_class
    from judgelab.train.settings import check_grpo_extra, per_device

    check_grpo_extra(cfg.grpo.extra, where="grpo.extra")  # before any model loads
    if model is None:
        model, tokenizer = load_base(cfg.model, "causal-lm")
    model.train()
    g = cfg.grpo
    ds = grpo_dataset(cfg, run_dir, style, tokenizer)
    agreement, fmt = make_reward_funcs(cfg.mode, tuple(cfg.scale), cfg.include_ties)  # type: ignore[arg-type]
    base_args = common_trainer_args(cfg, out_dir, stage="grpo")
    base_args["gradient_accumulation_steps"] = 1  # one group of prompts per step; see prompts_per_step
    args = GRPOConfig(**{**dict(
        **base_args,
        learning_rate=g.learning_rate,
        max_steps=g.max_steps,
        # per_device_train_batch_size counts completions: prompts_per_step groups of num_generations over
        # all processes (a process may hold part of a group: TRL gathers rewards before the advantage).
        per_device_train_batch_size=per_device(g.num_generations * g.prompts_per_step, where="grpo.prompts_per_step",
                                               what="grpo.prompts_per_step x grpo.num_generations"),
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        beta=g.beta,
        temperature=g.temperature,
        reward_weights=[1.0, g.format_reward_weight],
        log_completions=False,
    ), **g.extra})
    trainer, stats = run_stage(lambda: grpo_trainer_class()(
        model=model, reward_funcs=[agreement, fmt], args=args, train_dataset=ds, processing_class=tokenizer,
        peft_config=peft_config(cfg, "CAUSAL_LM"),
    ), "grpo", len(ds))
    if save:  # every process: save_judge gathers sharded weights, merges a LoRA adapter; the main process writes
        save_judge(trainer, tokenizer, out_dir, cfg, backend="transformers", stages=[*(previous_stages or []), stats])
    return stats
