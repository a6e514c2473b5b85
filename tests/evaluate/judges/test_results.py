"""The typed judge-evaluation result files write what the writers always wrote, byte for byte
(keys a writer adds only sometimes stay absent when it did not; a benchmark's own metrics keep
their place between the common head and tail), and read back through ``Model.read``."""

from __future__ import annotations

import json

from judgelab.evaluate.judges.results import BenchmarkEvalResult, JudgeEvalResult

METRICS = {"n_pairs": 2, "n_gold_non_tie": 2, "accuracy": 0.5, "accuracy_ci95": [0.0, 1.0], "tie_rate": 0.0,
           "parse_failure_rate": 0.0, "position_consistency": None, "n_position_checked": 0, "accuracy_ba": None,
           "self_consistency": None, "samples": 1, "pointwise_pairwise_consistency": None,
           "n_pointwise_pairwise_checked": 0, "transitivity_violation_rate": None, "n_triples": 0}


def judge_eval_payload(sampled: bool = False) -> dict:
    metrics = dict(METRICS)
    if sampled:  # the keys judge_eval adds after "samples" and at the end when it sampled / checked triples
        keys = list(metrics)
        at = keys.index("samples") + 1
        metrics = {**{k: metrics[k] for k in keys[:at]}, "sample_temperature": 0.7,
                   **{k: metrics[k] for k in keys[at:]}, "transitivity_violations": 0}
    return {"schema": "judgelab.judge_eval/v1", "judge": "j", "mode": "pairwise", "judge_config": {"name": "j"},
            "metrics": metrics, "accuracy_by_family": {"f": {"n": 2, "accuracy": 0.5, "ci95": (0.0, 1.0)}},
            "backend_calls": 4, "wall_s": 0.01, "run_dir": "r", "split": "test", "judge_spec": "j"}


def test_judge_eval_bytes_as_before_and_read_back(tmp_path):
    for payload in (judge_eval_payload(), judge_eval_payload(sampled=True)):
        path = JudgeEvalResult.model_validate(payload).write(tmp_path / "j.json")
        assert path.read_text() == json.dumps(payload, indent=2, default=str)
        assert JudgeEvalResult.read(path).metrics.accuracy == 0.5


def test_benchmark_metrics_stay_between_head_and_tail(tmp_path):
    payload = {"schema": "judgelab.benchmark_eval/v1", "benchmark": "judgebench", "data": "d.jsonl", "split": None,
               "n_rows": 2, "judge": "j", "judge_config": None, "score": 1.0, "categories": {}, "mode": "pairwise",
               "metric": "accuracy", "n_verdicts": 4, "parse_failure_rate": 0.0, "backend_calls": 4, "wall_s": 0.1,
               "judge_spec": "j"}
    path = BenchmarkEvalResult.model_validate(payload).write(tmp_path / "b.json")
    assert path.read_text() == json.dumps(payload, indent=2)
    back = BenchmarkEvalResult.read(path)
    assert back.score == 1.0 and back.mode == "pairwise" and back.metrics["categories"] == {}
