"""Bradley-Terry reward model (a sequence-classification head, one scalar) trained with TRL's
RewardTrainer on (chosen, rejected) pairs built from gold annotations.

Pairs come from ``pairs.jsonl`` (gold ties skipped: they carry no preference). With
``mode: pointwise`` or when there are no pair annotations, pairs are derived from ``points.jsonl``:
two responses to the same prompt whose gold scores differ.

Each (prompt, response) is tokenized exactly as RewardModelJudge scores it at inference
(``judgelab.judges.reward_model.rm_input_ids``), and pre-tokenized here so RewardTrainer truncates
nothing and drops nothing. Writes a merged seq-cls checkpoint + ``judgelab_judge.json`` (backend
``reward_model``).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from judgelab.errors import DataError
from judgelab.judges.reward_model import rm_input_ids
from judgelab.train.common import (
    TrainJudgeConfig,
    common_trainer_args,
    load_base,
    peft_config,
    read_pairs,
    read_points,
    save_judge,
    shuffled,
    unwrap_merged,
)

log = logging.getLogger(__name__)


def preference_pairs(cfg: TrainJudgeConfig, run_dir: str | Path) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) triples from gold annotations."""
    out: list[tuple[str, str, str]] = []
    if cfg.mode == "pairwise":
        pairs = read_pairs(run_dir, cfg.split)
        if cfg.max_examples:
            pairs = pairs[: cfg.max_examples]
        for p in pairs:
            if p.label == "A":
                out.append((p.prompt, p.response_a, p.response_b))
            elif p.label == "B":
                out.append((p.prompt, p.response_b, p.response_a))
    if not out:
        points = read_points(run_dir, cfg.split)
        if cfg.max_examples:
            points = points[: cfg.max_examples]
        by_prompt: dict[str, list[Any]] = defaultdict(list)
        for pt in points:
            by_prompt[pt.prompt_id].append(pt)
        for group in by_prompt.values():
            for x, y in itertools.combinations(group, 2):
                if x.score == y.score:
                    continue
                hi, lo = (x, y) if x.score > y.score else (y, x)
                out.append((hi.prompt, hi.response, lo.response))
    if not out:
        raise DataError(
            f"no preference pairs (non-tie pair labels or differing point scores) in split '{cfg.split}'",
            where=str(Path(run_dir) / "annotations"),
            hint="run `judgelab annotate` first, or check `split`",
        )
    return out


def reward_dataset(triples: list[tuple[str, str, str]], tokenizer: Any, max_length: int, seed: int) -> Any:
    from datasets import Dataset

    rows = [
        {
            "chosen_ids": rm_input_ids(tokenizer, prompt, chosen, max_length),
            "rejected_ids": rm_input_ids(tokenizer, prompt, rejected, max_length),
        }
        for prompt, chosen, rejected in shuffled(triples, seed)
    ]
    return Dataset.from_list(rows)


def train_reward_model(cfg: TrainJudgeConfig, run_dir: str | Path, out_dir: Path) -> dict[str, Any]:
    """Train and save the reward model; returns stats."""
    from trl import RewardConfig, RewardTrainer

    from judgelab.train.console import judgelab_console

    model, tok = load_base(cfg.model, "seq-cls")
    ds = reward_dataset(preference_pairs(cfg, run_dir), tok, cfg.max_length, cfg.seed)
    args = RewardConfig(
        **common_trainer_args(cfg, out_dir, stage="reward"),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        max_length=cfg.max_length,
    )
    t0 = time.perf_counter()
    trainer = RewardTrainer(
        model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft_config(cfg, "SEQ_CLS")
    )
    judgelab_console(trainer, f"reward model {out_dir.name}")
    result = trainer.train()
    stats = {
        "stage": "reward",
        "examples": len(ds),
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "wall_s": round(time.perf_counter() - t0, 2),
        "log_history": trainer.state.log_history,
    }
    if trainer.is_world_process_zero():
        save_judge(unwrap_merged(trainer.model), tok, out_dir, cfg, backend="reward_model", extra={"stages": [stats]})
    return stats
