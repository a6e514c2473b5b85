"""A trained judge checkpoint gives the same eval-judge numbers in-process and over HTTP
(`judgelab serve` + the openai backend), greedy, same seed: same raw outputs, same metrics."""

from __future__ import annotations

import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import start_server, stop_server  # noqa: E402

from judgelab.data.jsonl import read_jsonl  # noqa: E402
from judgelab.evaluate.judges.judge_eval import eval_judge  # noqa: E402
from judgelab.judges.config import JudgeConfig  # noqa: E402
from judgelab.judges.registry import resolve_judge_spec  # noqa: E402
from judgelab.train.common import TrainJudgeConfig  # noqa: E402
from judgelab.train.judge import train_judge  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from test_judge_training import write_annotations  # noqa: E402


def test_served_checkpoint_matches_in_process(tmp_path: Path) -> None:
    from judgelab.models.testing import tiny_model

    base = tmp_path / "tiny"
    model, tok = tiny_model(seed=1)
    model.save_pretrained(base)
    tok.save_pretrained(base)
    run = tmp_path / "run"
    write_annotations(run, n_prompts=4, split="train")
    train_rows = read_jsonl(run / "annotations" / "pairs.jsonl")
    write_annotations(run, n_prompts=3, split="test")  # overwrites: keep both splits
    test_rows = read_jsonl(run / "annotations" / "pairs.jsonl")
    from judgelab.data.jsonl import write_jsonl

    write_jsonl(run / "annotations" / "pairs.jsonl", train_rows + [dict(r, id=r["id"] + "-t") for r in test_rows])

    cfg = TrainJudgeConfig.model_validate(dict(kind="direct-sft", model=str(base), max_steps=4, batch_size=4,
                                               max_length=512, learning_rate=1e-3))
    ckpt = train_judge(cfg, run)
    local_cfg = resolve_judge_spec(ckpt)
    mode = local_cfg.mode

    local, _ = eval_judge(ckpt, run, split="test", name="local", out_dir=tmp_path / "eval")
    proc, url = start_server(str(ckpt), batch_size=4, served_name="trained-judge", log_path=tmp_path / "serve.log")
    try:
        http_cfg = JudgeConfig.model_validate({
            **local_cfg.model_dump(mode="json"),
            "name": "http",
            "backend": {"type": "openai", "model": "trained-judge", "base_urls": [url], "concurrency": 4,
                        "timeout_s": 60},
        })
        remote, _ = eval_judge(http_cfg, run, split="test", mode=mode, name="http", out_dir=tmp_path / "eval")
    finally:
        stop_server(proc)

    def normalised(path: Path) -> list[str]:
        drop = {"judge", "latency_s", "cached"}
        return sorted(json.dumps({k: v for k, v in row.items() if k not in drop}, sort_keys=True)
                      for row in read_jsonl(path))

    rows_local = normalised(tmp_path / "eval" / "local.verdicts.jsonl")
    rows_http = normalised(tmp_path / "eval" / "http.verdicts.jsonl")
    assert rows_local and len(rows_local) == len(rows_http)
    assert rows_local == rows_http  # same raw text, parse, tokens for every judged item
    assert json.dumps(local["metrics"], sort_keys=True) == json.dumps(remote["metrics"], sort_keys=True)
