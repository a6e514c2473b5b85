"""The one judge loader: every kind of spec gives a Judge with its mode and scale on it; a text
backend registered in Python is selectable from YAML; an ensemble of two judges (from a spec) is
a GRPO reward, and evaluation rebuilds it from policy.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from judgelab.config import load_config
from judgelab.data.jsonl import iter_jsonl, write_jsonl
from judgelab.data.records import PromptRecord
from judgelab.errors import ConfigError
from judgelab.judges.base import Judge
from judgelab.judges.registry import load_judge, register_judge, resolve_judge_spec
from judgelab.judges.cache import CachedJudge
from judgelab.judges.config import JudgeConfig
from judgelab.judges.ensemble import EnsembleJudge
from judgelab.judges.types import PairwiseItem, PointwiseItem
from judgelab.lm import BACKENDS, register_backend
from judgelab.lm.types import Generation, GenerationRequest

STORY_META = {"family": "story", "constraints": {"min_words": 8, "max_words": 60, "must_include": ["lantern"]}}


class WordCountBackend:
    """A text backend defined outside judgelab: reads only the rendered messages (as a real LLM
    would), answers 'Score: N' with N = words in the response section, capped by cfg.cap."""

    name = "word-count"

    def __init__(self, cap: int):
        self.cap = cap

    async def generate(self, request: GenerationRequest) -> Generation:
        text = request.messages[-1]["content"]
        m = re.search(r"\[Response\]\n(.*?)\n\n", text, re.S)
        words = len((m.group(1) if m else text).split())
        return Generation(text=f"Score: {max(1, min(self.cap, words))}")

    def identity(self) -> dict:
        return {"backend": "word-count", "cap": self.cap}

    async def aclose(self) -> None:
        pass


@pytest.fixture()
def word_count_backend():
    register_backend("word-count", lambda cfg: WordCountBackend(int(getattr(cfg, "cap", 10))))
    yield
    BACKENDS.pop("word-count", None)


def test_backend_registered_in_python_is_selected_from_yaml(tmp_path: Path, word_count_backend) -> None:
    (tmp_path / "j.yaml").write_text("name: wc\nbackend:\n  type: word-count\n  cap: 6\nsampling:\n  max_new_tokens: 4\n")
    judge = load_judge(str(tmp_path / "j.yaml"))
    assert judge.name == "wc" and judge.modes == ("pointwise", "pairwise") and judge.scale == (1.0, 10.0)
    short, long_ = judge.judge([PointwiseItem("a", "p", "two words"), PointwiseItem("b", "p", "one two three four five six seven")])
    assert short.ok and long_.ok and short.score < long_.score <= 6  # the YAML's cap reached the backend
    # ... and from a stage config validated from YAML (the registry is open to the config layer too)
    cfg = load_config(JudgeConfig, tmp_path / "j.yaml")
    assert cfg.backend.type == "word-count" and cfg.backend.cap == 6
    assert cfg.model_dump(mode="json")["backend"] == {"type": "word-count", "cap": 6}


def test_unknown_backend_type_names_the_registry() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'nope'.*register_backend"):
        load_judge({"backend": {"type": "nope"}})
    with pytest.raises(ConfigError, match="'api_key' is not accepted in a config.*api_key_env"):
        load_judge({"backend": {"type": "openai", "model": "m", "base_urls": ["http://x/v1"], "api_key": "s"}})
    with pytest.raises(ConfigError, match="unknown key 'api_kee' for backend type 'openai'"):
        load_judge({"backend": {"type": "openai", "model": "m", "base_urls": ["http://x/v1"], "api_kee": "s"}})


def test_specs_names_folders_and_modes(tmp_path: Path) -> None:
    gold = load_judge("rubric-gold")
    assert gold.name == "gold" and set(gold.modes) == {"pointwise", "pairwise"}
    register_judge("my-gold", {"name": "mine", "backend": {"type": "rubric"}, "mode": "pointwise"})
    mine = load_judge("my-gold")
    assert mine.name == "mine" and mine.modes == ("pointwise",)
    # a trained-judge folder: mode from the file, model path = the folder (wherever it moved)
    d = tmp_path / "moved-judge"
    d.mkdir()
    (d / "judgelab_judge.json").write_text(json.dumps({
        "schema": "judgelab.trained_judge/v1", "mode": "pairwise",
        "judge": {"name": "t", "backend": {"type": "transformers", "model": "/old/place"}}}))
    cfg = resolve_judge_spec(str(d))
    assert cfg.mode == "pairwise" and cfg.backend.model == str(d.resolve())
    with pytest.raises(ConfigError, match="registered names"):
        load_judge("no-such-judge")


def test_store_wraps_any_judge_and_answers_repeats(tmp_path: Path) -> None:
    from judgelab.data.store import JudgmentStore

    store = JudgmentStore(tmp_path / "s.sqlite")
    spec = {"name": "ens", "members": ["rubric-gold", "rubric-flawed-brevity"], "weights": [1, 1]}
    ens = load_judge(spec, store=store)
    assert isinstance(ens, EnsembleJudge) and all(isinstance(m, CachedJudge) for m in ens.judges)
    assert isinstance(ens, Judge)
    items = [PointwiseItem("x", "Write a story.", "Mira lit the lantern and the night went quiet.", meta=STORY_META)]
    first = ens.judge(items)[0]
    again = ens.judge(items)[0]
    assert first.ok and again.score == first.score and again.cached
    store.close()


def test_an_ensemble_of_two_judges_is_a_grpo_reward(tmp_path: Path) -> None:
    from judgelab.models.testing import tiny_model
    from judgelab.train.policy import TrainPolicyConfig, train_policy

    prompts = [PromptRecord(id=f"p{i}", family="story", prompt=f"Write a story about a lantern {i}.", split="train",
                            constraints=STORY_META["constraints"]) for i in range(4)]
    write_jsonl(tmp_path / "prompts.jsonl", [p.to_dict() for p in prompts])
    cfg = TrainPolicyConfig.model_validate({
        "model": "tiny",
        "judge": {"name": "two-rubrics", "members": ["rubric-gold", "rubric-flawed-brevity"], "weights": [3, 1]},
        "reward": {"mode": "pointwise"},
        "prompts": {"source": "run", "split": "train"},
        "grpo": {"num_generations": 2, "max_completion_length": 8, "max_steps": 2, "save_steps": 2},
        "device": "cpu",
    })
    model, tok = tiny_model()
    final = train_policy(cfg, tmp_path, "ens-pol", model=model, tokenizer=tok)
    pdir = tmp_path / "policies" / "ens-pol"
    assert final == pdir / "checkpoint-2"
    steps = [r for _, r in iter_jsonl(pdir / "log.jsonl") if "reward" in r]
    assert len(steps) == 2 and all(0.0 <= r["reward"] <= 1.0 for r in steps)
    assert steps[0]["judge_two-rubrics/parse_failure_rate"] == 0.0
    # policy.json records the ensemble's spec; evaluation rebuilds the same ensemble from it
    meta = json.loads((pdir / "policy.json").read_text())
    rebuilt = load_judge(meta["judge"])
    assert isinstance(rebuilt, EnsembleJudge) and rebuilt.name == "two-rubrics" and rebuilt.weights == [3.0, 1.0]
    assert [j.name for j in rebuilt.judges] == ["gold", "flawed-brevity"]


def test_ensemble_modes_are_what_every_member_answers() -> None:
    ens = load_judge({"members": [{"backend": {"type": "rubric"}, "mode": "pointwise"}, "rubric-gold"]})
    assert ens.modes == ("pointwise",)
    from judgelab.judges.base import eval_mode_for, reward_mode_for

    assert reward_mode_for(ens) == "pointwise" and eval_mode_for(ens) == "pointwise"
    assert reward_mode_for(("pairwise",)) == "pairwise-reference"
    v = ens.judge([PairwiseItem("x", "p", "a b c", "a", meta=STORY_META)])[0]
    assert v.mode == "pairwise"  # asking anyway still answers (each member can), the rule only picks the default
