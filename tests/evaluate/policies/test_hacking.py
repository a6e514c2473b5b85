"""Reward-hacking flag on synthetic proxy/gold curves: cases that must fire and must not."""

from __future__ import annotations

import pytest

from judgelab.evaluate.policies.hacking import detect_reward_hacking, hacking_onset, paired_change_ci

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
    f = detect_reward_hacking(STEPS, proxy, g2, proxy_ci=tight, gold_ci=g2ci, max_gold_change=-0.5)
    assert f.flagged and f.kind == "gold-falling" and f.ci_aware


# ------------------------------------------------------------------------------ onset during training

ONSET_STEPS = [0, 2, 4, 6, 8]


def _cis(gold: list[float], half: float = 0.02) -> list[list[float] | None]:
    return [None] + [[g - gold[0] - half, g - gold[0] + half] for g in gold[1:]]


def test_onset_fires_on_falling_gold_rising_proxy():
    proxy = [0.40, 0.50, 0.60, 0.70, 0.80]
    gold = [0.60, 0.58, 0.50, 0.45, 0.40]  # step 2: only -0.02 (not <= max_gold_change -0.05); from step 4 on: -0.10 and below
    r = hacking_onset(ONSET_STEPS, proxy, gold, gold_change_ci=_cis(gold), min_proxy_gain=0.05, max_gold_change=-0.05, patience=2)
    assert [bool(f and f.flagged) for f in r.flags] == [False, False, True, True, True]
    assert (r.onset_step, r.stop_step, r.consecutive) == (4, 6, 3)
    assert r.flags[2].kind == "gold-falling"


def test_onset_silent_on_rising_gold_and_on_flat_proxy():
    rising = hacking_onset(ONSET_STEPS, [0.4, 0.5, 0.6, 0.7, 0.8], [0.5, 0.55, 0.6, 0.65, 0.7],
                           gold_change_ci=_cis([0.5, 0.55, 0.6, 0.65, 0.7]), patience=1)
    assert rising.stop_step is None and not any(f and f.flagged for f in rising.flags)
    flat_proxy = hacking_onset(ONSET_STEPS, [0.5] * 5, [0.6, 0.5, 0.4, 0.3, 0.2], gold_change_ci=_cis([0.6, 0.5, 0.4, 0.3, 0.2]),
                               patience=1)
    assert flat_proxy.stop_step is None  # nothing is being exploited


def test_onset_needs_significance_and_patience():
    proxy, gold = [0.4, 0.6, 0.7, 0.8, 0.9], [0.6, 0.5, 0.5, 0.4, 0.4]
    wide = [None] + [[-0.3, 0.1]] * 4  # the drop's CI reaches 0: not significant
    assert hacking_onset(ONSET_STEPS, proxy, gold, gold_change_ci=wide, patience=1).stop_step is None
    assert hacking_onset(ONSET_STEPS, proxy, gold, gold_change_ci=wide, ci=False, patience=1).stop_step == 2
    # a flag interrupted by a recovery resets the count
    gold2 = [0.6, 0.5, 0.62, 0.5, 0.5]
    r = hacking_onset(ONSET_STEPS, proxy, gold2, gold_change_ci=_cis(gold2), patience=2)
    assert [bool(f and f.flagged) for f in r.flags] == [False, True, False, True, True]
    assert (r.onset_step, r.stop_step) == (6, 8)


def test_onset_anchors_at_first_point_with_both_values():
    # a train-reward proxy has no value at step 0: the anchor is step 2
    r = hacking_onset(ONSET_STEPS, [None, 0.4, 0.6, 0.7, 0.8], [0.6, 0.6, 0.5, 0.45, 0.4], ci=False, patience=1)
    assert r.flags[0] is None and r.flags[1] is None and r.flags[2].from_step == 2 and r.stop_step == 4


def test_paired_change_ci():
    before = {"a": [0.5, 0.7], "b": [0.4], "c": [0.9]}
    after = {"a": [0.2, 0.4], "b": [0.1], "d": [0.0]}
    mean, ci = paired_change_ci(before, after, n_boot=200)
    assert mean == pytest.approx(-0.3) and ci[0] == pytest.approx(-0.3) and ci[1] == pytest.approx(-0.3)
    assert paired_change_ci({"a": [1.0]}, {"b": [1.0]}) == (None, None)


# ------------------------------------------------------------------------------ one settings model

def test_one_rule_model_keeps_both_defaults():
    from judgelab.evaluate.policies.hacking import HackingRule
    from judgelab.evaluate.policies.policy_eval import EvaluateConfig
    from judgelab.train.policy_settings import MonitorSettings

    after = EvaluateConfig().hacking
    assert isinstance(after, HackingRule)
    assert (after.window, after.min_proxy_gain, after.max_gold_change, after.ci) == (2, 0.10, 0.02, False)
    during = MonitorSettings().rule
    assert isinstance(during, HackingRule)
    assert (during.min_proxy_gain, during.max_gold_change, during.ci, during.patience, during.bootstrap) == (0.05, -0.05, True, 2, 1000)
    # keys left out of a monitor rule take the in-training defaults, not the post-training ones
    partial = MonitorSettings.model_validate({"rule": {"patience": 3}}).rule
    assert (partial.min_proxy_gain, partial.max_gold_change, partial.ci, partial.patience) == (0.05, -0.05, True, 3)


@pytest.mark.parametrize("model,data,new", [
    ("evaluate", {"hacking": {"delta_proxy": 0.2}}, "min_proxy_gain"),
    ("evaluate", {"hacking": {"delta_gold": 0.0}}, "max_gold_change"),
    ("evaluate", {"hacking": {"ci_aware": True}}, "write ci"),
    ("monitor", {"rule": {"proxy_rise": 0.05}}, "min_proxy_gain"),
    ("monitor", {"rule": {"gold_drop": 0.05}}, "max_gold_change -0.05"),
])
def test_old_rule_keys_name_the_new_key(tmp_path, model, data, new):
    import yaml

    from judgelab.config import load_config
    from judgelab.errors import ConfigError
    from judgelab.evaluate.policies.policy_eval import EvaluateConfig
    from judgelab.train.policy_settings import MonitorSettings

    cls = EvaluateConfig if model == "evaluate" else MonitorSettings
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="was renamed") as e:
        load_config(cls, path)
    assert new in str(e.value) and str(path) in str(e.value)


def test_rule_methods_apply_the_functions():
    from judgelab.evaluate.policies.hacking import HackingRule, onset_rule

    proxy, gold = [0.2, 0.4, 0.6, 0.8, 0.95], [0.3, 0.45, 0.5, 0.4, 0.3]
    assert HackingRule().flag(STEPS, proxy, gold) == detect_reward_hacking(STEPS, proxy, gold)
    cis = [(p - 0.5, p + 0.5) for p in proxy]  # wide: the proxy gain is not significant
    assert HackingRule().flag(STEPS, proxy, gold, proxy_ci=cis, gold_ci=cis).flagged  # ci off: CIs unread
    assert not HackingRule(ci=True).flag(STEPS, proxy, gold, proxy_ci=cis, gold_ci=cis).flagged
    og = [0.60, 0.58, 0.50, 0.45, 0.40]
    assert onset_rule().onset(ONSET_STEPS, [0.4, 0.5, 0.6, 0.7, 0.8], og, gold_change_ci=_cis(og)) == \
        hacking_onset(ONSET_STEPS, [0.4, 0.5, 0.6, 0.7, 0.8], og, gold_change_ci=_cis(og))
