"""arena.json through its one writer: the typed ArenaResult, the bytes as always written (indent 2,
no trailing newline), keys a writer does not set left out, and a drifting writer refused."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from judgelab.evaluate.arena.battles import Battle
from judgelab.evaluate.arena.results import ArenaResult, write_arena_result
from judgelab.evaluate.arena.tables import arena_report


def _report() -> dict:
    battles = [Battle(a, "base", o, judge=j, prompt_id=f"p{i}", len_a=10.0 + i, len_b=12.0)
               for i, (a, o) in enumerate([("m", 1.0), ("m", 0.0), ("m", 1.0), ("n", 0.0), ("n", 0.5), ("n", 1.0)])
               for j in ("gold", "proxy")]
    return arena_report(battles, baseline="base", style="length", n_boot=10, log_warnings=False)


def test_the_evaluate_stage_shape_round_trips(tmp_path):
    report = _report()
    for t in report["judges"].values():
        t["failed_pairs"] = 0
    content = {"contestants": ["base", "m", "n"], "baseline": "base", "strong_weight": 3.0, **report}
    path = tmp_path / "eval" / "arena.json"
    res = write_arena_result(path, content)
    text = path.read_text()
    assert text == json.dumps({"schema": "judgelab.arena/v2", **content}, indent=2)  # the bytes it always had
    assert not text.endswith("\n") and "sources" not in json.loads(text)
    back = ArenaResult.read(path)
    assert back == res and back.judges["gold"].failed_pairs == 0 and back.judges["gold"].verdicts is None
    assert back.pooled.models[0].model in {"base", "m", "n"} and back.matrix.value == "win_rate_vs_baseline"


def test_a_writer_that_drifts_is_refused(tmp_path):
    report = _report()
    with pytest.raises(ValidationError):
        write_arena_result(tmp_path / "a.json", {"contestants": ["base", "m", "n"], "baseline": "base", "extra": 1, **report})
    report["pooled"]["models"][0]["status"] = "great"
    with pytest.raises(ValidationError):
        write_arena_result(tmp_path / "a.json", {"contestants": ["base", "m", "n"], "baseline": "base", **report})
    assert not (tmp_path / "a.json").exists()
