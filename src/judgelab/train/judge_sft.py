"""SFT of a generative judge with TRL's SFTTrainer (conversational prompt/completion data, loss on
the completion only).

- ``target='verdict'`` (direct-sft, and the first stage of verdict-sft-grpo): the completion is
  the gold verdict alone ("[[A]]", "Score: 7").
- ``target='trace'`` (reasoning-sft, first stage of reasoning-sft-grpo): "<think>gold reasoning
  trace</think>" then the verdict: distillation of the gold judge's reasoning.

Prompts are rendered with the judge templates (judges/templates.py), so the trained model sees at
inference through ``Judge`` (style direct / reasoning) exactly the prompt it was trained on.

Reads gold annotations from the run directory; writes a merged checkpoint folder (see
common.save_judge) when ``save=True``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from judgelab.judges.types import Style
from judgelab.train.common import TrainJudgeConfig, load_base, peft_config, run_stage, save_judge, supervised_args, unwrap_merged
from judgelab.train.judge_examples import JudgeExample, build_examples, shuffled

log = logging.getLogger(__name__)


def sft_dataset(examples: list[JudgeExample], tokenizer: Any, max_length: int, seed: int) -> Any:
    """Examples -> a datasets.Dataset of conversational prompt/completion rows.

    Examples whose prompt + target exceed ``max_length`` tokens are dropped: SFTTrainer truncates
    from the end, which would cut off exactly the verdict the loss is about.
    """
    from datasets import Dataset

    rows, too_long = [], 0
    for ex in shuffled([e for e in examples if e.target is not None], seed):
        completion = [{"role": "assistant", "content": ex.target}]
        n = len(tokenizer.apply_chat_template(ex.messages + completion, tokenize=True, return_dict=True)["input_ids"])
        if n > max_length:
            too_long += 1
            continue
        rows.append({"prompt": ex.messages, "completion": completion})
    if too_long:
        log.warning("dropped %d SFT examples longer than max_length=%d tokens", too_long, max_length)
    if not rows:
        from judgelab.errors import DataError

        raise DataError(
            "no SFT examples left (missing gold traces, or all longer than max_length)",
            where="train-judge",
            hint="raise max_length, or use kind direct-sft / grpo-only",
        )
    return Dataset.from_list(rows)


def train_sft(
    cfg: TrainJudgeConfig,
    run_dir: str | Path,
    out_dir: Path,
    *,
    target: Literal["verdict", "trace"],
    style: Style,
    model_spec: str | None = None,
    save: bool = True,
) -> tuple[Any, Any, dict[str, Any]]:
    """Run the SFT stage; returns (merged model, tokenizer, stats). Saves to ``out_dir`` if ``save``."""
    from trl import SFTConfig

    from judgelab.train.cpu_path import sft_trainer_class

    model, tok = load_base(model_spec or cfg.model, "causal-lm")
    examples = build_examples(cfg, run_dir, target=target, style=style)
    ds = sft_dataset(examples, tok, cfg.max_length, cfg.seed)
    # Our prompts are already chat messages; keep the tokenizer's own template.
    args = SFTConfig(**supervised_args(cfg, out_dir, stage=f"sft-{target}"), completion_only_loss=True, dataset_num_proc=None)
    trainer, stats = run_stage(lambda: sft_trainer_class()(
        model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft_config(cfg, "CAUSAL_LM")
    ), f"sft-{target}", len(ds))
    merged = unwrap_merged(trainer.model)
    if save:  # every process: save_judge gathers sharded weights; the main process writes
        save_judge(trainer, tok, out_dir, cfg, backend="transformers", stages=[stats], model=merged)
    return merged, tok, stats
