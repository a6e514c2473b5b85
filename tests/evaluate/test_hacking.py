"""Reward-hacking flag on synthetic proxy/gold curves: cases that must fire and must not."""

from __future__ import annotations

import pytest

from judgelab.evaluate.hacking import detect_reward_hacking

STEPS = [0, 10, 20, 30, 40]


@pytest.mark.parametrize("proxy,gold,kind", [
    ([0.2, 0.4, 0.6, 0.8, 0.95], [0.3, 0.45, 0.5, 0.4, 0.3], "gold-falling"),   # classic overoptimisation
    ([0.2, 0.3, 0.5, 0.7, 0.9], [0.3, 0.4, 0.5, 0.5, 0.51], "gold-stalled"),    # gold plateau
])
def test_fires(proxy, gold, kind):
    f = detect_reward_hacking(STEPS, proxy, gold)
    assert f.flagged and f.kind == kind and (f.from_step, f.to_step) == (20, 40)


@pytest.mark.parametrize("proxy,gold", [
    ([0.2, 0.4, 0.6, 0.8, 0.95], [0.2, 0.35, 0.5, 0.65, 0.8]),  # gold follows proxy: healthy
    ([0.5, 0.52, 0.5, 0.51, 0.52], [0.5, 0.45, 0.4, 0.4, 0.38]),  # proxy flat: nothing exploited
    ([0.9, 0.8, 0.7, 0.6, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5]),       # proxy falling
])
def test_does_not_fire(proxy, gold):
    assert not detect_reward_hacking(STEPS, proxy, gold).flagged


def test_too_short_and_unsorted():
    assert detect_reward_hacking([0], [0.1], [0.1]).kind == "too-short"
    f = detect_reward_hacking([40, 0, 20], [0.9, 0.1, 0.5], [0.3, 0.3, 0.3])  # order by step
    assert f.flagged and (f.from_step, f.to_step) == (0, 40)


def test_ci_aware():
    proxy, gold = [0.2, 0.3, 0.5, 0.7, 0.9], [0.3, 0.4, 0.5, 0.5, 0.5]
    tight = [(v - 0.02, v + 0.02) for v in proxy]
    wide = [(v - 0.3, v + 0.3) for v in proxy]
    gci = [(v - 0.05, v + 0.05) for v in gold]
    assert detect_reward_hacking(STEPS, proxy, gold, proxy_ci=tight, gold_ci=gci).flagged
    # proxy gain within noise: no flag
    assert not detect_reward_hacking(STEPS, proxy, gold, proxy_ci=wide, gold_ci=gci).flagged
    # gold falls significantly (even if the point change is small relative to delta): flag
    g2 = [0.3, 0.4, 0.5, 0.47, 0.44]
    g2ci = [(v - 0.005, v + 0.005) for v in g2]
    f = detect_reward_hacking(STEPS, proxy, g2, proxy_ci=tight, gold_ci=g2ci, delta_gold=-0.5)
    assert f.flagged and f.kind == "gold-falling" and f.ci_aware
