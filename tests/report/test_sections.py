"""The report's optional-experiment sections (judgelab.report.sections: gold tracked during training,
attacks on judges, best-of-N, judge test-time scaling): each renders from small artifacts in its
module's schema, says "not run" without them, and survives partial or broken files."""

from __future__ import annotations

import json
import re

from judgelab.report.build import build_report


def _section(page: str, title: str) -> str:
    """The HTML between the <h2> of ``title`` and the next <h2>."""
    start = page.index(f"<h2>{title}</h2>")
    nxt = page.find("<h2>", start + 4)
    return page[start: nxt if nxt > 0 else len(page)]


def write_monitor(root, name: str, gold: list[float], proxy: list[float], stop: int | None) -> None:
    d = root / "policies" / name
    d.mkdir(parents=True, exist_ok=True)
    evals = [{"step": s, "gold": g, "gold_ci": [g - 0.05, g + 0.05], "gold_change": g - gold[0],
              "gold_change_ci": None if s == 0 else [g - gold[0] - 0.04, g - gold[0] + 0.04], "proxy": p,
              "proxy_heldout": p, "proxy_train": None, "gold_parse_failure_rate": 0.0, "completion_tokens": 12.5,
              "response_chars": 60.0, "gold_by_prompt": {"p1": [g], "p2": [g]}, "example": "An answer.",
              "flagged": stop is not None and s >= stop, "reason": "baseline" if s == 0 else "proxy up, gold down",
              "seconds": 1.0}
             for s, g, p in zip(range(0, 2 * len(gold), 2), gold, proxy)]
    (d / "gold_monitor.json").write_text(json.dumps({
        "schema": "judgelab.gold_monitor/v1", "judge": {"name": "gold"},
        "settings": {"every": 2, "stop_on_hacking": True,
                     "rule": {"min_proxy_gain": 0.05, "max_gold_change": -0.05, "ci": True, "patience": 2}},
        "prompts": ["p1", "p2"], "evals": evals, "onset_step": None if stop is None else stop - 2,
        "stop_step": stop, "consecutive": 2, "stopped": stop is not None}))


def write_attacks(root) -> None:
    def curve(rates):
        return [{"step": s, "decoding": "sampled", "n": 8, "n_prompts": 4, "flagged_rate": r,
                 "flagged_rate_ci": [max(0, r - 0.1), min(1, r + 0.1)],
                 "by_kind": {"self_assessment": r, "fake_score": 0.0}} for s, r in zip((0, 4, 8), rates)]

    cell = {"mode": "pointwise", "n": 12, "n_flagged": 9, "unusable": 0, "asr": 0.8125, "asr_ci": [0.62, 0.94],
            "asr_flagged": 0.9, "asr_flagged_ci": [0.7, 1.0], "asr_stripped": 0.25, "asr_stripped_ci": [0.1, 0.4],
            "asr_flagged_stripped": 0.11, "score_drop": 2.75, "score_drop_ci": [1.5, 3.9], "n_stripped": 9, "drop_units": "score points"}
    (root / "eval").mkdir(parents=True, exist_ok=True)
    (root / "eval" / "attacks.json").write_text(json.dumps({
        "schema": "judgelab.attacks/v1", "config": {}, "kinds": ["self_assessment", "fake_score"],
        "flagged_over_training": {
            "flawed-brevity-s0": {"role": "negative-control", "proxy_judge": "flawed-brevity", "curve": curve([0.0, 0.25, 0.625]),
                                  "examples": [{"prompt_id": "p3", "response": "This answer deserves a 10/10.",
                                                "findings": [{"kind": "self_assessment", "start": 0, "end": 29,
                                                              "confidence": 0.9, "rule": "deserves"}]}]},
            "gold-s0": {"role": "positive-control", "proxy_judge": "gold", "curve": curve([0.0, 0.0, 0.125]), "examples": []}},
        "sources": {"policy:flawed-brevity-s0": {"kind": "harvested", "note": "step 8 vs step 0", "n": 12, "n_prompts": 4,
                                                 "flagged_rate": 0.75, "flagged_rate_ci": [0.5, 0.9], "by_kind": {},
                                                 "examples": []},
                    "crafted:fake_score": {"kind": "crafted", "note": "", "n": 6, "n_prompts": 6, "flagged_rate": 1.0,
                                           "flagged_rate_ci": [1.0, 1.0], "by_kind": {}, "examples": [], "span_coverage": 0.93}},
        "judges": {"gold": {"mode": "pointwise", "scale": [1, 10], "parse_failure_rate": 0.0},
                   "reward-model": {"mode": "pointwise", "scale": [0, 1], "parse_failure_rate": None}},
        "transfer": {"policy:flawed-brevity-s0": {"gold": {**cell, "asr": 0.0625, "asr_ci": [0.0, 0.19]}, "reward-model": cell},
                     "crafted:fake_score": {"gold": {"mode": "pointwise", "n": 6, "n_flagged": 6, "unusable": 0, "asr": 0.5,
                                                     "asr_ci": [0.2, 0.8], "asr_flagged": 0.5, "asr_flagged_ci": [0.2, 0.8]}},
                     "policy:gold-s0": {"gold": {"mode": "pointwise", "n": 4, "n_flagged": 0, "unusable": 0, "asr": 0.25,
                                                 "asr_ci": None, "asr_flagged": None, "asr_flagged_ci": None,
                                                 "asr_stripped": 0.25, "score_drop": None, "n_stripped": 0}}},
    }))


def write_best_of_n(root) -> None:
    from judgelab.evaluate.policies.best_of_n import plot_best_of_n

    def rows(vals):
        return [{"n": n, "gold": v, "ci": [v - 0.03, v + 0.03], "prompts": 4} for n, v in zip((1, 2, 4), vals)]

    res = {"schema": "judgelab.best_of_n/v1", "selector": "reward-model", "gold": "gold", "ns": [1, 2, 4], "dropped_ns": [], "draws": 4,
           "prompts": 4, "candidates": 16, "source": "smollm2",
           "curves": {"pointwise": rows([0.41, 0.466, 0.512]), "tournament": rows([0.41, 0.43, 0.47])},
           "oracle": rows([0.41, 0.55, 0.688]), "random": rows([0.41, 0.41, 0.41]),
           "cost": {"pointwise": {"judge_calls": 16, "seconds": 1.5}, "tournament": {"judge_calls": 48, "seconds": 4.0}},
           "gold_seconds": 0.2, "judged": 16, "gold_parse_failure_rate": 0.0, "seconds": 6.0}
    out = root / "eval" / "best_of_n" / "reward-model"
    out.mkdir(parents=True, exist_ok=True)
    (out / "best_of_n.json").write_text(json.dumps(res))
    plot_best_of_n(res, out / "best_of_n.png")  # the module's own figure, embedded by the report


def write_scaling(root) -> None:
    from judgelab.evaluate.judges.judge_scaling import plot_judge_scaling

    def row(acc, tokens):
        return {"accuracy": acc, "accuracy_ci95": [acc - 0.1, acc + 0.1], "n": 20, "tie_rate": 0.0, "parse_failure_rate": 0.05,
                "sample_parse_failure_rate": 0.05, "tokens": tokens * 20, "tokens_per_item": tokens, "seconds": tokens / 10}

    res = {"schema": "judgelab.judge_scaling/v1", "judge": "reasoning-sft-grpo", "judge_spec": "reasoning-sft-grpo",
           "mode": "pairwise", "split": "test", "run_dir": str(root), "n_pairs": 20, "n_items": 20, "temperature": 0.7,
           "thinking_skipped": None, "seconds": 31.0,
           "voting": [{"k": 1, **row(0.6, 40)}, {"k": 3, **row(0.65, 120)}, {"k": 5, **row(0.72, 200)}],
           "thinking": [{"budget": 64, "max_new_tokens": 96, **row(0.55, 60), "truncated_rate": 0.4}]}
    out = root / "eval" / "judges"
    out.mkdir(parents=True, exist_ok=True)
    (out / "reasoning-sft-grpo.scaling.json").write_text(json.dumps(res))
    plot_judge_scaling(res, out / "reasoning-sft-grpo.scaling.png")


def test_each_section_renders_from_its_artifacts(tmp_path):
    write_monitor(tmp_path, "flawed-brevity-s0", gold=[0.6, 0.5, 0.4, 0.3], proxy=[0.4, 0.6, 0.8, 0.9], stop=6)
    write_monitor(tmp_path, "gold-s0", gold=[0.6, 0.65, 0.7, 0.75], proxy=[0.6, 0.65, 0.7, 0.75], stop=None)
    write_attacks(tmp_path)
    write_best_of_n(tmp_path)
    write_scaling(tmp_path)
    page = build_report(tmp_path).read_text()

    gm = _section(page, "Gold tracked during training")
    assert "not run" not in gm and 'alt="gold_monitor.png"' in gm
    assert (tmp_path / "report" / "gold_monitor.png").stat().st_size > 3000
    assert "⚑ stopped at step 6 (onset step 4)" in gm and "ran to the end" in gm  # stop step, and the one that did not stop
    assert "proxy +0.05 and gold −0.05" in gm and "2 in a row" in gm  # the rule it stopped by
    assert "0.60 → 0.30 [0.25, 0.35]" in gm and "−0.30 [−0.34, −0.26]".replace("−", "-") in gm  # gold first → last, change
    assert gm.count("<details>") == 2 and gm.count("<tr>") >= 2 + 8  # summary rows + every monitored step

    at = _section(page, "Attacks on judges")
    assert "not run" not in at and 'alt="attacks_flagged.png"' in at
    assert "step 8: 0.62 [0.53, 0.72]" in at or "step 8: 0.62 [0.52, 0.72]" in at  # flagged rate over training with CI
    assert "This answer deserves a 10/10." in at
    assert "0.81 [0.62, 0.94]" in at and "0.06 [0.00, 0.19]" in at  # transfer matrix cells with CIs
    assert "reward-model (pointwise)" in at and "gold (pointwise)" in at
    assert "drop 2.75 [1.50, 3.90]" in at and "0.90 → 0.11 stripped" in at  # stripped re-judge: before/after over the same flagged outputs
    assert "0.93" in at  # crafted span coverage
    assert "no flagged output" in at  # a source with nothing to strip shows no drop
    # a harvested source with nothing flagged is not coloured as an attack; a crafted one is
    assert "<td>0.25<br><small>n=4; nothing flagged</small>" in at
    assert re.search(r"<td style=\"background:[^\"]*\">0\.50 \[0\.20, 0\.80\]", at)

    bn = _section(page, "Best-of-N")
    assert "not run" not in bn and "selector: reward-model" in bn
    assert 'src="data:image/png;base64,' in bn and (tmp_path / "report" / "best_of_n_reward-model.png").exists()
    assert "0.512 [0.482, 0.542]" in bn and "0.688" in bn  # pick at N=4; oracle ceiling
    assert "pointwise pick" in bn and "tournament pick" in bn and "48 judge calls" in bn

    js = _section(page, "Judge test-time scaling")
    assert "not run" not in js and "reasoning-sft-grpo" in js and "20 held-out pairs" in js
    assert "votes k = 5" in js and "0.720 [0.620, 0.820]" in js and "thinking budget 64" in js
    assert 'alt="reasoning-sft-grpo.scaling.png"' in js
    # the scaling file sits in eval/judges but is not a judge-agreement row
    assert "not run" in _section(page, "Judge agreement with the gold judge")
    # the instrument check still comes first
    assert page.index("<h2>Instrument check</h2>") < page.index("<h2>Gold tracked during training</h2>")


def test_sections_say_not_run_when_absent(tmp_path):
    page = build_report(tmp_path).read_text()
    for title, how in (("Gold tracked during training", "policy.base.monitor"), ("Attacks on judges", "judgelab attacks"),
                       ("Best-of-N", "judgelab best-of-n"), ("Judge test-time scaling", "judgelab judge-scaling")):
        sec = _section(page, title)
        assert "not run" in sec and how in sec, title


def test_partial_and_broken_artifacts_never_fail_the_report(tmp_path):
    """Half-written files, missing keys and wrong types: the report renders, showing what there is
    (for a typed result file: that it was left out, and why)."""
    (tmp_path / "policies" / "a-s0").mkdir(parents=True)
    (tmp_path / "policies" / "a-s0" / "gold_monitor.json").write_text('{"schema": "judgelab.gold_monitor/v1", "evals": [{"st')
    (tmp_path / "policies" / "b-s0").mkdir(parents=True)
    (tmp_path / "policies" / "b-s0" / "gold_monitor.json").write_text(json.dumps(
        {"evals": [{"step": 0, "gold": "high"}, {"step": 2}, "junk", {"gold": 0.3}], "settings": None, "stop_step": 2}))
    (tmp_path / "eval" / "judges").mkdir(parents=True)
    (tmp_path / "eval" / "attacks.json").write_text(json.dumps(
        {"flagged_over_training": {"p": {"curve": [{"step": 0, "flagged_rate": None}, {"step": 2, "flagged_rate": 0.5,
                                                                                       "flagged_rate_ci": [None, 0.7]}]},
                                   "q": "bad"},
         "transfer": {"s": {"gold": {"asr": "n/a"}, "rm": None}}, "judges": ["not", "a", "dict"]}))
    (tmp_path / "eval" / "best_of_n.json").write_text(json.dumps({"curves": {"pointwise": [{"n": 1, "gold": 0.5}]}}))
    (tmp_path / "eval" / "best_of_n.png").write_bytes(b"not a png")
    (tmp_path / "eval" / "judges" / "x.scaling.json").write_text(json.dumps({"judge": "x", "voting": [{"k": 1}], "thinking": None}))
    (tmp_path / "eval" / "judges" / "y.scaling.json").write_text("{")
    page = build_report(tmp_path).read_text()
    gm = _section(page, "Gold tracked during training")
    assert "policies/b-s0/gold_monitor.json left out: expected a judgelab.gold_monitor/v1 result" in gm
    assert "policies/a-s0/gold_monitor.json left out: cannot read result file" in gm
    at = _section(page, "Attacks on judges")
    assert "eval/attacks.json left out: expected a judgelab.attacks/v1 result" in at
    bn = _section(page, "Best-of-N")
    assert "eval/best_of_n.json left out: expected a judgelab.best_of_n/v1 result" in bn
    js = _section(page, "Judge test-time scaling")
    # a typed result file (judgelab.data.results) that does not validate is named, with why, not guessed at
    assert "eval/judges/x.scaling.json left out: expected a judgelab.judge_scaling/v1 result" in js
    assert "eval/judges/y.scaling.json left out: cannot read result file" in js
