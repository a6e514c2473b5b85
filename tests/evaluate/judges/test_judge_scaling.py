"""Judge test-time scaling on a run's gold pairs: a noisy judge right 70% of the time per sample gains
from majority votes (Condorcet), a noisy pointwise one from mean scores; a reasoning judge that
needs 64 thinking tokens fails below that budget and succeeds above; costs are counted."""

from __future__ import annotations

import json
import random
import re
import zlib
from pathlib import Path

import pytest

from judgelab.data.jsonl import write_jsonl
from judgelab.data.records import PairAnnotation
from judgelab.data.rundir import RunDir
from judgelab.evaluate.judges.judge_scaling import JudgeScalingConfig, judge_scaling
from judgelab.judges.config import JudgeConfig, RubricBackendConfig
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import JudgeRequest, PairwiseItem, PointwiseItem
from judgelab.lm.types import Generation


def q(text: str) -> int:
    return int(re.search(r"q=(\d+)", text).group(1))


class NoisyBackend:
    """Right with probability ``p_right`` per (item, seed): pairwise prefers the higher hidden
    quality, else the other; pointwise gives the quality plus noise. With ``think`` it needs that
    many tokens of reasoning first: under a smaller cap its output is cut before the verdict."""

    reads_items = True
    name = "noisy"

    def __init__(self, p_right: float = 0.7, think: int = 0):
        self.p_right, self.think = p_right, think

    async def generate(self, request: JudgeRequest) -> Generation:
        it, params = request.item, request.params
        rng = random.Random(zlib.crc32(f"{it.id}|{params.seed}".encode()))
        if self.think:
            if params.max_new_tokens < self.think + 8:
                return Generation(text="<think>" + "hmm " * 20, completion_tokens=params.max_new_tokens, finish_reason="length")
            prefix, used = "<think>" + "hmm " * 20 + "</think>", self.think + 8
        else:
            prefix, used = "", 4
        if isinstance(it, PointwiseItem):
            s = min(10, max(1, q(it.response) + rng.choice([-3, -2, 2, 3])))
            return Generation(text=f"{prefix}Score: {s}", completion_tokens=used)
        assert isinstance(it, PairwiseItem)
        better = "A" if q(it.response_a) > q(it.response_b) else "B"
        pick = better if (self.think or rng.random() < self.p_right) else ("B" if better == "A" else "A")
        return Generation(text=f"{prefix}[[{pick}]]", completion_tokens=used)

    def identity(self) -> dict:
        return {"name": "noisy", "think": self.think}

    async def aclose(self) -> None:
        pass


def noisy_judge(**kw) -> LLMJudge:
    return LLMJudge(JudgeConfig(name="noisy", backend=RubricBackendConfig()), backend=NoisyBackend(**kw))


def write_pairs(root: Path, n: int, seed: int) -> Path:
    """``n`` test pairs of two responses with hidden qualities q (text 'q=N'); gold prefers the higher."""
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        qa, qb = rng.sample(range(1, 11), 2)
        pairs.append(PairAnnotation(id=f"pair{i}", prompt_id=f"p{i}", prompt=f"prompt {i}", response_a_id=f"r{i}a",
                                    response_b_id=f"r{i}b", response_a=f"text q={qa}", response_b=f"text q={qb}",
                                    label="A" if qa > qb else "B", split="test", family="poem"))
    write_jsonl(RunDir(root).pairs, [p.to_dict() for p in pairs])
    return root


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return write_pairs(tmp_path, 120, seed=1)


def test_votes_raise_pairwise_agreement(run_dir: Path) -> None:
    cfg = JudgeScalingConfig(judge="unused", ks=[1, 3, 9], bootstrap=200)
    res, path = judge_scaling(cfg, run_dir, judge=noisy_judge(p_right=0.7))
    acc = {r["k"]: r["accuracy"] for r in res["voting"]}
    assert 0.6 < acc[1] < 0.8  # one sample: about p_right
    assert acc[9] > acc[3] > acc[1] and acc[9] > 0.85  # majority of 9 at p = 0.7: 0.90 in expectation
    toks = [r["tokens"] for r in res["voting"]]
    assert toks == [4 * 120 * k for k in (1, 3, 9)]  # k votes cost k passes
    assert all(r["accuracy_ci95"][0] <= r["accuracy"] <= r["accuracy_ci95"][1] for r in res["voting"])
    saved = json.loads(path.read_text())
    assert path.name == "noisy.scaling.json" and saved["schema"] == "judgelab.judge_scaling/v1" and saved["mode"] == "pairwise"
    assert path.with_suffix(".png").stat().st_size > 1000


def test_mean_scores_raise_pointwise_agreement(run_dir: Path) -> None:
    cfg = JudgeScalingConfig(judge="unused", ks=[1, 9], mode="pointwise", bootstrap=100)
    res, _ = judge_scaling(cfg, run_dir, judge=noisy_judge())
    acc = {r["k"]: r["accuracy"] for r in res["voting"]}
    assert acc[9] > acc[1] + 0.05
    assert res["n_items"] == 240  # each response scored, not each pair


def test_thinking_budget(run_dir: Path) -> None:
    cfg = JudgeScalingConfig(judge="unused", ks=[1], budgets=[16, 64, 128], answer_tokens=8, bootstrap=100)
    res, _ = judge_scaling(cfg, run_dir, judge=noisy_judge(think=64))
    by_b = {r["budget"]: r for r in res["thinking"]}
    assert by_b[16]["accuracy"] == 0.0 and by_b[16]["parse_failure_rate"] == 1.0 and by_b[16]["truncated_rate"] == 1.0
    assert by_b[64]["accuracy"] == 1.0 and by_b[128]["accuracy"] == 1.0
    assert by_b[16]["tokens_per_item"] == 24 and by_b[128]["tokens_per_item"] == 72


def test_bad_input(tmp_path: Path) -> None:
    from judgelab.errors import ConfigError, DataError

    with pytest.raises(DataError, match="no labelled pairs"):
        judge_scaling(JudgeScalingConfig(judge="unused"), tmp_path, judge=noisy_judge())
    with pytest.raises(ConfigError, match="ks"):
        judge_scaling(JudgeScalingConfig(judge="unused", ks=[0]), tmp_path, judge=noisy_judge())


def test_cli_rubric_gold(run_dir: Path, tmp_path: Path, capsys) -> None:
    """The command end to end with the registered rubric gold (deterministic: a flat vote curve)."""
    from click.testing import CliRunner

    from judgelab.cli import cli, main

    out = tmp_path / "scaling"
    r = CliRunner().invoke(cli, ["judge-scaling", "--judge", "rubric-gold", "--run", str(run_dir), "--k", "1", "--k", "3",
                                  "--limit", "10", "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "gold.scaling.json").read_text())
    assert [v["k"] for v in res["voting"]] == [1, 3] and res["n_pairs"] == 10
    assert res["voting"][0]["accuracy"] == res["voting"][1]["accuracy"]  # same verdict every sample
    assert "k=3: agreement" in r.output
    with pytest.raises(SystemExit) as exc:  # bad input: one line, exit 2
        main(["judge-scaling", "--judge", "rubric-gold", "--run", str(run_dir), "--split", "val"])
    assert exc.value.code == 2 and "no labelled pairs" in capsys.readouterr().err


# ----------------------------------------------------------------------------- review fixes

def test_budgets_skipped_for_a_judge_that_does_not_generate(run_dir: Path, tmp_path: Path, capsys) -> None:
    from judgelab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["judge-scaling", "--judge", "rubric-gold", "--run", str(run_dir), "--k", "1", "--budget", "64", "--limit", "5",
              "--out", str(tmp_path / "s")])
    cap = capsys.readouterr()
    assert exc.value.code == 0, cap.err
    res = json.loads((tmp_path / "s" / "gold.scaling.json").read_text())
    assert res["thinking"] == [] and "does not generate" in res["thinking_skipped"]
    assert "budget 64" not in cap.out and "thinking budgets do not apply" in cap.err


def test_agreement_lines_give_n(run_dir: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from judgelab.cli import cli

    r = CliRunner().invoke(cli, ["judge-scaling", "--judge", "rubric-gold", "--run", str(run_dir), "--k", "1", "--limit", "2",
                                  "--out", str(tmp_path / "s")])
    assert r.exit_code == 0, r.output
    assert "k=1: agreement" in r.output and "(ties half, n=2 pairs)" in r.output
    res = json.loads((tmp_path / "s" / "gold.scaling.json").read_text())
    assert res["voting"][0]["n"] == 2


def test_missing_annotations_file_names_it_and_the_command(tmp_path: Path, capsys) -> None:
    from judgelab.cli import main
    from judgelab.errors import DataError

    with pytest.raises(DataError, match=r"pairs\.jsonl.*does not exist.*judgelab annotate --run"):
        judge_scaling(JudgeScalingConfig(judge="unused"), tmp_path, judge=noisy_judge())
    with pytest.raises(SystemExit) as exc:
        main(["judge-scaling", "--run", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--judge is required" in err and "--set" not in err


# ------------------------------------------------------------------- ties as half credit (issue 23)

class NoSignalBackend(NoisyBackend):
    """Ignores quality: a pointwise score drawn from a coarse scale (so two scores often tie, and
    means of k scores tie less), a pairwise verdict drawn from A / B / tie."""

    async def generate(self, request: JudgeRequest) -> Generation:
        it, params = request.item, request.params
        rng = random.Random(zlib.crc32(f"nosignal|{it.id}|{params.seed}".encode()))
        if isinstance(it, PointwiseItem):
            return Generation(text=f"Score: {rng.choice([4, 5, 6])}", completion_tokens=4)
        return Generation(text=f"[[{rng.choice(['A', 'B', 'C'])}]]", completion_tokens=4)


@pytest.fixture()
def big_run_dir(tmp_path: Path) -> Path:
    return write_pairs(tmp_path, 600, seed=2)


@pytest.mark.parametrize("mode", ["pointwise", "pairwise"])
def test_a_judge_with_no_signal_scores_half_at_every_k(big_run_dir: Path, mode: str) -> None:
    """Ties as wrong answers make averaging k scores look like learning (fewer ties); tie-adjusted
    agreement stays at 0.50 for a judge that ignores quality, and its paired gain over k = 1 has
    an interval covering 0."""
    judge = LLMJudge(JudgeConfig(name="nosignal", backend=RubricBackendConfig()), backend=NoSignalBackend())
    res, _ = judge_scaling(JudgeScalingConfig(judge="unused", ks=[1, 3, 9], mode=mode, bootstrap=500), big_run_dir, judge=judge)
    for point in res["voting"]:
        lo, hi = point["agreement_ci95"]
        assert abs(point["agreement"] - 0.5) < 0.05 and lo < 0.5 < hi, point
        assert point["agreement_ci_method"] == "bca" and point["n_agreement"] == 600
    if mode == "pointwise":  # the artefact the strict metric shows: fewer ties at larger k
        strict = {p["k"]: p["accuracy"] for p in res["voting"]}
        assert strict[9] > strict[1] + 0.05
    for point in res["voting"][1:]:
        d = point["vs_first"]
        assert d["n"] == 600 and d["ci95"][0] < 0 < d["ci95"][1]
    assert res["voting"][0]["vs_first"] is None


def test_real_signal_shows_in_the_paired_gain(run_dir: Path) -> None:
    res, _ = judge_scaling(JudgeScalingConfig(judge="unused", ks=[1, 9], bootstrap=300), run_dir, judge=noisy_judge(p_right=0.7))
    gain = res["voting"][1]["vs_first"]
    assert gain["diff"] > 0.1 and gain["ci95"][0] > 0
