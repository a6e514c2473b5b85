"""The negative-control rubrics are flawed exactly as documented: exploiting the flaw raises the
flawed judge's score and lowers the gold's, on real SmolLM2 samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from judgelab.judges.config import JudgeConfig
from judgelab.judges.registry import load_judge
from judgelab.judges.rubric import get_rubric
from judgelab.judges.rubric.flawed import FLAWED
from judgelab.judges.rubric.gold import GOLD
from judgelab.judges.types import PointwiseItem

SAMPLES = [json.loads(line) for line in (Path(__file__).parents[1] / "fixtures" / "smollm2_samples.jsonl").read_text().splitlines()]


def _fragment(text: str) -> str:
    return " ".join(text.split()[:8]).rstrip(",;") + "."


@pytest.mark.parametrize("name, exploit", [
    ("flawed-brevity", _fragment),
    ("flawed-hype", lambda t: t.replace(".", "!!")),
])
def test_exploiting_the_flaw_pays_the_flawed_judge_and_costs_the_gold(name, exploit):
    flawed = get_rubric(name)
    gold_before = np.mean([GOLD.score(s, s["response"])[0] for s in SAMPLES])
    gold_after = np.mean([GOLD.score(s, exploit(s["response"]))[0] for s in SAMPLES])
    proxy_before = np.mean([flawed.score(s, s["response"])[0] for s in SAMPLES])
    proxy_after = np.mean([flawed.score(s, exploit(s["response"]))[0] for s in SAMPLES])
    assert proxy_after > proxy_before + 1.0 and gold_after < gold_before - 1.0


def test_flawed_rubrics_differ_from_gold_in_one_criterion_and_in_cache_identity():
    for r in FLAWED.values():
        assert len(r.criteria) == len(GOLD.criteria)
        assert sum(a.name != b.name for a, b in zip(r.criteria, GOLD.criteria)) == 1
        assert r.identity() != GOLD.identity()


def test_a_flawed_rubric_is_a_judge_like_the_gold():
    judge = load_judge(JudgeConfig(name="flawed-brevity", backend={"type": "rubric", "rubric": "flawed-brevity"}))
    s = SAMPLES[0]
    v = judge.judge([PointwiseItem(id="x", prompt=s["prompt"], response=s["response"],
                                   meta={"family": s["family"], "constraints": s["constraints"]})])[0]
    assert v.ok and v.score == get_rubric("flawed-brevity").score(s, s["response"])[0]
    judge.close()
