"""``--set`` overrides: nested keys, list indices, YAML-typed values, errors that say what to type."""

from __future__ import annotations

import pytest

from judgelab.config import apply_overrides
from judgelab.errors import ConfigError


def test_nested_and_created_keys():
    data = {"a": {"b": 1}, "s": "text"}
    apply_overrides(data, ["a.b=2", "a.c.d=[1, 2]", "s.x=true", "top=0.5"])
    assert data == {"a": {"b": 2, "c": {"d": [1, 2]}}, "s": {"x": True}, "top": 0.5}


def test_list_index():
    data = {"judges": [{"kind": "direct-sft", "max_steps": 12}, {"kind": "reward-model"}]}
    apply_overrides(data, ["judges.0.max_steps=4", "judges.-1.grpo.max_steps=2", "judges.1.kind=reasoning-sft"])
    assert data["judges"][0] == {"kind": "direct-sft", "max_steps": 4}
    assert data["judges"][1] == {"kind": "reasoning-sft", "grpo": {"max_steps": 2}}
    apply_overrides(data, ["judges.0={kind: x}"])
    assert data["judges"][0] == {"kind": "x"}


@pytest.mark.parametrize("expr,match", [
    ("judges.max_steps=4", r"is a list; index it by number.*judges\.0\.max_steps"),
    ("judges.5.max_steps=4", r"index 5 out of range for 'judges' \(1 entries\)"),
    ("no_equals_sign", "not of the form key.path=value"),
    ("=3", "empty key"),
    ("judges.--1.x=1", "is a list; index it by number"),
    ("names.0.x=1", "'names.0' is 'abc', not a mapping"),
])
def test_errors(expr, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides({"judges": [{"kind": "a"}], "names": ["abc"]}, [expr])


def test_judge_seeds_replicate_every_judge_into_one_arm():
    from judgelab.data.rundir import RunDir
    from judgelab.pipeline.config import RunConfig
    from judgelab.pipeline.plan import policy_runs

    cfg = RunConfig.model_validate({"judge_seeds": [0, 1], "policy": {"judges": ["direct-sft"], "seeds": [0, 1]}})
    assert [(j.judge_name, j.seed, j.arm) for j in cfg.judges] == [
        ("direct-sft-j0", 0, "direct-sft"), ("direct-sft-j1", 1, "direct-sft"),
        ("reasoning-sft-grpo-j0", 0, "reasoning-sft-grpo"), ("reasoning-sft-grpo-j1", 1, "reasoning-sft-grpo")]
    runs = {name: (pc.arm, pc.judge_seed, pc.grpo.seed) for name, pc in policy_runs(cfg, RunDir("/tmp/unused"))}
    assert runs == {"direct-sft-j0-s0": ("direct-sft", 0, 0), "direct-sft-j0-s1": ("direct-sft", 0, 1),
                    "direct-sft-j1-s0": ("direct-sft", 1, 0), "direct-sft-j1-s1": ("direct-sft", 1, 1)}
    plain = RunConfig.model_validate({})
    assert all(pc.arm is None for _, pc in policy_runs(plain, RunDir("/tmp/unused")))  # policy.json unchanged
    with pytest.raises(Exception, match="judge_seeds"):
        RunConfig.model_validate({"judge_seeds": [1, 1]})
