"""eval-judge metrics on a handcrafted set with programmatic judges whose true numbers are known."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from judgelab.data.jsonl import write_jsonl
from judgelab.data.records import PairAnnotation
from judgelab.data.rundir import RunDir
from judgelab.evaluate.judges.judge_eval import count_cycles, evaluate_judge, eval_judge, majority_agreement
from judgelab.judges.config import JudgeConfig
from judgelab.judges.base import Judge
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import JudgeRequest, PointwiseItem
from judgelab.lm.types import Generation, GenerationRequest


class Scripted:
    """A programmatic backend: ``rule(request) -> text``."""
    reads_items = True  # a programmatic backend: it reads the JudgeRequest's item

    name = "scripted"

    def __init__(self, rule: Any, tag: str):
        self.rule, self.tag, self.calls = rule, tag, 0

    async def generate(self, request: JudgeRequest) -> Generation:
        self.calls += 1
        return Generation(text=self.rule(request))

    def identity(self) -> dict[str, Any]:
        return {"scripted": self.tag}

    async def aclose(self) -> None:
        pass


def always_a(req: GenerationRequest) -> str:
    return "Score: 5" if isinstance(req.item, PointwiseItem) else "[[A]]"


def fewer_bangs(req: GenerationRequest) -> str:
    """Fewer '!' is better; unparseable on prompts containing 'hard'."""
    it = req.item
    if "hard" in it.prompt:
        return "hmm, both are fine"
    if isinstance(it, PointwiseItem):
        return f"Score: {10 - it.response.count('!')}"
    a, b = it.response_a.count("!"), it.response_b.count("!")
    return "[[A]]" if a < b else "[[B]]" if b < a else "[[C]]"


def seed_parity(req: GenerationRequest) -> str:
    return "[[A]]" if (req.params.seed or 0) % 2 == 0 else "[[B]]"


def make_pairs() -> list[PairAnnotation]:
    """3 prompts x 3 responses (0, 1, 2 '!'), pairs (r0,r1), (r1,r2), (r2,r0) -> 9 pairs.
    Gold = fewer '!' wins, except: p0's (r1,r2) is flipped (gold wrong for the judge), p1's
    (r2,r0) is a tie. Prompt p2 is 'hard' (fewer_bangs cannot parse it)."""
    pairs = []
    for i in range(3):
        prompt = f"Write about {i}" + (" (hard)" if i == 2 else "")
        resp = [f"line {i}" + "!" * k for k in range(3)]
        for x, y in [(0, 1), (1, 2), (2, 0)]:
            label = "A" if x < y else "B"
            if (i, x, y) == (0, 1, 2):
                label = "B"
            if (i, x, y) == (1, 2, 0):
                label = "tie"
            pairs.append(PairAnnotation(
                id=f"p{i}-{x}{y}", prompt_id=f"p{i}", prompt=prompt, response_a_id=f"r{i}-{x}", response_b_id=f"r{i}-{y}",
                response_a=resp[x], response_b=resp[y], label=label, family=f"fam{i % 2}", split="test"))
    return pairs


def judge_of(rule: Any, tag: str) -> Judge:
    return LLMJudge(JudgeConfig(name=tag, backend={"type": "rubric"}), backend=Scripted(rule, tag))


def test_always_a_judge_known_numbers() -> None:
    pairs = make_pairs()
    res, rows = evaluate_judge(judge_of(always_a, "always-a"), pairs, samples=3)
    m = res["metrics"]
    gold_a = sum(p.label == "A" for p in pairs)
    non_tie = sum(p.label in ("A", "B") for p in pairs)
    assert (m["n_gold_non_tie"], m["accuracy"]) == (non_tie, gold_a / non_tie) == (8, 5 / 8)
    assert m["position_consistency"] == 0.0 and m["n_position_checked"] == 9
    assert m["accuracy_ba"] == 3 / 8
    assert m["tie_rate"] == 0.0 and m["parse_failure_rate"] == 0.0
    assert m["self_consistency"] == 1.0
    # Equal pointwise scores: nothing to compare.
    assert m["pointwise_pairwise_consistency"] is None and m["n_pointwise_pairwise_checked"] == 0
    # "A always wins" over (r0,r1), (r1,r2), (r2,r0) is a cycle in every prompt.
    assert (m["transitivity_violation_rate"], m["n_triples"]) == (1.0, 3)
    lo, hi = m["accuracy_ci95"]
    assert lo <= 5 / 8 <= hi
    # Tie-adjusted agreement averages both orders: a judge that always says "A" is right in AB order
    # exactly where it is wrong in BA order, so it scores 0.5 on every pair (chance), whatever the
    # gold's A/B balance; strict AB-order accuracy (5/8 here) rewards its position bias.
    assert m["agreement"] == 0.5 and m["n_agreement"] == 8 and m["agreement_ci_method"] == "wilson"
    assert m["agreement_ci95"][0] < 0.5 < m["agreement_ci95"][1]
    assert m["non_tie_accuracy"] == 0.5 and m["n_decided"] == 16 and m["n_unparsed_pairs"] == 0
    assert res["credits"] == {p.id: 0.5 for p in pairs if p.label != "tie"}
    assert set(res["accuracy_by_family"]) == {"fam0", "fam1"}


def test_consistent_judge_known_numbers() -> None:
    pairs = make_pairs()
    res, _ = evaluate_judge(judge_of(fewer_bangs, "bangs"), pairs, transitivity_max_responses=3)
    m = res["metrics"]
    # Correct on p0 but the flipped pair (2 of 3), on p1's two non-tie pairs; p2 unparseable.
    assert m["accuracy"] == 4 / 8
    assert m["parse_failure_rate"] == 6 / 18  # p2's 3 pairs, both orders
    assert m["position_consistency"] == 1.0 and m["n_position_checked"] == 6
    assert m["tie_rate"] == 0.0
    assert m["pointwise_pairwise_consistency"] == 1.0 and m["n_pointwise_pairwise_checked"] == 6
    assert m["transitivity_violation_rate"] == 0.0 and m["n_triples"] == 2
    # Tie-adjusted: p2's unparsed pairs are left out (counted apart), not scored wrong.
    assert (m["agreement"], m["n_agreement"], m["n_unparsed_pairs"]) == (pytest.approx(4 / 5), 5, 3)
    assert m["agreement_ci_method"] == "t" and m["non_tie_accuracy"] == 8 / 10 and m["n_decided"] == 10
    fam = res["accuracy_by_family"]
    assert fam["fam0"]["n"] == 6 and fam["fam0"]["accuracy"] == pytest.approx(2 / 6)  # p0 + p2
    assert fam["fam0"]["agreement"] == pytest.approx(2 / 3) and fam["fam0"]["n_agreement"] == 3
    assert fam["fam1"]["n"] == 2 and fam["fam1"]["accuracy"] == 1.0 and fam["fam1"]["ci95"] == (1.0, 1.0)
    assert fam["fam1"]["agreement"] == 1.0 and fam["fam1"]["agreement_ci_method"] == "wilson"


def test_self_consistency_over_seeds() -> None:
    # Samples use seeds 1, 2, 3 -> B, A, B: the majority holds 2 of 3.
    res, _ = evaluate_judge(judge_of(seed_parity, "parity"), make_pairs(), samples=3, pointwise=False)
    assert res["metrics"]["self_consistency"] == pytest.approx(2 / 3)


def test_helpers() -> None:
    assert majority_agreement(["A", "A", None, "B"]) == 0.5
    edges = {("x", "y"): "A", ("y", "z"): "A", ("x", "z"): "B"}  # x>y, y>z, z>x
    assert count_cycles(edges, ["x", "y", "z"]) == (1, 1)
    edges[("x", "z")] = "A"
    assert count_cycles(edges, ["x", "y", "z"]) == (0, 1)
    edges[("x", "z")] = "tie"
    assert count_cycles(edges, ["x", "y", "z"]) == (0, 0)


def test_eval_judge_writes_json_and_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from judgelab.cli import cli

    write_jsonl(RunDir(tmp_path).pairs, [p.to_dict() for p in make_pairs()])
    res, path = eval_judge("unused", tmp_path, judge=judge_of(always_a, "always-a"))
    assert path == tmp_path / "eval" / "judges" / "always-a.json"
    assert json.loads(path.read_text())["metrics"]["position_consistency"] == 0.0
    assert (tmp_path / "eval" / "judges" / "always-a.verdicts.jsonl").exists()

    yaml_path = tmp_path / "rubric.yaml"
    yaml_path.write_text("name: rubric-gold\nbackend:\n  type: rubric\n")
    r = CliRunner().invoke(cli, ["eval-judge", "--judge", str(yaml_path), "--run", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "position consistency" in r.output
    out = json.loads((tmp_path / "eval" / "judges" / "rubric-gold.json").read_text())
    assert out["metrics"]["n_pairs"] == 9 and out["split"] == "test"

    r = CliRunner().invoke(cli, ["eval-judge", "--judge", str(yaml_path), "--run", str(tmp_path), "--split", "nope"])
    assert r.exit_code != 0 and "splits present: test" in str(r.exception)
