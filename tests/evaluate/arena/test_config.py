"""Arena settings: one ArenaSettings shared by ``judgelab arena`` and ``evaluate.arena``; the old flat
``evaluate.arena_*`` keys are refused with the new key named; defaults unchanged."""

from __future__ import annotations

import pytest

from judgelab.config import load_config
from judgelab.errors import ConfigError
from judgelab.evaluate.arena.config import (
    ArenaRunConfig,
    ArenaSettings,
    PolicyArenaSettings,
)


def test_defaults_are_shared_and_unchanged():
    run, pol = ArenaRunConfig(), PolicyArenaSettings()
    for s in (run, pol):
        assert isinstance(s, ArenaSettings)
        assert (s.style, s.centering, s.missing_style, s.strong_weight) == ("auto", "none", "impute", 3.0)
    assert pol.enabled is True and pol.judges is None
    # arena.json's "settings" keeps its keys and their order
    assert list(run.model_dump()) == ["style", "centering", "missing_style", "strong_weight", "bootstrap", "alpha", "seed",
                                      "tokenizer", "max_new_tokens", "temperature", "batch_size", "device", "decoding"]


def test_auto_style_control_is_off_when_the_rubric_referees():
    """Controlling for length would remove the rubric gold's own length criterion (issue 23)."""
    from judgelab.evaluate.arena.style import resolve_style
    from judgelab.judges.registry import load_judge

    gold, flawed = load_judge("rubric-gold"), load_judge("rubric-flawed-brevity")

    class Served:  # any judge whose backend is not the rubric
        backend = type("B", (), {"name": "openai"})()

    assert resolve_style("auto", [gold]) == "none" and resolve_style("auto", [gold, flawed]) == "none"
    assert resolve_style("auto", [gold, Served()]) == "both" and resolve_style("auto", []) == "both"
    assert resolve_style("length", [gold]) == "length"  # an explicit setting is kept


@pytest.mark.parametrize("old, new", [("arena_style: length", "evaluate.arena_style was renamed to evaluate.arena.style"),
                                      ("arena_style_control: false", "evaluate.arena_style_control was renamed to evaluate.arena.style"),
                                      ("arena_strong_weight: 1", "evaluate.arena_strong_weight was renamed to evaluate.arena.strong_weight"),
                                      ("arena_judges: [gold]", "evaluate.arena_judges was renamed to evaluate.arena.judges"),
                                      ("arena: false", "write evaluate.arena.enabled: false")])
def test_old_flat_keys_name_the_new_key(tmp_path, old, new):
    from judgelab.evaluate.policies.policy_eval import EvaluateConfig

    f = tmp_path / "eval.yaml"
    f.write_text(old + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(EvaluateConfig, f)
    assert new in str(e.value) and "eval.yaml" in str(e.value)


def test_evaluate_arena_section():
    from judgelab.evaluate.policies.policy_eval import EvaluateConfig

    cfg = load_config(EvaluateConfig, None, ["arena.style=none", "arena.judges=[gold]", "arena.enabled=false"])
    assert (cfg.arena.style, cfg.arena.judges, cfg.arena.enabled) == ("none", ["gold"], False)
    with pytest.raises(ConfigError, match="arena.style"):
        load_config(EvaluateConfig, None, ["arena.style=loud"])


def test_auto_style_resolves_specs_too():
    from judgelab.evaluate.arena.style import resolve_style

    assert resolve_style("auto", ["rubric-gold"]) == "none"  # `judgelab arena --judge rubric-gold`
    assert resolve_style("auto", [{"name": "g", "backend": {"type": "rubric", "rubric": "gold"}}]) == "none"
    assert resolve_style("auto", ["rubric-gold", "examples/judge_smollm2.yaml"]) == "both"
