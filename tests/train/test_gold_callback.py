"""Gold tracking during training: the callback inside real TRL GRPO runs of a tiny random Llama
(fires every K steps, logs proxy and gold side by side, stops at the onset when the gold is made to
fall while the proxy rises, runs to the end when it rises). The onset rule alone, on constructed
curves: tests/evaluate/policies/test_hacking.py."""

from __future__ import annotations

import json

import pytest

from judgelab.data.jsonl import iter_jsonl, write_jsonl
from judgelab.data.prompts import balanced_subset as balanced
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import checkpoints
from judgelab.judges.config import JudgeConfig, RubricBackendConfig
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import JudgeRequest
from judgelab.lm.types import Generation
from judgelab.models.testing import tiny_model
from judgelab.train.policy import TrainPolicyConfig, train_policy


def test_balanced_prompts():
    ps = [PromptRecord(id=f"{f}{i}", family=f, prompt="x", split="test") for f in "abc" for i in range(3)]
    assert [p.id for p in balanced(ps, 5)] == ["a0", "b0", "c0", "a1", "b1"]


# ------------------------------------------------------------------------------ inside GRPO

class DriftBackend:
    """Programmatic judge whose score moves with every item it is asked about: ``+slope`` points per
    item from ``start`` (clipped to 1..10). Lets a test build a proxy that rises and a gold that
    falls (or rises) as training goes on, whatever the tiny random policy writes."""

    reads_items = True

    def __init__(self, start: float, slope: float):
        self.start, self.slope, self.calls = start, slope, 0
        self.name = f"drift{slope:+}"

    async def generate(self, request: JudgeRequest) -> Generation:
        score = min(10.0, max(1.0, self.start + self.slope * self.calls))
        self.calls += 1
        return Generation(text=f"Score: {score:.2f}")

    def identity(self) -> dict:
        return {"name": self.name}

    async def aclose(self) -> None:
        pass


def drift_judge(name: str, start: float, slope: float) -> LLMJudge:
    return LLMJudge(JudgeConfig(name=name, backend=RubricBackendConfig()), backend=DriftBackend(start, slope))


@pytest.fixture()
def run_dir(tmp_path):
    prompts = [PromptRecord(id=f"p{i}", family=f"f{i % 2}", prompt=f"Write about thing {i}.", split="train",
                            constraints={"lines": 2}) for i in range(4)]
    prompts += [PromptRecord(id=f"t{i}", family=f"f{i % 2}", prompt=f"Describe item {i}.", split="val",
                             constraints={"lines": 2}) for i in range(3)]
    write_jsonl(tmp_path / "prompts.jsonl", [p.to_dict() for p in prompts])
    return tmp_path


def monitored_config(steps: int = 4, stop: bool = True, every: int = 1) -> TrainPolicyConfig:
    cfg = TrainPolicyConfig.model_validate({
        "model": "tiny",
        "judge": {"name": "proxy", "backend": {"type": "rubric"}},
        "prompts": {"source": "run", "split": "train"},
        "grpo": {"num_generations": 2, "max_completion_length": 6, "max_steps": steps, "save_steps": 100},
        "device": "cpu",
        "monitor": {"every": every, "prompts": 2, "samples": 2, "stop_on_hacking": stop,
                    "rule": {"min_proxy_gain": 0.05, "max_gold_change": -0.05, "patience": 2, "bootstrap": 200}},
    })
    return cfg


def _monitor_logs(pdir):
    logs = [r for _, r in iter_jsonl(pdir / "log.jsonl")]
    return [r for r in logs if "monitor/gold" in r], [r for r in logs if "reward" in r]


def test_callback_stops_at_onset(run_dir):
    model, tok = tiny_model()
    # proxy: +0.2 points per item judged (rises through training); gold: -0.25 per item (4 items per evaluation)
    final = train_policy(monitored_config(), run_dir, "neg", model=model, tokenizer=tok,
                         judge=drift_judge("proxy", 1.0, 0.2), monitor_judge=drift_judge("gold", 10.0, -0.25))
    pdir = run_dir / "policies" / "neg"
    mon = json.loads((pdir / "gold_monitor.json").read_text())
    assert mon["schema"] == "judgelab.gold_monitor/v1" and mon["prompts"] == ["t0", "t1"]
    assert [e["step"] for e in mon["evals"]] == [0, 1, 2]
    golds, proxies = [e["gold"] for e in mon["evals"]], [e["proxy"] for e in mon["evals"]]
    assert golds[0] > golds[1] > golds[2] and proxies[0] < proxies[1] < proxies[2]
    assert mon["stopped"] and mon["onset_step"] == 1 and mon["stop_step"] == 2
    assert final.name == "checkpoint-2" and [s for s, _ in checkpoints(pdir)] == [2]  # saved at the stop step
    monitor_rows, train_rows = _monitor_logs(pdir)
    assert [r["step"] for r in monitor_rows] == [0, 1, 2] and [r["step"] for r in train_rows] == [1, 2]
    assert all("monitor/proxy" in r and "monitor/gold_ci_low" in r for r in monitor_rows)
    assert monitor_rows[-1]["monitor/flagged"] == 1.0 and monitor_rows[0]["monitor/flagged"] == 0.0
    # the monitor's own entries did not swallow the trainer's metrics
    assert all("judge_proxy/parse_failure_rate" in r for r in train_rows)
    assert all(e["proxy_train"] is not None for e in mon["evals"][1:])
    # rerunning a stopped policy does not train past the onset
    again = train_policy(monitored_config(), run_dir, "neg", model=tiny_model()[0], tokenizer=tok,
                         judge=drift_judge("proxy", 1.0, 0.2), monitor_judge=drift_judge("gold", 10.0, -0.25))
    assert again.name == "checkpoint-2" and [s for s, _ in checkpoints(pdir)] == [2]


def test_callback_runs_to_end_when_gold_rises(run_dir):
    model, tok = tiny_model()
    final = train_policy(monitored_config(steps=4, every=2), run_dir, "pos", model=model, tokenizer=tok,
                         judge=drift_judge("proxy", 1.0, 0.2), monitor_judge=drift_judge("gold", 2.0, 0.25))
    pdir = run_dir / "policies" / "pos"
    mon = json.loads((pdir / "gold_monitor.json").read_text())
    assert [e["step"] for e in mon["evals"]] == [0, 2, 4]  # every 2 steps
    assert not mon["stopped"] and mon["stop_step"] is None
    assert final.name == "checkpoint-4"
    monitor_rows, _ = _monitor_logs(pdir)
    assert [r["step"] for r in monitor_rows] == [0, 2, 4]
    assert monitor_rows[-1]["monitor/gold"] > monitor_rows[0]["monitor/gold"]


def test_monitor_refuses_training_split(run_dir):
    from judgelab.errors import ConfigError

    cfg = monitored_config()
    cfg.monitor.split = "train"
    model, tok = tiny_model()
    with pytest.raises(ConfigError, match="held-out"):
        train_policy(cfg, run_dir, "bad", model=model, tokenizer=tok, judge=drift_judge("proxy", 1.0, 0.2),
                     monitor_judge=drift_judge("gold", 2.0, 0.25))


# ------------------------------------------------------------------------------ resume and several processes

def _monitor(tmp_path, prompts):
    from judgelab.train.gold_callback import GoldMonitor
    from judgelab.train.policy_settings import MonitorSettings

    return GoldMonitor(MonitorSettings(prompts=len(prompts), samples=2, batch_size=2), prompts,
                       drift_judge("gold", 5.0, 0.0), policy_dir=tmp_path, proxy=None, max_new_tokens=5, temperature=1.0)


def test_load_previous_keeps_the_curve_up_to_the_resumed_step(tmp_path):
    """A rerun continues the curve a killed run wrote (evaluations after its checkpoint dropped);
    a curve of other held-out prompts is not continued."""
    prompts = [PromptRecord(id=f"t{i}", family="f", prompt=f"Describe item {i}.", split="test") for i in range(2)]
    (tmp_path / "gold_monitor.json").write_text(json.dumps(
        {"prompts": ["t0", "t1"], "evals": [{"step": s, "gold": 0.5} for s in (0, 2, 4)]}))
    mon = _monitor(tmp_path, prompts)
    mon.load_previous(2)
    assert [e["step"] for e in mon.evals] == [0, 2]
    other = _monitor(tmp_path, prompts[:1])
    other.load_previous(2)
    assert other.evals == []


def test_bf16_sampling_from_a_copy_matches_the_swap(tmp_path):
    """Several processes sample the monitored policy from a separate bf16 copy (DDP holds the
    parameters: their storage must not be swapped); the samples are the one-process path's (bf16
    weights swapped in place), the trained parameters untouched, on a model patched as the trainers
    patch it (TRL's fused LM head, then judgelab's plain one)."""
    from types import SimpleNamespace

    import torch
    from trl.trainer.utils import add_fused_lm_head

    from judgelab.train.cpu_path import use_plain_lm_head

    model, tok = tiny_model()
    add_fused_lm_head(model, outputs=("log_probs", "entropy"))
    use_plain_lm_head(model, outputs=("log_probs", "entropy"))
    model.train()
    prompts = [PromptRecord(id=f"t{i}", family="f", prompt=f"Describe item {i}.", split="test") for i in range(3)]
    mon = _monitor(tmp_path, prompts)
    before = {n: (p.data_ptr(), p.dtype, p.detach().clone()) for n, p in model.named_parameters()}
    side = tok.padding_side
    one = mon._sample(SimpleNamespace(bf16=True, world_size=1), model, tok)
    many = mon._sample(SimpleNamespace(bf16=True, world_size=2), model, tok)
    assert [r["response"] for r in many] == [r["response"] for r in one] and len(one) == 6
    assert any(r["response"] for r in one)
    # (a random tiny model samples the same text from fp32 weights too: compare the logits)
    ids = tok("Describe item 1.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        with mon._generation_model(SimpleNamespace(bf16=True, world_size=1), model) as m:
            swapped = m(ids).logits
        with mon._generation_model(SimpleNamespace(bf16=True, world_size=2), model) as m:
            assert m is not model and all(p.dtype == torch.bfloat16 for p in m.parameters())
            copied = m(ids).logits
        fp32 = model(ids).logits
    assert torch.equal(copied, swapped) and not torch.equal(swapped.float(), fp32.float())
    for n, p in model.named_parameters():
        ptr, dtype, value = before[n]
        assert p.data_ptr() == ptr and p.dtype == dtype == torch.float32 and torch.equal(p.detach(), value)
    assert model.training and tok.padding_side == side  # left as found
