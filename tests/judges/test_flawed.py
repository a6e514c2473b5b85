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


# ------------------------------------------------------------------ the benign proxy (specificity control)

def test_noisy_gold_is_fixed_noise_on_the_gold():
    """The gold plus noise that depends only on (seed, prompt, response): one response always gets
    the same score; another seed is another judge (another cache identity); noise 0 is the gold
    itself with the gold's identity (cached verdicts keep their keys)."""
    from judgelab.judges.rubric.backend import RubricBackend

    gold, noisy, other = (RubricBackend(GOLD), RubricBackend(GOLD, 2.0, 0), RubricBackend(GOLD, 2.0, 1))
    meta = {"family": "poem", "constraints": {"min_words": 10, "max_words": 40}}
    texts = [f"A short poem about the sea, take {i}, with waves and light." for i in range(200)]
    g = np.array([gold._score(meta, "p", t)[0] for t in texts])
    n0 = np.array([noisy._score(meta, "p", t)[0] for t in texts])
    assert (n0 == np.array([noisy._score(meta, "p", t)[0] for t in texts])).all()  # fixed, not resampled
    assert 1.2 < float(np.std(n0 - g)) < 2.2  # sd 2 before clipping to [1, 10]
    assert (n0 != np.array([other._score(meta, "p", t)[0] for t in texts])).mean() > 0.9
    assert gold.identity() == {"type": "rubric", **GOLD.identity()}
    assert noisy.identity()["noise"] == 2.0 and noisy.identity() != other.identity()
    judge = load_judge("rubric-noisy-gold")
    assert judge.name == "noisy-gold" and judge.backend.noise == 2.0
