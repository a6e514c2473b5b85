"""``--set`` overrides: nested keys, list indices, YAML-typed values, errors that say what to type."""

from __future__ import annotations

import pytest

from judgelab.config import apply_overrides
from judgelab.errors import ConfigError


def test_nested_and_created_keys():
    data = {"a": {"b": 1}, "s": "text", "n": None}
    created: list[list[str]] = []
    apply_overrides(data, ["a.b=2", "a.c.d=[1, 2]", "n.x=true", "top=0.5", "g={k: 1}", "g.m=2"], created)
    assert data == {"a": {"b": 2, "c": {"d": [1, 2]}}, "s": "text", "n": {"x": True}, "top": 0.5, "g": {"k": 1, "m": 2}}
    assert created == [["a", "c"], ["n"]]  # 'g' was set whole first, so the second override extends it
    with pytest.raises(ConfigError, match="'s' is 'text', not a mapping"):  # a scalar is never silently replaced
        apply_overrides(data, ["s.x=true"])


def test_set_errors_say_what_set_did():
    """A typo in a section the file leaves out names the key (no hint about made mappings); a
    mapping --set made from nothing, failing above the keys set, says it holds only those; an index
    into a list that is not there says so."""
    from pydantic import BaseModel, ConfigDict

    from judgelab.config import validate

    class Inner(BaseModel):
        model_config = ConfigDict(extra="forbid")
        kind: str
        x: int = 0

    class Outer(BaseModel):
        model_config = ConfigDict(extra="forbid")
        inner: Inner | None = None
        items: list[Inner] = []
        limit: int = 3

    def err(overrides: list[str]) -> ConfigError:
        created: list[list[str]] = []
        data = apply_overrides({}, overrides, created)
        with pytest.raises(ConfigError) as e:
            validate(Outer, data, "cfg.yaml", overrides=overrides, created=created)
        return e.value

    e = err(["inner.x=2"])  # 'inner' made with x alone: 'kind' missing, above nothing the user set
    assert e.where == "--set" and "--set made 'inner' from nothing" in str(e.hint) and "holds only inner.x" in str(e.hint)
    e = err(["inner.kind=a", "inner.kindd=b"])
    assert "unknown key 'inner.kindd'" in str(e) and "made" not in str(e.hint)
    e = err(["limit=abc"])
    assert "bad value for 'limit'" in str(e) and e.hint is None
    e = err(["items.0.kind=a"])
    assert "'items' is not set here, so --set cannot index it" in str(e) and "items=[{...}]" in str(e.hint)


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


@pytest.mark.parametrize("text,match", [
    ("run_dir: x\nrun_dir: y\n", r":2: duplicate key 'run_dir' \(first given at line 1\)"),
    ("run_dir: x\nsample:\n  n: 2\nsample:\n  temperature: 0.1\n", r":4: duplicate key 'sample' \(first given at line 2\)"),
    ("sample:\n  n: 2\n  temperature: 0.1\n  n: 7\n", r":4: duplicate key 'n' \(first given at line 2\)"),
])
def test_duplicate_yaml_keys_are_errors_naming_file_and_line(tmp_path, text, match):
    from judgelab.config import load_yaml

    p = tmp_path / "dup.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match) as ei:
        load_yaml(p)
    assert str(p) in ei.value.one_line() and "give each key once" in ei.value.one_line()


def test_merge_keys_may_still_be_overridden(tmp_path):
    from judgelab.config import load_yaml

    p = tmp_path / "merge.yaml"
    p.write_text("base: &b {n: 2, temperature: 0.5}\nsample:\n  <<: *b\n  n: 3\n")
    assert load_yaml(p)["sample"] == {"n": 3, "temperature": 0.5}
    # A merged mapping that itself merges (PyYAML copies the inner merge's keys into it first): still as
    # plain YAML reads it, no false "duplicate key".
    p.write_text("b1: &b1 {k: 1, j: 2}\ndefaults:\n  base: &b2\n    <<: *b1\n    k: 3\nc:\n  <<: *b2\n")
    assert load_yaml(p)["c"] == {"k": 3, "j": 2} and load_yaml(p)["defaults"]["base"] == {"k": 3, "j": 2}


@pytest.mark.parametrize("value", ["runs/x #1", "2024", "on", "0x10", "judge v1: rubric.yaml", "[a]", ""])
def test_option_values_are_set_as_typed_never_read_as_yaml(value):
    from judgelab.config import option_value

    data = apply_overrides({"prompts": {"source": "x"}}, [option_value("run_dir", value, "--run-dir"),
                                                          option_value("prompts.source", value, "--prompts")])
    assert data == {"run_dir": value, "prompts": {"source": value}}
    assert apply_overrides({}, [option_value("ns", (1, 2), "--n")]) == {"ns": [1, 2]}  # a repeatable option: a list
    assert apply_overrides({}, ["run_dir=2024"]) == {"run_dir": 2024}  # --set itself stays YAML


def test_errors_name_the_option_that_set_the_value():
    from pydantic import BaseModel, ConfigDict

    from judgelab.config import option_value, validate

    class M(BaseModel):
        model_config = ConfigDict(extra="forbid")
        n: int = 1
        name: str = "a"

    with pytest.raises(ConfigError, match=r"^--count: bad value for 'n'"):
        validate(M, apply_overrides({}, [option_value("n", "many", "--count")]), "f.yaml",
                 overrides=["name=b", option_value("n", "many", "--count")])
    with pytest.raises(ConfigError, match=r"^--set: bad value for 'n'"):  # the last one to set it is named
        validate(M, {"n": "x"}, "f.yaml", overrides=[option_value("n", "many", "--count"), "n=x"])


@pytest.mark.parametrize("expr,match", [
    ("policy.seeds=[0,0]", r"--set: bad value for 'policy.seeds': policy seeds must be unique, repeated: 0"),
    ("judge_seeds=[1,2,1]", r"--set: bad value for 'judge_seeds': judge seeds must be unique, repeated: 1"),
    ("run_dir=", r"--set: bad value for 'run_dir': run_dir is empty"),
    ("run_dir=' '", r"--set: bad value for 'run_dir': run_dir is empty"),
])
def test_run_config_refuses_repeated_seeds_and_an_empty_run_dir(expr, match):
    from judgelab.pipeline.config import load_run_config

    with pytest.raises(ConfigError, match=match):
        load_run_config(None, [expr])


def test_an_empty_run_config_file_is_refused(tmp_path):
    from judgelab.pipeline.config import load_run_config

    for text in ("", "# only a comment\n", "{}\n"):
        (tmp_path / "empty.yaml").write_text(text)
        with pytest.raises(ConfigError, match="the run config is empty"):
            load_run_config(tmp_path / "empty.yaml", [f"run_dir={tmp_path / 'r'}"])
    assert load_run_config(None, [], preset="tiny").run_dir  # no file at all: the preset alone still works
