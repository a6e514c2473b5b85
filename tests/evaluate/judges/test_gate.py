"""The judge gate: a study judge whose tie-adjusted agreement CI reaches chance is "at chance"; the
pipeline stops before policy training or marks the arm, as configured; the report and the
instrument check say which."""

from __future__ import annotations

from pathlib import Path

import pytest

from judgelab.data.rundir import RunDir
from judgelab.errors import JudgelabError
from judgelab.evaluate.judges.gate import AT_CHANCE, JudgeGateConfig, gate_judges, read_gate, write_gate
from judgelab.evaluate.judges.results import JudgeEvalResult
from judgelab.pipeline.config import RunConfig
from judgelab.pipeline.runner import Pipeline


def write_eval(rd: RunDir, judge: str, credits: list[float | None], split: str = "test") -> None:
    """An evaluation file with the tie-adjusted agreement of these per-pair credits."""
    from judgelab.evaluate.judges.agreement import agreement_metrics

    by_pair = {f"p{i}": c for i, c in enumerate(credits)}
    m = agreement_metrics(by_pair, 500, 0)
    metrics = {"n_pairs": len(credits), "n_gold_non_tie": len(credits), "accuracy": None, "accuracy_ci95": None, **m,
               "non_tie_accuracy": None, "n_decided": 0, "n_unparsed_pairs": 0, "tie_rate": 0.0, "parse_failure_rate": 0.0,
               "position_consistency": None, "n_position_checked": 0, "accuracy_ba": None, "self_consistency": None,
               "samples": 1, "pointwise_pairwise_consistency": None, "n_pointwise_pairwise_checked": 0,
               "transitivity_violation_rate": None, "n_triples": 0}
    (rd.eval_dir / "judges").mkdir(parents=True, exist_ok=True)
    JudgeEvalResult.model_validate({
        "judge": judge, "mode": "pairwise", "judge_config": None, "metrics": metrics, "accuracy_by_family": {},
        "credits": by_pair, "backend_calls": 0, "wall_s": 0.0, "run_dir": str(rd.root), "split": split,
        "judge_spec": judge}).write(rd.eval_dir / "judges" / f"{judge}.json")


def test_gate_verdicts(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    write_eval(rd, "good", [1.0] * 40 + [0.0] * 10)  # 0.80, CI well above 0.5
    write_eval(rd, "chance", [1.0, 0.0, 0.5] * 10)  # 0.50
    write_eval(rd, "small", [1.0, 1.0, 1.0, 0.0, 1.0])  # 0.80 but n = 5: the t interval reaches 0.5
    write_eval(rd, "unparsed", [None, None, None])  # evaluated, but no verdict parsed: cannot beat chance
    res = gate_judges(tmp_path, ["good", "chance", "small", "missing", "unparsed"], JudgeGateConfig())
    status = {j.judge: j.status for j in res.judges}
    assert status == {"good": "passed", "chance": "at chance", "small": "at chance", "missing": "not evaluated",
                      "unparsed": "at chance"}
    assert "no verdict parsed" in next(j.reason for j in res.judges if j.judge == "unparsed")
    small = next(j for j in res.judges if j.judge == "small")
    assert small.agreement == pytest.approx(0.8) and small.agreement_ci95[0] < 0.5 and small.n == 5
    assert AT_CHANCE in small.reason and "n=5" in small.reason
    # A stricter gate fails the good judge too; the threshold is the CI's lower end, not the point.
    strict = gate_judges(tmp_path, ["good"], JudgeGateConfig(min_agreement=0.75))
    assert strict.judges[0].status == "at chance"
    write_gate(tmp_path, res)
    assert read_gate(tmp_path).status_of("chance") == "at chance"


def _pipeline(tmp_path: Path, on_fail: str, lines: list[str]) -> Pipeline:
    cfg = RunConfig.model_validate({"run_dir": str(tmp_path), "judge_gate": {"on_fail": on_fail},
                                    "judges": [{"kind": "direct-sft", "name": "direct"},
                                               {"kind": "reward-model", "name": "rm"}]})
    return Pipeline(cfg, echo=lines.append)


def test_pipeline_stops_or_marks(tmp_path: Path) -> None:
    rd = RunDir(tmp_path)
    write_eval(rd, "direct", [1.0, 0.0] * 20)
    write_eval(rd, "rm", [1.0] * 45 + [0.0] * 5)
    lines: list[str] = []
    with pytest.raises(JudgelabError, match=r"judge gate: direct at chance.*on_fail: mark"):
        _pipeline(tmp_path, "stop", lines).judge_gate()
    assert any("direct: AT CHANCE" in x for x in lines) and any("rm: PASSED" in x for x in lines)
    lines.clear()
    _pipeline(tmp_path, "mark", lines).judge_gate()  # goes on, says so
    assert any("policy training goes on" in x and "direct" in x for x in lines)
    assert read_gate(tmp_path).status_of("direct") == "at chance"

    from judgelab.evaluate.policies.instrument import instrument_check

    chk = instrument_check(tmp_path)
    assert chk["judge_gate"]["at_chance"] == ["direct"] and AT_CHANCE in chk["meaning"]
    assert {j["judge"]: j["gate"] for j in chk["judges"]} == {"direct": "at chance", "rm": "passed"}

    from judgelab.report.sections.instrument import _gate_table
    from judgelab.evaluate.policies.results import InstrumentResult

    model = InstrumentResult.model_validate(chk)
    page = _gate_table(model, model.judges)
    assert f"AT CHANCE: {AT_CHANCE}" in page and ">passed<" in page and "above 0.50" in page
