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
from collections import defaultdict
from pathlib import Path
from typing import Any

from judgelab.errors import DataError
from judgelab.judges.reward_model import rm_input_ids
from judgelab.train.common import TrainJudgeConfig, load_base, peft_config, run_stage, save_judge, supervised_args
from judgelab.train.judge_examples import gold_pairs, gold_points, shuffled

log = logging.getLogger(__name__)


def preference_pairs(cfg: TrainJudgeConfig, run_dir: str | Path) -> list[tuple[str, str, str]]:
    """(prompt, chosen, rejected) triples from gold annotations."""
    out: list[tuple[str, str, str]] = []
    if cfg.mode == "pairwise":
        for p in gold_pairs(cfg, run_dir):
            if p.label == "A":
                out.append((p.prompt, p.response_a, p.response_b))
            elif p.label == "B":
                out.append((p.prompt, p.response_b, p.response_a))
    if not out:
        by_prompt: dict[str, list[Any]] = defaultdict(list)
        for pt in gold_points(cfg, run_dir):
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
    from judgelab.train.param_trace import add_param_trace

    model, tok = load_base(cfg.model, "seq-cls")
    ds = reward_dataset(preference_pairs(cfg, run_dir), tok, cfg.max_length, cfg.seed)
    args = RewardConfig(**supervised_args(cfg, out_dir, stage="reward"))

    def make_trainer() -> Any:
        trainer = RewardTrainer(model=model, args=args, train_dataset=ds, processing_class=tok,
                                peft_config=peft_config(cfg, "SEQ_CLS"))
        judgelab_console(trainer, f"reward model {out_dir.name}")
        add_param_trace(trainer)
        return trainer

    trainer, stats = run_stage(make_trainer, "reward", len(ds))
    # every process: save_judge gathers sharded weights, merges a LoRA adapter; the main process writes
    save_judge(trainer, tok, out_dir, cfg, backend="reward_model", stages=[stats])
    return stats
