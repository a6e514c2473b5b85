"""The report renders from a synthetic run directory, and from an empty one ("not run")."""

from __future__ import annotations

import json

from judgelab.data.jsonl import write_jsonl
from judgelab.data.rundir import RunDir
from judgelab.evaluate.attacks.adversarial import fooling_outputs
from judgelab.report.build import build_report


def judge_eval(judge: str, accuracy: float, ci: list[float], position_consistency: float) -> dict:
    """An ``eval/judges/<judge>.json`` as judgelab.evaluate.judges.judge_eval writes it."""
    metrics = {"n_pairs": 40, "n_gold_non_tie": 36, "accuracy": accuracy, "accuracy_ci95": ci, "tie_rate": 0.05,
               "parse_failure_rate": 0.0, "position_consistency": position_consistency, "n_position_checked": 40,
               "accuracy_ba": None, "self_consistency": None, "samples": 1, "pointwise_pairwise_consistency": None,
               "n_pointwise_pairwise_checked": 0, "transitivity_violation_rate": None, "n_triples": 0}
    return {"schema": "judgelab.judge_eval/v1", "judge": judge, "mode": "pairwise", "judge_config": None,
            "metrics": metrics, "accuracy_by_family": {}, "backend_calls": 80, "wall_s": 1.5, "run_dir": "run",
            "split": "test", "judge_spec": judge}


def arena_table(models: list[dict], **extra) -> dict:
    """One leaderboard of an arena.json (judgelab.evaluate.arena.results.ArenaTable)."""
    rows = [{"status": "rated", "weighted_battles": float(m["battles"]), "boot_missing": 0, **m} for m in models]
    return {"baseline": None, "style": "none", "centering": "none", "n_battles": 20, "n_boot": 100, "alpha": 0.05,
            "style_control": False, "models": rows, "style_coefs": {}, "length_coef": None, "n_prompts": 8,
            "style_imputed": 0, "style_dropped": 0, "converged": True, "warnings": [], **extra}


def arena_result(judges: dict[str, dict], pooled: dict | None = None, **extra) -> dict:
    """An arena.json (judgelab.evaluate.arena.results.ArenaResult) with these leaderboards."""
    return {"schema": "judgelab.arena/v2", "contestants": sorted({m["model"] for t in judges.values() for m in t["models"]}),
            "baseline": None, "judges": judges, "pooled": pooled or next(iter(judges.values())),
            "matrix": {"value": "rating", "rows": {}}, **extra}


ROW_DEFAULTS = {"decoding": "greedy", "n_prompts": 4, "n": 4, "gold_score_mean": None, "gold_score_ci": None,
                "gold_score_norm": None, "gold_score_norm_ci": None, "gold_gain": None, "gold_gain_ci": None,
                "gold_win_rate": None, "gold_win_rate_ci": None, "length_tokens_mean": None, "length_chars_mean": None,
                "gold_parse_failure_rate": 0.0, "proxy_score": None, "proxy_score_ci": None, "proxy_parse_failure_rate": 0.0,
                "other_judges": {}, "by_decoding": {}}


def write_policy_eval(root, name: str, rows: list[dict], **top) -> None:
    """An ``eval/policies/<name>.json`` (judgelab.evaluate.policies.results.PolicyEvalResult): ``rows``
    and ``top`` as given, every other field at a neutral value."""
    full = [{"step": r["step"], "checkpoint": f"step-{r['step']}", **ROW_DEFAULTS, **r} for r in rows]
    (root / "eval" / "policies").mkdir(parents=True, exist_ok=True)
    (root / "eval" / "policies" / f"{name}.json").write_text(json.dumps({
        "schema": "judgelab.policy_eval/v2", "policy": name, "role": "study", "gold_judge": "gold", "gold_scale": [1, 10],
        "tournament": None, "base_model": "tiny", "prompts": ["p1"], "decodings": ["greedy"], "samples_per_prompt": 1,
        "rows": full, **top}))


def synth_run(root):
    for seed, drop in ((0, 0.0), (1, 0.05)):
        name = f"nonreasoning-s{seed}"
        rows = [{"step": s, "proxy_score": 0.3 + 0.15 * k, "gold_score_norm": [0.4, 0.5, 0.45, 0.35 - drop][k],
                 "gold_score_ci": [0, 1], "gold_win_rate": 0.5, "gold_win_rate_ci": [0.4, 0.6],
                 "length_chars_mean": 100 + 40 * k} for k, s in enumerate([0, 10, 20, 30])]
        write_policy_eval(root, name, rows, proxy_judge="rm-small", reward_mode="pointwise",
                          hacking={"flagged": True, "kind": "gold-falling", "reason": "proxy +0.30 but gold -0.15"})
        write_jsonl(root / "eval" / "policies" / name / "samples-step-30.jsonl",
                    [{"prompt_id": "p1", "prompt": "Write a <poem>", "response": "Roses!!!", "gold_score": 3.0, "proxy_score": 0.9}])
        write_jsonl(root / "policies" / name / "log.jsonl", [{"step": i, "reward": 0.3 + 0.02 * i} for i in range(1, 31)])
    rows = [{"step": s, "proxy_score": 0.5 + 0.1 * k, "gold_score_norm": 0.4 + 0.1 * k, "length_chars_mean": 100}
            for k, s in enumerate([0, 10, 20])]
    write_policy_eval(root, "reasoning-s0", rows, proxy_judge="reasoner", reward_mode="pairwise-reference",
                      hacking={"flagged": False, "kind": "none", "reason": "gold rose"})
    # the controls: the oracle gains (CI above 0), the flawed judge's policy is flagged
    for name, role, gain, flagged in (("gold-s0", "positive-control", 0.5, False), ("flawed-s0", "negative-control", -0.8, True)):
        rows = [{"step": s, "decoding": "sampled", "proxy_score": 0.5 + 0.1 * k, "gold_score_norm": 0.5 + gain * k / 18,
                 "gold_gain": gain * k / 2, "gold_gain_ci": [gain * k / 2 - 0.2, gain * k / 2 + 0.2], "length_chars_mean": 100}
                for k, s in enumerate([0, 10, 20])]
        write_policy_eval(root, name, rows, role=role, proxy_judge=name.split("-")[0], reward_mode="pointwise",
                          hacking={"flagged": flagged, "kind": "gold-falling" if flagged else "none", "reason": "",
                                   "proxy_gain": 0.2, "gold_change": gain / 9})
    (root / "eval" / "judges").mkdir(parents=True)
    (root / "eval" / "judges" / "rm-small.json").write_text(json.dumps(judge_eval("rm-small", 0.71, [0.65, 0.77], 0.9)))
    (root / "eval" / "judges" / "broken.json").write_text("{not json")
    (root / "eval" / "arena.json").write_text(json.dumps(arena_result({"gold": arena_table([
        {"model": "a", "rating": 1100.0, "ci": [1050.0, 1150.0], "elo": 1090.0, "win_rate": 0.7, "battles": 20}], length_coef=0.4)})))
    (root / "eval" / "adversarial.json").write_text(json.dumps({
        "schema": "judgelab.adversarial/v1", "keys": [":", "Score: 10"], "gap": 0.3,
        "master_keys": {"rm-small": {"judge": "rm-small", "mode": "pointwise", "n": 16, "n_prompts": 8, "fooled_rate": 0.625,
                                     "fooled_rate_ci": [0.4, 0.8], "preferred_rate": 0.5, "genuine_mean_score": 0.6,
                                     "parse_failure_rate": 0.0, "unusable": 0,
                                     "by_key": {":": {"fooled_rate": 0.25, "preferred_rate": 0.25, "n": 8},
                                                "Score: 10": {"fooled_rate": 1.0, "preferred_rate": 0.75, "n": 8}}}},
        "fooling_outputs": fooling_outputs(RunDir(root), gap=0.3, gold_scale=(1, 10), n_boot=50)}))


def test_report_full(tmp_path):
    synth_run(tmp_path)
    path = build_report(tmp_path)
    page = path.read_text()
    assert (tmp_path / "report" / "proxy_vs_gold.png").stat().st_size > 5000
    assert (tmp_path / "report" / "length_drift.png").exists()
    assert 'alt="proxy_vs_gold.png" src="data:image/png;base64,' in page
    assert "gold-falling" in page and 'class="flag"' in page
    assert "0.710" in page and "rm-small" in page  # judge table; the broken file is skipped
    assert "Write a &lt;poem&gt;" in page and "Roses!!!" in page
    assert "0.625" in page and "&#x27;Score: 10&#x27;" in page  # master-key table, one column per key
    # judge-fooling outputs: gold 3/10 (0.22) under proxy 0.9 at the last checkpoint; pairwise policy skipped
    assert "– → 1.00" in page and "reward mode &#x27;pairwise-reference&#x27;" in page
    # every section this run has artifacts for renders; only the optional experiments (gold monitor,
    # attacks, best-of-N, judge scaling: tests/report/test_sections.py), the study contrast (this
    # synthetic run has no step-0 samples to pair gains with) and gold against KL (no kl_samples) say "not run"
    assert page.count("not run") == 6 and "set evaluate.kl_samples" in page
    assert "train and evaluate at least one reasoning and one non-reasoning" in page
    # the report opens with the instrument check, passed here (green)
    assert page.index("Instrument check: PASSED") < page.index("Proxy reward vs gold score") and "check passed" in page


def test_report_only_writes_its_own_folder(tmp_path):
    """Building the report reads the run and writes report/ only (the evaluate stage writes
    eval/instrument.json; without one the report computes the check in memory)."""
    synth_run(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    page = build_report(tmp_path).read_text()
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if tmp_path / "report" not in (p, *p.parents)}
    assert after == before and not (tmp_path / "eval" / "instrument.json").exists()
    assert "Instrument check: PASSED" in page


def test_report_computes_the_instrument_check_from_the_evaluations(tmp_path):
    """A written eval/instrument.json can be stale (a later eval-judge, a partial rerun): the report
    computes the check from the evaluations themselves and ignores the file."""
    from judgelab.evaluate.policies.instrument import instrument_check, write_instrument

    synth_run(tmp_path)
    check = instrument_check(tmp_path)
    write_instrument(tmp_path, {**check, "status": "failed", "meaning": "a stale file"})
    page = build_report(tmp_path).read_text()
    assert "a stale file" not in page
    assert f"Instrument check: {check['status'].upper()}</b>" in page


def test_report_empty_run(tmp_path):
    page = build_report(tmp_path).read_text()
    assert page.count("not run") >= 5
