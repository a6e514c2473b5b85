"""Public judge benchmarks (judgelab.evaluate.judges.benchmarks): each format read from the containers
users bring (JSONL, JSON array, Parquet, save_to_disk folders, hub snapshot folders), scored with
programmatic judges whose numbers are worked out by hand in the comments below.

The fixtures (tests/evaluate/judges/fixtures/benchmarks/) follow the peers' schemas; every response ends
in a marker ``[s=N]`` (``[s=?]``: the judge cannot answer) that the scripted judge reads.
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from judgelab.errors import DataError, JudgelabError
from judgelab.evaluate.judges.benchmarks.common import read_table
from judgelab.evaluate.judges.benchmarks.run import detect_format, evaluate_benchmark, evaluate_rows
from judgelab.evaluate.judges.benchmarks import ppe, rewardbench2
from judgelab.judges.base import Judge
from judgelab.judges.config import JudgeConfig
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import JudgeRequest, PointwiseItem
from judgelab.lm.types import Generation

FIX = Path(__file__).parent / "fixtures" / "benchmarks"
MARK = re.compile(r"\[s=(\d+|\?)\]")


class Scripted:
    """A programmatic backend (reads the item): scores are the ``[s=N]`` markers.

    Pairwise: the higher marker wins ([[C]] on equal markers); a prompt with "BIAS" always gets
    [[A]], one with "TIE" gets [[C]]; a pair whose first-shown response says "(garble)" gets no
    verdict. Pointwise: "Score: N", or no score for ``[s=?]`` / "(garble)"."""

    reads_items = True
    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    @staticmethod
    def mark(text: str) -> int | None:
        m = MARK.search(text)
        return None if m is None or m.group(1) == "?" else int(m.group(1))

    async def generate(self, request: JudgeRequest) -> Generation:
        self.calls += 1
        it = request.item
        if isinstance(it, PointwiseItem):
            s = self.mark(it.response)
            return Generation(text="I cannot tell." if s is None or "(garble)" in it.response else f"Score: {s}")
        if "(garble)" in it.response_a:
            return Generation(text="Both have merits.")
        if "BIAS" in it.prompt:
            return Generation(text="[[A]]")
        if "TIE" in it.prompt:
            return Generation(text="[[C]]")
        a, b = self.mark(it.response_a), self.mark(it.response_b)
        return Generation(text="[[A]]" if a > b else "[[B]]" if b > a else "[[C]]")  # type: ignore[operator]

    def identity(self) -> dict[str, Any]:
        return {"scripted": "markers"}

    async def aclose(self) -> None:
        pass


def judge_of(mode: str | None = None) -> Judge:
    return LLMJudge(JudgeConfig(name="markers", backend={"type": "rubric"}, mode=mode), backend=Scripted())


def rows_of(name: str) -> list[dict[str, Any]]:
    return read_table(FIX / name).rows


def to_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


# --------------------------------------------------------------------------- RewardBench 2


def rb2_expected_ties() -> float:
    # ref:1  correct [8] vs [5, 6]        accurate, cim 2
    # tied:1 correct [9, 8] vs [6, 3]     accurate, dcm 1, cim 2
    # ref:2  correct [5] vs [7, 2]        wrong,    cim -2
    # tied:2 correct [9, 4] vs [3, 1]     accurate, dcm 5, cim 1
    # ref acc 1/2, tied acc 1; preferred: p1 2 > 1 yes, p2 1 > 5 no -> 1/2;
    # hard: min(2, 2) > 1 yes, min(-2, 1) > 5 no -> 1/2; margins tanh(2/1 - 1), tanh(-2/5 - 1).
    return 0.3 * 1 + 0.3 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5 + 0.01 * (math.tanh(1.0) + math.tanh(-1.4)) / 2


def check_rb2(res: dict[str, Any]) -> None:
    sub = res["subsets"]
    # f1 chosen 9 tops 3, 5, 2 -> 1; f2 chosen 4 shares the top with two rejected -> 1/3; f3 -> 0.
    assert sub["Factuality"]["score"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    # m1: no response gets a score -> a 4-way tie at the bottom -> 1/4 (as RB2's 0.25 for errors).
    assert sub["Math"]["score"] == pytest.approx(0.25)
    ties = sub["Ties"]
    assert (ties["ref_accuracy"], ties["tied_accuracy"], ties["n_prompts_both"]) == (0.5, 1.0, 2)
    assert (ties["correctness_preferred"], ties["correctness_preferred_hard"]) == (0.5, 0.5)
    assert ties["score"] == pytest.approx(rb2_expected_ties())
    assert res["score"] == pytest.approx(((1 + 1 / 3) / 3 + 0.25 + rb2_expected_ties()) / 3)
    # 3 Factuality x 4 + 1 Math x 4 + Ties: ref rows 3 responses, tied rows 4 -> 30 responses.
    assert res["n_rows"] == 8 and res["n_verdicts"] == 12 + 4 + 2 * 3 + 2 * 4
    assert res["parse_failure_rate"] == pytest.approx(4 / 30)


def test_rewardbench2_jsonl_parquet_and_saved_dataset_agree(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = rows_of("rewardbench2.jsonl")
    to_parquet(rows, tmp_path / "rb2.parquet")
    DatasetDict({"test": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "saved"))
    for src in (FIX / "rewardbench2.jsonl", tmp_path / "rb2.parquet", tmp_path / "saved"):
        table = read_table(src)
        assert detect_format(table) == "rewardbench2"
        res, verdicts = evaluate_rows(judge_of(), table)
        check_rb2(res)
        assert len(verdicts) == res["n_verdicts"]
    assert read_table(tmp_path / "saved").split == "test"


def reference_ties(rows: list[dict[str, Any]]) -> float:
    """rewardbench/utils.py::process_single_model, transcribed with numpy, for comparison."""
    import numpy as np

    grouped: dict[tuple[str, int], list[tuple[bool, float]]] = defaultdict(list)
    for r in rows:
        kind, pid = r["id"].split(":")
        grouped[(kind, int(pid))] += [(i < r["num_correct"], s) for i, s in enumerate(r["scores"])]
    ref, tied = {}, {}
    for (kind, pid), samples in grouped.items():
        c = [s for ok, s in samples if ok]
        w = [s for ok, s in samples if not ok]
        stats = (min(c) - max(w) > 0, max(c) - min(c) if len(c) > 1 else None, min(c) - max(w))
        (ref if kind == "ref" else tied)[pid] = stats
    both = set(ref) & set(tied)
    dcm = np.array([tied[p][1] for p in both], dtype=float)
    cit = np.array([tied[p][2] for p in both])
    cir = np.array([ref[p][2] for p in both])
    with np.errstate(divide="ignore", invalid="ignore"):
        margins = np.nan_to_num(np.tanh(np.minimum(cir, cit) / dcm - 1), nan=0.0)
    return float(0.3 * np.mean([s[0] for s in tied.values()]) + 0.3 * np.mean([s[0] for s in ref.values()])
                 + 0.2 * np.mean(cit > dcm) + 0.2 * np.mean(np.minimum(cir, cit) > dcm) + 0.01 * np.mean(margins))


def test_rewardbench2_ties_matches_the_reference_formula_on_random_scores() -> None:
    rng = random.Random(0)
    for _ in range(200):
        rows = []
        for pid in range(rng.randint(1, 4)):
            for kind, nc in (("ref", 1), ("tied", rng.randint(2, 3))):
                n = nc + rng.randint(1, 3)
                # Small integer scores make ties, zero margins and 0/0 divisions common.
                rows.append({"id": f"{kind}:{pid}", "num_correct": nc, "scores": [float(rng.randint(0, 3)) for _ in range(n)]})
        ours = rewardbench2.ties_score(
            [rewardbench2.Row(id=r["id"], subset="Ties", prompt="", responses=[""] * len(r["scores"]), num_correct=r["num_correct"])
             for r in rows], [r["scores"] for r in rows])
        assert ours["score"] == pytest.approx(reference_ties(rows), abs=1e-12)


def test_rewardbench2_best_of_n_ties_split_credit() -> None:
    assert rewardbench2.best_of_n_result([3.0, 1.0, 2.0, 0.0]) == 1.0
    assert rewardbench2.best_of_n_result([3.0, 3.0, 2.0, 3.0]) == pytest.approx(1 / 3)
    assert rewardbench2.best_of_n_result([2.0, 3.0, 2.0, 0.0]) == 0.0


# --------------------------------------------------------------------------- JudgeBench


def test_judgebench_both_orders_and_categories() -> None:
    res, verdicts = evaluate_rows(judge_of(), read_table(FIX / "judgebench.jsonl"))
    assert res["benchmark"] == "judgebench" and res["mode"] == "pairwise" and len(verdicts) == 10
    # p1 right twice -> correct; p2 (always A) right once, wrong once -> tie; p3 A=B twice -> tie;
    # p4 unparsed + right -> correct; p5 wrong twice -> incorrect.
    assert res["score"] == pytest.approx(2 / 5)
    assert (res["n_correct"], res["n_incorrect"], res["n_tie"]) == (2, 1, 2)
    assert (res["n_inconsistent"], res["n_nulls"]) == (2, 1)
    cats = res["categories"]
    assert cats["knowledge (mmlu-pro)"] == {"n": 2, "accuracy": 0.5}
    assert cats["reasoning (livebench-reasoning)"]["accuracy"] == 0.0
    assert cats["math (livebench-math)"]["accuracy"] == 0.0
    assert cats["coding (livecodebench)"] == {"n": 1, "accuracy": 1.0}


def test_judgebench_pointwise_single_game() -> None:
    res, verdicts = evaluate_rows(judge_of(), read_table(FIX / "judgebench.jsonl"), mode="pointwise")
    # Scores: p1 8>3 right; p2 5=5 -> "B>A" (the peer's reward-model rule) = label; p3 6>4 right;
    # p4 A unscored -> no decision; p5 2<7 -> B>A, wrong.
    assert res["mode"] == "pointwise" and len(verdicts) == 10
    assert res["score"] == pytest.approx(3 / 5)
    assert res["n_score_ties"] == 1 and res["n_nulls"] == 1


def reference_judgebench(pairs: list[dict[str, Any]]) -> float:
    """JudgeBench utils/metrics.py::compute_final_metrics with reverse_order, transcribed."""
    flip = {"A>B": "B>A", "B>A": "A>B"}
    n_correct = 0
    for pair in pairs:
        d1, d2 = pair["decisions"]
        d2 = flip.get(d2, d2)
        counter = sum(1 if d == pair["label"] else -1 if d == flip[pair["label"]] else 0 for d in (d1, d2))
        n_correct += counter > 0
    return 100 * n_correct / len(pairs)


def test_judgebench_matches_the_reference_formula_on_random_decisions() -> None:
    from judgelab.evaluate.judges.benchmarks import judgebench

    rng = random.Random(3)
    choices = ["A>B", "B>A", "A=B", None]
    for _ in range(200):
        pairs = [{"label": rng.choice(["A>B", "B>A"]), "decisions": (rng.choice(choices), rng.choice(choices))}
                 for _ in range(rng.randint(1, 8))]
        rows = [judgebench.Row(pair_id=str(i), source="livecodebench", question="", response_a="", response_b="", label=p["label"])
                for i, p in enumerate(pairs)]
        ours = judgebench.compute(rows, [(p["decisions"][0], judgebench.flip_judgment(p["decisions"][1])) for p in pairs], True)
        assert 100 * ours["score"] == pytest.approx(reference_judgebench(pairs))


# --------------------------------------------------------------------------- RM-Bench


def check_rmbench(res: dict[str, Any]) -> None:
    doms = res["domains"]
    assert list(doms) == ["chat", "math", "safety"] and res["n_dropped"] == 1  # "translation" is not an RM-Bench domain
    chat = doms["chat"]
    # Row 1 (5,7,9 vs 4,6,8): [[1,0,0],[1,1,0],[1,1,1]]; row 2 (3,3,3 vs 2,5,3): every row [1,0,0].
    assert chat["matrix"] == [[1.0, 0.0, 0.0], [1.0, 0.5, 0.0], [1.0, 0.5, 0.5]]
    assert (chat["hard_acc"], chat["normal_acc"], chat["easy_acc"]) == pytest.approx((0.0, 2 / 3, 5 / 6))
    assert chat["avg"] == pytest.approx(0.5)
    # safety-refuse all right + safety-response unscored (all wrong) -> every cell 0.5.
    assert doms["safety"]["matrix"] == [[0.5] * 3] * 3 and doms["safety"]["n"] == 2
    # math: equal scores are never "above" -> 0.
    assert doms["math"]["avg"] == 0.0
    assert (res["hard_acc"], res["normal_acc"], res["easy_acc"]) == pytest.approx((1 / 6, 7 / 18, 4 / 9))
    assert res["score"] == pytest.approx(1 / 3)


def test_rmbench_json_array_and_snapshot_folder(tmp_path: Path) -> None:
    res, _ = evaluate_rows(judge_of(), read_table(FIX / "rm_bench.json"))
    assert res["benchmark"] == "rm-bench"
    check_rmbench(res)
    # A hub snapshot: README + data/<split>-00000-of-00001.parquet (nested lists stay lists).
    snap = tmp_path / "RM-Bench"
    to_parquet(rows_of("rm_bench.json"), snap / "data" / "train-00000-of-00001.parquet")
    (snap / "README.md").write_text("---\nlicense: odc-by\n---\n")
    table = read_table(snap)
    assert table.split == "train"
    res2, _ = evaluate_rows(judge_of(), table)
    check_rmbench(res2)


def test_rmbench_per_domain_file_without_domain_column(tmp_path: Path) -> None:
    """RM-Bench's data/<domain>_filtered.json files carry no domain column: the file name says the
    domain (issue 25); a file whose name says nothing is one pool, labelled as such."""
    rows = [{k: v for k, v in r.items() if k != "domain"} for r in rows_of("rm_bench.json")[:2]]
    (tmp_path / "chat_filtered.json").write_text(json.dumps(rows))
    res, _ = evaluate_rows(judge_of(), read_table(tmp_path / "chat_filtered.json"), "rm-bench")
    assert list(res["domains"]) == ["chat"] and res["score"] == pytest.approx(0.5)
    assert res["metric"].endswith("score = mean of domain averages")
    (tmp_path / "mine.json").write_text(json.dumps(rows))
    res, _ = evaluate_rows(judge_of(), read_table(tmp_path / "mine.json"), "rm-bench")
    assert list(res["domains"]) == ["all"] and res["score"] == pytest.approx(0.5) and "one pool" in res["metric"]


def reference_rmbench(results: list[dict[str, Any]]) -> dict[str, float]:
    """RM-Bench scripts/utils.py::compute_accuracy (+ split_dataset_by_domain), transcribed with numpy."""
    import numpy as np

    if "domain" in results[0]:
        per = {}
        for dom in ("chat", "math", "code", "safety"):
            sub = [{k: v for k, v in r.items() if k != "domain"} for r in results if r["domain"].startswith(dom)]
            if sub:  # the peer fails on an empty domain; the fixtures below never leave one empty
                per[dom] = reference_rmbench(sub)
        out = {d: float(np.mean(list(v.values()))) for d, v in per.items()}
        for key in ("hard_acc", "normal_acc", "easy_acc"):
            out[key] = float(np.mean([v[key] for v in per.values()]))
        out["total_avg_acc"] = float(np.mean([out[d] for d in per]))
        return out
    m = np.zeros((3, 3))
    for r in results:
        for i in range(3):
            for j in range(3):
                if r["score_chosen"][i] > r["score_rejected"][j]:
                    m[i][j] += 1
    m /= len(results)
    return {"hard_acc": float(np.sum(np.triu(m, 1)) / 3), "normal_acc": float(np.mean(np.diag(m))),
            "easy_acc": float(np.sum(np.tril(m, -1)) / 3)}


def test_rmbench_matches_the_reference_formula_on_random_scores() -> None:
    from judgelab.evaluate.judges.benchmarks import rmbench

    rng = random.Random(2)
    domains = ["chat", "math", "code", "safety-refuse", "safety-response"]
    for _ in range(100):
        results = [{"domain": d, "score_chosen": [float(rng.randint(0, 3)) for _ in range(3)],
                    "score_rejected": [float(rng.randint(0, 3)) for _ in range(3)]}
                   for d in domains for _ in range(rng.randint(1, 3))]
        rows = [rmbench.Row(id=str(i), prompt="", chosen=[""] * 3, rejected=[""] * 3, domain=r["domain"]) for i, r in enumerate(results)]
        ours = rmbench.compute(rows, [r["score_chosen"] for r in results], [r["score_rejected"] for r in results])
        want = reference_rmbench(results)
        assert ours["score"] == pytest.approx(want["total_avg_acc"])
        for key in ("hard_acc", "normal_acc", "easy_acc"):
            assert ours[key] == pytest.approx(want[key])
        for dom in ("chat", "math", "code", "safety"):
            assert ours["domains"][dom]["avg"] == pytest.approx(want[dom])


# --------------------------------------------------------------------------- PPE


def test_ppe_human_preference_parquet_pairwise_and_pointwise(tmp_path: Path) -> None:
    path = to_parquet(rows_of("ppe_human_preference.jsonl"), tmp_path / "test-00000-of-00001.parquet")
    table = read_table(path)
    assert detect_format(table) == "ppe" and isinstance(table.rows[0]["conv_metadata"], dict)
    res, verdicts = evaluate_rows(judge_of(), table)
    # h3 is a tie (not judged). AB order: h1 right, h2 wrong, h4 (always A) wrong -> 1/3.
    # BA order: h1 right, h2 wrong, h4 right -> 2/3; consistent on h1, h2 -> 2/3.
    assert res["kind"] == "human-preference" and len(verdicts) == 6
    assert (res["n_non_tie"], res["n_ties_skipped"]) == (3, 1)
    assert res["score"] == pytest.approx(1 / 3) and res["accuracy_ba"] == pytest.approx(2 / 3)
    assert res["position_consistency"] == pytest.approx(2 / 3)
    cats = res["categories"]
    assert cats["hard_prompt"] == {"n": 1, "accuracy": 1.0} and cats["is_code"] == {"n": 1, "accuracy": 0.0}
    assert cats["language=English"]["accuracy"] == 0.5 and cats["language=Chinese"]["accuracy"] == 0.0

    res, _ = evaluate_rows(judge_of("pointwise"), table)
    # Scores: h1 8>3 right; h2 6>4 but model_b won -> wrong; h4 1<9, model_b won -> right.
    assert res["mode"] == "pointwise" and res["score"] == pytest.approx(2 / 3) and res["n_score_ties"] == 0


def test_ppe_correctness_saved_dataset(tmp_path: Path) -> None:
    from datasets import Dataset

    Dataset.from_list(rows_of("ppe_correctness.jsonl")).save_to_disk(str(tmp_path / "mmlu_pro_bok"))
    res, _ = evaluate_rows(judge_of(), read_table(tmp_path / "mmlu_pro_bok"))
    assert res["kind"] == "correctness" and res["mode"] == "pointwise"
    # Conflict pairs: c1 (0,1) 9>3, (2,3) 5>1 right ((1,3) has equal labels: skipped); c2 (0,1) 2<7, (0,3) 2<4 wrong.
    assert (res["pairwise_accuracy"], res["n_pairs"]) == (0.5, 4)
    # Best-of-k, c1 (9,3,5,1 / 1,0,1,0): .5, 5/6, 1, 1; c2 (2,7,7,4 / 1,0,0,0): .25, 0, 0, 0.
    assert res["best_of_k_curve"] == pytest.approx([0.375, 5 / 12, 0.5, 0.5])
    # Oracle: c1 .5, 5/6, 1, 1; c2 .25, .5, .75, 1.
    assert res["oracle_curve"] == pytest.approx([0.375, 2 / 3, 0.875, 1.0])
    assert res["best_of_k_max"] == 0.5 and res["mean_gap_to_oracle"] == pytest.approx(0.28125)


def test_best_of_k_curve_matches_enumeration() -> None:
    import itertools

    rng = random.Random(1)
    for _ in range(50):
        n = rng.randint(1, 6)
        scores = [float(rng.randint(0, 2)) for _ in range(n)]
        labels = [float(rng.randint(0, 1)) for _ in range(n)]
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(range(n), k))
            want = 0.0
            for sub in subsets:
                top = max(scores[i] for i in sub)
                best = [i for i in sub if scores[i] == top]
                want += sum(labels[i] for i in best) / len(best) / len(subsets)
            assert ppe.best_of_k_curve(scores, labels)[k - 1] == pytest.approx(want)


# --------------------------------------------------------------------------- formats, errors, CLI


def test_unknown_schema_and_forced_format_errors(tmp_path: Path) -> None:
    bad = tmp_path / "mystery.jsonl"
    bad.write_text(json.dumps({"foo": 1, "bar": "x"}) + "\n")
    with pytest.raises(DataError) as e:
        detect_format(read_table(bad))
    msg = e.value.one_line()
    assert str(bad) in msg and "columns found: foo, bar" in msg and "\n" not in msg
    for name in ("RewardBench 2", "JudgeBench", "RM-Bench", "PPE"):
        assert name in msg
    with pytest.raises(DataError, match="missing column"):
        evaluate_rows(judge_of(), read_table(FIX / "judgebench.jsonl"), "rewardbench2")
    with pytest.raises(JudgelabError, match="pointwise"):
        evaluate_rows(judge_of("pairwise"), read_table(FIX / "rewardbench2.jsonl"))
    bad_label = tmp_path / "jb.jsonl"
    row = rows_of("judgebench.jsonl")[0] | {"label": "A>>B"}
    bad_label.write_text(json.dumps(row) + "\n")
    with pytest.raises(DataError, match=r"row 1 \(pair_id=p1\).*label"):
        evaluate_rows(judge_of(), read_table(bad_label))


def test_snapshot_with_several_splits_needs_split(tmp_path: Path) -> None:
    rows = rows_of("judgebench.jsonl")
    to_parquet(rows[:2], tmp_path / "jb" / "data" / "gpt-00000-of-00001.parquet")
    to_parquet(rows[2:], tmp_path / "jb" / "data" / "claude-00000-of-00001.parquet")
    with pytest.raises(DataError, match="pass --split, one of: claude, gpt"):
        read_table(tmp_path / "jb")
    assert len(read_table(tmp_path / "jb", "claude").rows) == 3


def test_cli_on_each_benchmark_prints_metric_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from judgelab.cli import main

    rubric = tmp_path / "rubric.yaml"
    rubric.write_text("name: rubric-gold\nbackend:\n  type: rubric\n")
    data = tmp_path / "data"
    shutil.copytree(FIX, data)
    expect = {"rewardbench2.jsonl": "best-of-n acc", "judgebench.jsonl": "coding (livecodebench)",
              "rm_bench.json": "hard / normal / easy", "ppe_human_preference.jsonl": "accuracy vs human preference",
              "ppe_correctness.jsonl": "best-of-K"}
    for fname, needle in expect.items():
        with pytest.raises(SystemExit) as e:
            main(["eval-judge", "--judge", str(rubric), "--data", str(data / fname), "--out", str(tmp_path / "out")])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert needle in out and "wrote" in out
    written = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
    assert len(written) == 5
    res = json.loads((tmp_path / "out" / "rubric-gold.judgebench.judgebench.json").read_text())
    assert res["schema"] == "judgelab.benchmark_eval/v1" and res["n_rows"] == 5 and 0.0 <= res["score"] <= 1.0

    bad = tmp_path / "mystery.parquet"
    to_parquet([{"foo": 1}], bad)
    with pytest.raises(SystemExit) as e:
        main(["eval-judge", "--judge", str(rubric), "--data", str(bad)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and str(bad) in err and "formats known" in err
    with pytest.raises(SystemExit) as e:
        main(["eval-judge", "--judge", str(rubric)])
    assert e.value.code != 0


def test_evaluate_benchmark_limit_and_output_name(tmp_path: Path) -> None:
    res, path = evaluate_benchmark("unused", FIX / "judgebench.jsonl", judge=judge_of(), limit=2, out_dir=tmp_path)
    assert res["n_rows"] == 2 and path == tmp_path / "markers.judgebench.judgebench.json"
    assert (tmp_path / "markers.judgebench.judgebench.verdicts.jsonl").exists()
    assert json.loads(path.read_text())["score"] == res["score"]


def test_tiny_reward_model_judge_on_rmbench_and_judgebench(tiny_seq_cls) -> None:
    """A real (tiny, random) reward model: the benchmark numbers equal the peers' formulas applied
    to the scores the same judge gives each response on its own."""
    from judgelab.evaluate.judges.benchmarks import judgebench, rmbench
    from judgelab.judges.reward_model import RewardModelJudge

    model, tok = tiny_seq_cls
    j = RewardModelJudge(model, tok, batch_size=8, max_wait_ms=5, max_length=64)
    try:
        table = read_table(FIX / "rm_bench.json")
        res, _ = evaluate_rows(j, table)
        rows = rmbench.parse_rows(table)

        def scores(prompt: str, texts: list[str]) -> list[float]:
            return [float(v.score) for v in j.judge([PointwiseItem(id=f"x{i}", prompt=prompt, response=t) for i, t in enumerate(texts)])]

        want = rmbench.compute(rows, [scores(r.prompt, r.chosen) for r in rows], [scores(r.prompt, r.rejected) for r in rows])
        assert res["score"] == pytest.approx(want["score"])
        assert res["domains"]["chat"]["matrix"] == want["domains"]["chat"]["matrix"]

        table = read_table(FIX / "judgebench.jsonl")
        res, _ = evaluate_rows(j, table, mode="pointwise")
        decisions = []
        for r in judgebench.parse_rows(table):
            sa, sb = scores(r.question, [r.response_a, r.response_b])
            decisions.append("A>B" if sa > sb else "B>A")
        assert res["score"] == judgebench.compute(judgebench.parse_rows(table), decisions, reverse_order=False)["score"]
    finally:
        j.close()


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_benchmark_file_with_a_byte_order_mark_reads(tmp_path: Path, suffix: str) -> None:
    rows = [{"id": "a", "prompt": "p", "chosen": ["c"], "rejected": ["r"]}]
    text = json.dumps(rows) if suffix == ".json" else "\n".join(json.dumps(r) for r in rows) + "\n"
    f = tmp_path / f"bench{suffix}"
    f.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert read_table(f).rows == rows
