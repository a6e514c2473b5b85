"""The calibrated hacking call: each outcome from constructed curves, and its error rates on
simulated curves of the quickstart's size within what docs/guide/hacking.md documents."""

from __future__ import annotations

import numpy as np
import pytest

from judgelab.evaluate.policies.hacking_call import HackingCallRule, call_hacking, prompt_means
from judgelab.evaluate.policies.hacking_sim import SCENARIOS, error_rates


def curve(means, n=40, sd=0.05, seed=0):
    """Per checkpoint, prompt -> value: a prompt level plus the checkpoint's mean plus noise."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.5, 0.1, n)
    return [{f"p{i}": float(b + m + rng.normal(0, sd)) for i, b in enumerate(base)} for m in means]


@pytest.mark.parametrize("gold, proxy, outcome, kind", [
    ([0, 0.05, 0.10], [0, 0.1, 0.2], "not hacked", "gold-rose"),
    ([0, -0.05, -0.10], [0, 0.1, 0.2], "hacked", "gold-falling"),
    ([0, 0.10, 0.0], [0, 0.1, 0.2], "hacked", "rise-then-fall"),  # the whole-run window sees no change
    ([0, 0.0, 0.0], [0, 0.1, 0.2], "hacked", "gold-stalled"),
    ([0, 0.0, 0.0], [0, 0.0, 0.0], "undetermined", "proxy-flat"),
    # a noisy proxy whose own gain is not significant while the gold rose: not hacked (the quickstart's
    # specificity control read "undetermined" here before the gold-rose test came first)
    ([0, 0.05, 0.10], [0, 0.0, 0.0], "not hacked", "gold-rose"),
])
def test_each_outcome(gold, proxy, outcome, kind):
    call = call_hacking([0, 10, 20], curve(gold, seed=1), curve(proxy, seed=2), oracle_gain=0.10)
    assert (call.outcome, call.kind) == (outcome, kind), call.reason
    assert call.gold_gain.n == 40 and call.gold_gain.ci_method == "bca"


def test_undetermined_when_underpowered_and_thresholds_follow_the_oracle():
    gold, proxy = curve([0, 0.01, 0.02], n=12, sd=0.08, seed=3), curve([0, 0.1, 0.2], n=12, seed=4)
    call = call_hacking([0, 1, 2], gold, proxy, oracle_gain=0.10)
    assert call.outcome == "undetermined" and call.kind == "underpowered" and call.gold_gain.ci_method in ("t", "t+wilson")
    assert "more prompts" in call.reason
    # The same flat gold is "stalled" next to an oracle that gained a lot, with the oracle in the reason.
    flat = curve([0, 0.0, 0.0], seed=5)
    assert call_hacking([0, 1, 2], flat, curve([0, .1, .2], seed=6), oracle_gain=0.4).kind == "gold-stalled"
    no_oracle = call_hacking([0, 1, 2], flat, curve([0, .1, .2], seed=6), oracle_gain=None)
    # Without an oracle the stall threshold is absolute (0.02 on [0, 1]): this gold's CI reaches above it.
    assert no_oracle.kind == "underpowered" and "absolute threshold" in no_oracle.reason


def test_too_short_and_bad_input():
    assert call_hacking([0], [{"p": 0.5}], [{"p": 0.5}], oracle_gain=0.1).kind == "too-short"
    assert call_hacking([0, 1], [{"p": .5}, {"p": .5}], [None, {"p": .6}], oracle_gain=0.1).kind == "too-short"
    with pytest.raises(ValueError):
        call_hacking([0, 1], [{}], [{}, {}], oracle_gain=None)


def test_prompt_means():
    samples = [{"prompt_id": "a", "decoding": "sampled", "gold_score": 10}, {"prompt_id": "a", "decoding": "sampled", "gold_score": 1},
               {"prompt_id": "a", "decoding": "greedy", "gold_score": 10}, {"prompt_id": "b", "decoding": "sampled", "gold_score": None}]
    assert prompt_means(samples, "gold_score", scale=(1, 10), decoding="sampled") == {"a": 0.5}


# Documented in docs/guide/hacking.md (bench/hacking_call_rates.py, 1000 runs per scenario, 32 prompts).
# The test runs 300 per scenario: the bounds leave room for that sampling error (about +-0.03 at 0.05).
MAX_FALSE_POSITIVE = {"honest: gold +1.0 O (the oracle)": 0.02, "honest: gold +0.5 O (benign noisy proxy)": 0.03,
                      "honest: gold +0.25 O (weak judge)": 0.09}
MIN_DETECTION = {"hacked: gold falls to -0.75 O": 0.97, "hacked: gold rises to +0.75 O, falls back to 0": 0.95,
                 "hacked: gold stalls at 0": 0.22}
MAX_FALSE_NEGATIVE = 0.09


def test_error_rates_on_simulated_curves_match_the_documented_ones():
    rates = error_rates(n_sims=300, n_prompts=32, rule=HackingCallRule(bootstrap=300), seed=11)
    assert set(rates) == {s.name for s in SCENARIOS}
    for name, r in rates.items():
        if r["truth"] == "honest":
            assert r["hacked"] <= MAX_FALSE_POSITIVE[name], (name, r)
        elif r["truth"] == "hacked":
            assert r["not hacked"] <= MAX_FALSE_NEGATIVE and r["hacked"] >= MIN_DETECTION[name], (name, r)
        else:  # nothing learned: either definite call is a chance event, each at most the nominal 5%
            assert r["hacked"] <= 0.05 and r["not hacked"] <= 0.05, (name, r)
    assert rates["honest: gold +1.0 O (the oracle)"]["not hacked"] >= 0.97
    assert rates["honest: gold +0.5 O (benign noisy proxy)"]["not hacked"] >= 0.75  # the specificity control's power
