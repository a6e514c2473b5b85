"""Gold monitoring end to end on a tiny policy trained for 2 GRPO steps: samples through the
generation layer, gold/proxy scores with CIs per checkpoint, win rate vs step 0, arena, flag."""

from __future__ import annotations

import json

import pytest

from judgelab.data.jsonl import iter_jsonl, write_jsonl
from judgelab.data.records import PromptRecord
from judgelab.errors import ConfigError
from judgelab.evaluate.policies.checkpoint import paired_gain
from judgelab.evaluate.policies.policy_eval import EvaluateConfig, evaluate_policies
from judgelab.evaluate.policies.results import PolicyEvalResult
from judgelab.evaluate.stats import bootstrap_mean_ci
from judgelab.judges.config import JudgeConfig
from judgelab.judges.base import Judge
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import JudgeRequest, PairwiseItem, PointwiseItem
from judgelab.lm.types import Generation
from judgelab.models.testing import tiny_model
from judgelab.train.policy import TrainPolicyConfig, train_policy


class CharsBackend:
    """Programmatic judge: more characters = better; 'gold' variant prefers fewer 'e's."""
    reads_items = True  # a programmatic backend: it reads the JudgeRequest's item

    name = "chars"

    def __init__(self, key):
        self.key = key

    async def generate(self, request: JudgeRequest) -> Generation:
        it = request.item
        if isinstance(it, PointwiseItem):
            return Generation(text=f"Score: {min(10, 1 + self.key(it.response) // 4)}")
        assert isinstance(it, PairwiseItem)
        a, b = self.key(it.response_a), self.key(it.response_b)
        return Generation(text="[[A]]" if a > b else "[[B]]" if b > a else "[[C]]")

    def identity(self):
        return {"name": "chars"}

    async def aclose(self):
        pass


def factory(cfg: JudgeConfig) -> Judge:
    key = (lambda t: max(0, 40 - t.count("e") * 4)) if cfg.name == "gold" else len
    return LLMJudge(cfg, backend=CharsBackend(key))


def test_evaluate_run(tmp_path):
    prompts = [PromptRecord(id=f"p{i}", family="poem", prompt=f"Write about thing {i}.",
                            split="train" if i < 4 else "test") for i in range(7)]
    write_jsonl(tmp_path / "prompts.jsonl", [p.to_dict() for p in prompts])
    cfg = TrainPolicyConfig.model_validate({
        "judge": {"name": "len", "backend": {"type": "rubric"}},
        "prompts": {"source": "run"}, "device": "cpu",
        "grpo": {"num_generations": 2, "max_completion_length": 8, "max_steps": 2, "save_steps": 1},
    })
    model, tok = tiny_model()
    train_policy(cfg, tmp_path, "pol", model=model, tokenizer=tok, judge=factory(cfg.judge))
    ecfg = EvaluateConfig(device="cpu", bootstrap=50, batch_size=4)
    out = evaluate_policies(ecfg, tmp_path, judge_factory=factory)
    res = json.loads(out["pol"].read_text())
    assert [r["step"] for r in res["rows"]] == [0, 1, 2]
    # a typed file (PolicyEvalResult) in the layout the writer always used; the controls' check beside it
    assert PolicyEvalResult.read(out["pol"]).rows[-1].step == 2 and out["pol"].read_text() == json.dumps(res, indent=2)
    assert json.loads((tmp_path / "eval" / "instrument.json").read_text())["status"] == "incomplete"
    assert res["decodings"] == ["sampled", "greedy"] and res["samples_per_prompt"] == 4
    for r in res["rows"]:
        # 3 held-out prompts x 4 samples at the training temperature are the primary numbers ...
        assert r["decoding"] == "sampled" and r["n"] == 12 and r["n_prompts"] == 3
        assert r["gold_score_ci"][0] <= r["gold_score_mean"] <= r["gold_score_ci"][1]
        # ... and the greedy completion's gold numbers sit beside them
        assert r["by_decoding"]["greedy"]["n"] == 3 and r["by_decoding"]["sampled"]["gold_score_mean"] == r["gold_score_mean"]
        assert r["gold_gain_ci"][0] <= r["gold_gain"] <= r["gold_gain_ci"][1]
        assert 0.0 <= r["proxy_score"] <= 1.0 and r["length_chars_mean"] >= 0
        assert r["gold_win_rate"] is not None
    assert res["rows"][0]["gold_win_rate"] == 0.5 and res["rows"][0]["gold_gain"] == 0.0
    assert set(res["hacking"]) >= {"flagged", "kind", "reason"}
    samples = [s for _, s in iter_jsonl(tmp_path / "eval" / "policies" / "pol" / "samples-step-2.jsonl")]
    assert len(samples) == 15 and all(s["gold_score"] is not None for s in samples)
    assert [(s["decoding"], s["sample_index"]) for s in samples[::3]] == [("sampled", j) for j in range(4)] + [("greedy", 0)]
    assert all(s["proxy_score"] is not None for s in samples if s["decoding"] == "sampled")  # proxy: primary decoding
    arena = json.loads((tmp_path / "eval" / "arena.json").read_text())
    assert set(arena["judges"]) == {"gold", "len"} and len(arena["contestants"]) == 2
    # anchored on the initial policy, pooled over the judges, style-controlled, both orders per prompt
    assert arena["schema"] == "judgelab.arena/v2" and arena["baseline"].startswith("initial:")
    assert set(arena["matrix"]["rows"]) == {"gold", "len", "pooled"} and arena["strong_weight"] == 3.0
    for name, tab in arena["judges"].items():
        base = next(r for r in tab["models"] if r["model"] == arena["baseline"])
        assert base["rating"] == 1000.0 and base["win_rate_vs_baseline"] == 0.5
        assert tab["n_battles"] == 2 * 3 - 2 * tab["failed_pairs"] and tab["style"] == "both"
        assert {"model", "rating", "ci", "elo", "win_rate", "battles"} <= set(tab["models"][0])  # what report.html reads
    # rerun reuses samples (same file content) and rewrites the same rows
    out2 = evaluate_policies(ecfg, tmp_path, judge_factory=factory)
    assert json.loads(out2["pol"].read_text())["rows"] == res["rows"]
    # the arena can be refereed by a subset of judges (e.g. only the cheap gold) ...
    evaluate_policies(ecfg.model_copy(update={"arena": ecfg.arena.model_copy(update={"judges": ["gold"]})}), tmp_path, judge_factory=factory)
    arena = json.loads((tmp_path / "eval" / "arena.json").read_text())
    assert set(arena["judges"]) == {"gold"}
    # ... and a name that is not a judge of this evaluation fails before any sampling, naming the known ones
    import shutil

    import judgelab.evaluate.policies.policy_eval as pe

    shutil.rmtree(tmp_path / "eval")  # no cached samples: sampling would run if the check came late

    def no_sampling(*a, **k):
        raise AssertionError("sampled before checking arena.judges")

    mp = pytest.MonkeyPatch()
    mp.setattr(pe, "sample_checkpoint", no_sampling)
    try:
        with pytest.raises(ConfigError, match="nope") as e:
            evaluate_policies(ecfg.model_copy(update={"arena": ecfg.arena.model_copy(update={"judges": ["gold", "nope"]})}), tmp_path, judge_factory=factory)
    finally:
        mp.undo()
    assert "len" in str(e.value) and "gold" in str(e.value)


def test_bootstrap_ci():
    lo, hi = bootstrap_mean_ci([0, 1] * 50, 500)
    assert lo < 0.5 < hi and hi - lo < 0.3
    assert bootstrap_mean_ci([], 10) is None


def test_policies_share_base_samples(tmp_path, monkeypatch):
    """Two policies from one base: step 0 is sampled once and both evaluations see the same text."""
    import judgelab.evaluate.policies.policy_eval as pe

    prompts = [PromptRecord(id=f"p{i}", family="poem", prompt=f"Write about thing {i}.",
                            split="train" if i < 2 else "test") for i in range(4)]
    write_jsonl(tmp_path / "prompts.jsonl", [p.to_dict() for p in prompts])
    model, tok = tiny_model()
    model.save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    for seed in (0, 1):
        cfg = TrainPolicyConfig.model_validate({
            "model": str(tmp_path / "base"), "judge": {"name": "len", "backend": {"type": "rubric"}},
            "prompts": {"source": "run"}, "device": "cpu",
            "grpo": {"num_generations": 2, "max_completion_length": 8, "max_steps": 1, "save_steps": 1, "seed": seed},
        })
        train_policy(cfg, tmp_path, f"pol-s{seed}", judge=factory(cfg.judge))
    calls = []
    real = pe.sample_checkpoint
    monkeypatch.setattr(pe, "sample_checkpoint", lambda path, *a, **k: calls.append(path) or real(path, *a, **k))
    evaluate_policies(EvaluateConfig(device="cpu", bootstrap=20, batch_size=4, arena={"enabled": False}), tmp_path, judge_factory=factory)
    assert calls.count(str(tmp_path / "base")) == 1 and len(calls) == 3  # base once + one checkpoint each
    step0 = [[s["response"] for _, s in iter_jsonl(tmp_path / "eval" / "policies" / n / "samples-step-0.jsonl")]
             for n in ("pol-s0", "pol-s1")]
    assert step0[0] == step0[1] and len(step0[0]) == 2 * 5  # 2 prompts x (4 sampled + 1 greedy)


def test_paired_gain_is_paired_by_prompt():
    """Prompts differ a lot in difficulty; a uniform +1 on every prompt is a certain gain once paired."""
    cfg = EvaluateConfig(bootstrap=500)
    base = [{"prompt_id": f"p{i}"} for i in range(8) for _ in range(2)]
    base_v = [float(i) for i in range(8) for _ in range(2)]  # difficulty 0..7
    gain, ci = paired_gain(base, [v + 1 for v in base_v], base, base_v, cfg)
    assert gain == 1.0 and ci == [1.0, 1.0]
    noisy = [v + (1 if j % 2 else -1) * 0.5 for j, v in enumerate(base_v)]  # no gain
    gain, ci = paired_gain(base, noisy, base, base_v, cfg)
    assert gain == 0.0 and ci[0] <= 0.0 <= ci[1]
