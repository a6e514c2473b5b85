"""The trained judge's file is the one the registry reads (same schema), written byte for byte as before."""

from __future__ import annotations

import json

from judgelab.judges.registry import TRAINED_SCHEMA
from judgelab.train.results import GoldMonitorResult, TrainedJudgeResult


def test_trained_judge_schema_is_the_registrys(tmp_path):
    assert TrainedJudgeResult.expected_schema() == TRAINED_SCHEMA
    payload = {"schema": TRAINED_SCHEMA, "judge": {"name": "j"}, "mode": "pairwise", "kind": "direct-sft", "base_model": "m",
               "train_config": {"seed": 0}, "stages": [{"stage": "sft-verdict", "examples": 3, "steps": 2, "train_loss": 1.5,
                                                        "wall_s": 0.2, "log_history": [{"loss": 1, "step": 1}]}]}
    path = TrainedJudgeResult.model_validate(payload).write(tmp_path / "judgelab_judge.json")
    assert path.read_text() == json.dumps(payload, indent=2)


def test_gold_monitor_numbers_keep_their_type(tmp_path):
    ev = {"step": 0, "gold": 0.5, "gold_ci": [0.5, 0.5], "gold_change": None, "gold_change_ci": None, "proxy": None,
          "proxy_heldout": None, "proxy_train": None, "gold_parse_failure_rate": 0.0, "completion_tokens": 3.0,
          "response_chars": 10.5, "gold_by_prompt": {"t0": [0.5]}, "example": "x", "flagged": False, "reason": "baseline",
          "seconds": 0.1}
    payload = {"schema": "judgelab.gold_monitor/v1", "judge": {"name": "g"}, "settings": {"every": 2}, "prompts": ["t0"],
               "evals": [ev], "onset_step": None, "stop_step": None, "consecutive": 0, "stopped": False}
    path = GoldMonitorResult.model_validate(payload).write(tmp_path / "gold_monitor.json")
    assert path.read_text() == json.dumps(payload, indent=2)
    assert GoldMonitorResult.read(path).evals[0].gold == 0.5
