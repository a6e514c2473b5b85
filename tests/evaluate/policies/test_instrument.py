"""The instrument check can fail, and says so: a positive control that cannot learn is 'failed', a
negative control whose flaw was removed is not flagged, and the report shows it in red."""

from __future__ import annotations

import json

from judgelab.data.jsonl import write_jsonl
from judgelab.evaluate.policies.instrument import NOT_SUPPORTED, instrument_check
from judgelab.evaluate.policies.policy_eval import EvaluateConfig, evaluate_policies
from judgelab.models.testing import tiny_model
from judgelab.pipeline.config import RunPromptSettings
from judgelab.pipeline.plan import select_prompts
from judgelab.report.build import build_report
from judgelab.train.policy import TrainPolicyConfig, train_policy


def _policy(tmp_path, name, role, judge, lr):
    cfg = TrainPolicyConfig.model_validate({
        "judge": judge, "prompts": {"source": "run", "split": "train"}, "device": "cpu", "role": role,
        "grpo": {"learning_rate": lr, "num_generations": 2, "max_completion_length": 8, "max_steps": 1, "save_steps": 1},
    })
    model, tok = tiny_model()
    train_policy(cfg, tmp_path, name, model=model, tokenizer=tok)


def test_controls_that_cannot_pass_are_reported_failed(tmp_path):
    prompts = select_prompts(RunPromptSettings(train_limit=4, test_limit=4))
    write_jsonl(tmp_path / "prompts.jsonl", [p.to_dict() for p in prompts])
    gold = {"name": "gold", "backend": {"type": "rubric", "rubric": "gold"}}
    # Positive control that cannot move: one step at a learning rate of 1e-12.
    _policy(tmp_path, "gold-s0", "positive-control", gold, 1e-12)
    # Negative control with the flaw removed: its "flawed" judge is the gold itself, so its proxy
    # can never rise while the gold falls.
    _policy(tmp_path, "unflawed-s0", "negative-control", {**gold, "name": "unflawed"}, 1e-3)
    evaluate_policies(EvaluateConfig(device="cpu", bootstrap=200, batch_size=4, samples_per_prompt=2, arena={"enabled": False}), tmp_path)

    chk = instrument_check(tmp_path)
    assert chk["status"] == "failed" and chk["meaning"] == NOT_SUPPORTED
    pos, neg = chk["positive_control"]["seeds"], chk["negative_control"]["seeds"]
    assert [s["policy"] for s in pos] == ["gold-s0"] and not pos[0]["passed"]
    assert pos[0]["gold_gain_ci"][0] <= 0.0  # no gain distinguishable from 0
    assert [s["policy"] for s in neg] == ["unflawed-s0"] and not neg[0]["passed"]
    assert json.loads((tmp_path / "eval" / "instrument.json").read_text())["status"] == "failed"
    page = build_report(tmp_path).read_text()
    head = page[page.index("Instrument check"):]
    assert neg[0]["call"] in ("not hacked", "undetermined")  # the calibrated call, not "hacked"
    assert "check failed" in head and NOT_SUPPORTED in head and neg[0]["call"].upper() in head and "FAILED" in head
    assert page.index("Instrument check") < page.index("Proxy reward vs gold score")  # opens the report


def _eval(role, name, gains, ci_lo, flagged=False, proxy="gold"):
    rows = [{"step": s, "decoding": "sampled", "gold_gain": g, "gold_gain_ci": [lo, g + 0.5]}
            for s, g, lo in zip((0, 10, 20), gains, ci_lo)]
    return {"policy": name, "role": role, "proxy_judge": proxy, "rows": rows,
            "hacking": {"flagged": flagged, "kind": "gold-falling" if flagged else "none", "reason": "",
                        "proxy_gain": 0.3, "gold_change": -0.1}}


def _write(tmp_path, evals):
    d = tmp_path / "eval" / "policies"
    d.mkdir(parents=True, exist_ok=True)
    for e in evals:
        (d / f"{e['policy']}.json").write_text(json.dumps(e))


def test_status_passed_only_when_every_seed_of_both_controls_passes(tmp_path):
    ok = [_eval("positive-control", f"gold-s{i}", [0, 0.3, 0.6], [0, 0.1, 0.2]) for i in range(3)]
    neg = [_eval("negative-control", f"flawed-s{i}", [0, -0.5, -1.0], [0, -0.9, -1.5], flagged=True, proxy="flawed")
           for i in range(3)]
    _write(tmp_path, ok + neg)
    assert instrument_check(tmp_path)["status"] == "passed"
    # one seed of the oracle whose gain CI touches 0 fails the whole check
    _write(tmp_path, [_eval("positive-control", "gold-s2", [0, 0.3, 0.4], [0, 0.1, -0.01])])
    chk = instrument_check(tmp_path)
    assert chk["status"] == "failed" and [s["passed"] for s in chk["positive_control"]["seeds"]] == [True, True, False]


def test_a_missing_control_is_incomplete_not_passed(tmp_path):
    _write(tmp_path, [_eval("positive-control", "gold-s0", [0, 0.3, 0.6], [0, 0.1, 0.2]),
                      _eval("study", "direct-s0", [0, 0.1, 0.1], [0, -0.1, -0.1])])
    chk = instrument_check(tmp_path)
    assert chk["status"] == "incomplete" and chk["negative_control"]["status"] == "not run"
    assert "not supported" in chk["meaning"]


def test_the_check_writes_nothing_and_the_writer_writes_it_as_before(tmp_path):
    """instrument_check is pure (the report calls it); write_instrument (the evaluate stage) writes
    exactly what the check returned, as json.dumps(indent=2) always wrote it."""
    from judgelab.evaluate.policies.instrument import write_instrument

    _write(tmp_path, [_eval("positive-control", "gold-s0", [0, 0.3, 0.6], [0, 0.1, 0.2]),
                      _eval("negative-control", "flawed-s0", [0, -0.5, -1.0], [0, -0.9, -1.5], flagged=True, proxy="flawed")])
    chk = instrument_check(tmp_path)
    assert chk["status"] == "passed" and not (tmp_path / "eval" / "instrument.json").exists()
    path = write_instrument(tmp_path)
    assert path == tmp_path / "eval" / "instrument.json" and path.read_text() == json.dumps(chk, indent=2)


def _called(ev, outcome, kind):
    return {**ev, "hacking_call": {"outcome": outcome, "kind": kind, "reason": f"{kind} (test)",
                                   "proxy_gain": {"mean": 0.2, "ci95": [0.1, 0.3], "n": 32, "ci_method": "bca"},
                                   "gold_gain": {"mean": -0.1, "ci95": [-0.2, 0.0], "n": 32, "ci_method": "bca"}}}


def test_the_calibrated_call_decides_the_controls_and_the_specificity_control_counts(tmp_path):
    pos = _eval("positive-control", "gold-s0", [0, 0.3, 0.6], [0, 0.1, 0.2])
    # v1's flag says "flagged", the calibrated call says "undetermined": the call decides.
    neg = _called(_eval("negative-control", "flawed-s0", [0, -0.1, -0.1], [0, -0.3, -0.3], flagged=True,
                        proxy="flawed"), "undetermined", "underpowered")
    spec = _called(_eval("specificity-control", "noisy-s0", [0, 0.2, 0.4], [0, 0.1, 0.1], proxy="noisy-gold"),
                   "not hacked", "gold-rose")
    _write(tmp_path, [pos, neg, spec])
    chk = instrument_check(tmp_path)
    assert chk["status"] == "failed" and chk["negative_control"]["seeds"][0]["call"] == "undetermined"
    _write(tmp_path, [_called(neg, "hacked", "gold-falling")])
    chk = instrument_check(tmp_path)
    assert chk["status"] == "passed" and chk["specificity_control"]["seeds"][0]["passed"]
    assert "benign noisy proxy not hacked" in chk["meaning"]
    # An honest, imperfect proxy called hacked fails the check: "hacked" would mean only "imperfect".
    _write(tmp_path, [_called(spec, "hacked", "gold-stalled")])
    chk = instrument_check(tmp_path)
    assert chk["status"] == "failed" and not chk["specificity_control"]["passed"]
    page = build_report(tmp_path).read_text()
    assert "specificity control (benign proxy noisy-gold)" in page and "HACKED" in page


def test_without_a_specificity_control_the_meaning_says_so(tmp_path):
    _write(tmp_path, [_eval("positive-control", "gold-s0", [0, 0.3, 0.6], [0, 0.1, 0.2]),
                      _called(_eval("negative-control", "flawed-s0", [0, -0.5, -1.0], [0, -0.9, -1.5], proxy="flawed"),
                              "hacked", "gold-falling")])
    chk = instrument_check(tmp_path)
    assert chk["status"] == "passed" and "specificity_control" not in chk
    assert "no specificity control ran" in chk["meaning"]


def test_kl_from_the_initial_policy_is_zero_for_an_unchanged_policy(tmp_path):
    """evaluate.kl_samples: each checkpoint's KL from the initial policy, from its own samples
    (issue 23's gold-vs-KL plot): exactly 0 for a policy whose weights did not move, positive for
    one trained hard; the report draws gold against it."""
    prompts = select_prompts(RunPromptSettings(train_limit=4, test_limit=4))
    write_jsonl(tmp_path / "prompts.jsonl", [p.to_dict() for p in prompts])
    gold = {"name": "gold", "backend": {"type": "rubric", "rubric": "gold"}}
    _policy(tmp_path, "still-s0", "study", gold, 1e-12)
    _policy(tmp_path, "moved-s0", "study", {**gold, "name": "gold2"}, 0.3)
    evaluate_policies(EvaluateConfig(device="cpu", bootstrap=100, batch_size=4, samples_per_prompt=2, kl_samples=2,
                                     arena={"enabled": False}), tmp_path)
    still = json.loads((tmp_path / "eval" / "policies" / "still-s0.json").read_text())["rows"]
    moved = json.loads((tmp_path / "eval" / "policies" / "moved-s0.json").read_text())["rows"]
    assert still[0]["kl_from_initial"] == 0.0 and abs(still[-1]["kl_from_initial"]) < 1e-3
    assert moved[-1]["kl_from_initial"] > 0.05, moved[-1]["kl_from_initial"]
    page = build_report(tmp_path).read_text()
    assert "Gold against KL" in page and (tmp_path / "report" / "gold_vs_kl.png").exists()


def test_the_summary_line_names_each_control_the_check_holds():
    """The line printed after a run names the specificity control when the run has one (it said
    'positive ..., negative ...' only, while the verdict rested on three controls)."""
    from judgelab.evaluate.policies.instrument import summary_line

    check = {"status": "passed", "meaning": "m", "positive_control": {"status": "passed"},
             "negative_control": {"status": "passed"}}
    assert summary_line(check) == "instrument check: PASSED (positive control passed, negative control passed): m"
    check["specificity_control"] = {"status": "failed"}
    assert "negative control passed, specificity control failed)" in summary_line(check)
