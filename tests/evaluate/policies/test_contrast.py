"""The arm-vs-arm contrast: per-prompt gains read from the evaluation samples, arms from
policy.json, a hierarchical bootstrap CI that covers the truth, variance components recovered,
the minimum detectable difference, and honest notes when a level is not replicated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from judgelab.data.jsonl import write_jsonl
from judgelab.data.rundir import RunDir
from judgelab.evaluate.policies.contrast import StudySettings, study_contrast, variance_components, write_contrast

ROW = {"decoding": "sampled", "n_prompts": 0, "n": 0, "gold_score_mean": None, "gold_score_ci": None, "gold_score_norm": None,
       "gold_score_norm_ci": None, "gold_gain": None, "gold_gain_ci": None, "gold_win_rate": None, "gold_win_rate_ci": None,
       "length_tokens_mean": None, "length_chars_mean": None, "gold_parse_failure_rate": 0.0, "proxy_score": None,
       "proxy_score_ci": None, "proxy_parse_failure_rate": 0.0, "other_judges": {}, "by_decoding": {}}


def write_policy(root: Path, name: str, arm: str, judge_seed: int, seed: int, gains: np.ndarray, rng, role="study") -> None:
    rd = RunDir(root)
    rows = [{"step": s, "checkpoint": f"c{s}", **ROW} for s in (0, 8)]
    (rd.eval_dir / "policies").mkdir(parents=True, exist_ok=True)
    rd.policy_eval(name).write_text(json.dumps({
        "schema": "judgelab.policy_eval/v2", "policy": name, "role": role, "proxy_judge": f"{arm}-j{judge_seed}",
        "gold_judge": "gold", "gold_scale": [1, 10], "reward_mode": "pointwise", "tournament": None, "base_model": "b",
        "prompts": [], "decodings": ["sampled"], "samples_per_prompt": 2, "rows": rows,
        "hacking": {"flagged": False, "kind": "none", "reason": ""}}))
    level = rng.normal(5, 1, len(gains))
    for step, shift in ((0, 0.0), (8, 1.0)):
        write_jsonl(rd.eval_samples(name, step), [
            {"prompt_id": f"p{i}", "decoding": "sampled", "sample_index": k, "gold_score": float(level[i] + shift * gains[i])}
            for i in range(len(gains)) for k in range(2)])
    rd.policy_dir(name).mkdir(parents=True, exist_ok=True)
    rd.policy_file(name).write_text(json.dumps({"name": name, "role": role, "arm": arm, "judge_seed": judge_seed,
                                                "grpo": {"seed": seed}, "judge": "nowhere"}))


def synth(root: Path, effects: dict[str, float], J: int, S: int, n: int = 48, sd_judge=0.3, sd_policy=0.2, sd_prompt=0.8,
          seed=0) -> None:
    rng = np.random.default_rng(seed)
    for arm, effect in effects.items():
        for j in range(J):
            uj = rng.normal(0, sd_judge)
            for s in range(S):
                us = rng.normal(0, sd_policy)
                write_policy(root, f"{arm}-j{j}-s{s}", arm, j, s, effect + uj + us + rng.normal(0, sd_prompt, n), rng)


def test_contrast_recovers_a_known_difference(tmp_path):
    synth(tmp_path, {"reasoning-sft-grpo": 1.0, "direct-sft": 0.2}, J=4, S=3)
    res = study_contrast(str(tmp_path), StudySettings(bootstrap=400))
    (c,) = res.contrasts
    assert (c.reasoning, c.minus) == ("reasoning-sft-grpo", "direct-sft")
    assert c.ci95[0] < c.diff < c.ci95[1] and c.ci95[0] < 0.8 < c.ci95[1] and c.ci95[0] > 0
    assert res.design == {"judge_seeds": 4, "policy_seeds": 3, "prompts": 48}
    assert c.mdd is not None and not c.mdd_is_lower_bound and 0.2 < c.mdd < 2.0
    assert res.variance.judge is not None and res.variance.policy is not None
    assert abs(res.variance.prompt - 0.8 ** 2 / 48) < 0.01
    assert res.notes == []
    write_contrast(str(tmp_path), StudySettings(bootstrap=100))
    assert json.loads((tmp_path / "eval" / "contrast.json").read_text())["schema"] == "judgelab.contrast/v1"


def test_one_judge_per_arm_is_said_plainly(tmp_path):
    # No judge or policy variance here, so a CI over prompts alone is right; with it, one judge per arm
    # turns a judge-to-judge difference into an arm difference the CI cannot see (the first note).
    synth(tmp_path, {"reasoning-sft-grpo": 0.5, "direct-sft": 0.5, "reward-model": 0.5}, J=1, S=1, sd_judge=0, sd_policy=0)
    res = study_contrast(str(tmp_path), StudySettings(bootstrap=200))
    assert [(c.reasoning, c.minus) for c in res.contrasts] == [("reasoning-sft-grpo", "direct-sft"),
                                                               ("reasoning-sft-grpo", "reward-model")]
    assert all(c.mdd_is_lower_bound for c in res.contrasts) and res.variance.judge is None
    assert any("one judge seed per arm" in n for n in res.notes) and any("one policy seed" in n for n in res.notes)
    assert res.judge_seeds_needed == {"0.3": None, "0.5": None}  # not estimable without judge replication
    for c in res.contrasts:
        assert c.ci95[0] < 0 < c.ci95[1]  # no true difference


def test_variance_components_match_the_simulation_on_average():
    rng = np.random.default_rng(3)
    est = []
    for _ in range(30):
        gains = {arm: {j: {s: {f"p{i}": x for i, x in enumerate(rng.normal(uj + rng.normal(0, 0.2), 0.8, 40))}
                           for s in range(3)} for j, uj in enumerate(rng.normal(0, 0.3, 5))} for arm in ("a", "b")}
        est.append(variance_components(gains))
    assert np.mean([v.prompt for v in est]) == pytest.approx(0.8 ** 2 / 40, rel=0.15)
    assert np.mean([v.policy for v in est]) == pytest.approx(0.2 ** 2, abs=0.02)
    assert np.mean([v.judge for v in est]) == pytest.approx(0.3 ** 2, abs=0.04)


def test_variance_components_leave_out_prompt_effects_the_policies_share():
    """Prompts differ in how much any policy can gain on them (a shared prompt effect), and an arm may
    have its own prompt effects. The shared part cancels in a contrast paired by prompt and does not
    differ between policies: it must not be subtracted from the policy component (the first estimator
    did, and sized the study's MDD ~15% too small at more prompts). An arm's own prompt effects do not
    cancel: they enter the MDD as arm_prompt, which replication of seeds does not shrink."""
    from judgelab.evaluate.policies.contrast import minimum_detectable_difference

    rng = np.random.default_rng(5)
    P, J, S = 24, 3, 3
    sd = {"judge": 0.1, "policy": 0.15, "shared": 0.7, "arm": 0.2, "inter": 0.4}
    est = []
    for _ in range(60):
        shared = rng.normal(0, sd["shared"], P)
        gains = {}
        for arm in ("a", "b"):
            own = rng.normal(0, sd["arm"], P)
            gains[arm] = {j: {s: {f"p{i}": x for i, x in enumerate(
                uj + rng.normal(0, sd["policy"]) + shared + own + rng.normal(0, sd["inter"], P))} for s in range(S)}
                for j, uj in enumerate(rng.normal(0, sd["judge"], J))}
        est.append(variance_components(gains))
    assert np.mean([v.policy for v in est]) == pytest.approx(sd["policy"] ** 2, abs=0.008)
    assert np.mean([v.prompt for v in est]) == pytest.approx(sd["inter"] ** 2 / P, rel=0.15)
    assert np.mean([v.arm_prompt for v in est]) == pytest.approx(2 * sd["arm"] ** 2 / P, rel=0.35)
    # The MDD at a design of 48 prompts, 2 x 2 seeds, from the components vs the truth.
    Pd, Jd, Sd = 48, 2, 2
    true_var = 2 * (sd["judge"] ** 2 / Jd + (sd["policy"] ** 2 + sd["inter"] ** 2 / Pd) / (Jd * Sd)) + 2 * sd["arm"] ** 2 / Pd
    true_mdd = (1.959964 + 0.841621) * np.sqrt(true_var)
    mdds = [minimum_detectable_difference(v, Jd, Sd, prompt_scale=P / Pd) for v in est]
    assert np.mean(mdds) == pytest.approx(true_mdd, rel=0.1)


def test_no_contrast_without_both_sides(tmp_path):
    synth(tmp_path, {"direct-sft": 0.5}, J=1, S=1)
    assert study_contrast(str(tmp_path)) is None


def test_the_report_opens_with_the_check_then_the_contrast(tmp_path):
    from judgelab.report.build import build_report

    synth(tmp_path, {"reasoning-sft-grpo": 1.0, "direct-sft": 0.2}, J=2, S=2)
    page = build_report(tmp_path).read_text()
    i, c = page.index("Instrument check"), page.index("Study contrast: reasoning vs non-reasoning judges")
    assert i < c < page.index("Proxy reward vs gold score")
    assert "Primary endpoint (pre-registered)" in page and "minimum detectable difference" in page
    assert "2 judge seed(s) x 2 policy seed(s) per arm, 48 prompts" in page


def test_a_contrast_row_says_when_an_arms_judge_is_at_chance(tmp_path):
    """The quickstart's contrast excluded 0 (-1.01 [-1.31, -0.71]) between two arms whose judges were
    at chance: the row itself must say it is not evidence about judge kind, not only a note below."""
    from judgelab.data.rundir import RunDir
    from judgelab.report.sections.contrast import contrast_section

    synth(tmp_path, {"reasoning-sft-grpo": 1.0, "direct-sft": 0.2, "reward-model": 0.2}, J=1, S=2)
    res = study_contrast(str(tmp_path), StudySettings(bootstrap=100))
    assert all(c.ci95[0] > 0 for c in res.contrasts)
    arms = [a.model_copy(update={"at_chance": a.arm == "direct-sft"}) for a in res.arms]
    res.model_copy(update={"arms": arms}).write(tmp_path / "eval" / "contrast.json")
    rows = contrast_section(RunDir(tmp_path)).split("<tr>")
    direct, rm = (next(r for r in rows if ">reasoning-sft-grpo<" in r and f">{arm}<" in r)  # only contrast rows name both
                  for arm in ("direct-sft", "reward-model"))
    assert "judge at chance: direct-sft; not about judge kind" in direct
    assert "judge at chance" not in rm and "yes" in rm


def test_ablation_arms_get_no_primary_contrast(tmp_path):
    synth(tmp_path, {"reasoning-sft-grpo": 1.0, "reasoning-names": 0.6, "direct-sft": 0.2}, J=1, S=2)
    res = study_contrast(str(tmp_path), StudySettings(bootstrap=100, reasoning_arms=["reasoning-sft-grpo"],
                                                      non_reasoning_arms=["direct-sft"]))
    assert [(c.reasoning, c.minus) for c in res.contrasts] == [("reasoning-sft-grpo", "direct-sft")]
    assert {a.arm: a.side for a in res.arms} == {"reasoning-sft-grpo": "reasoning", "reasoning-names": "ablation",
                                                  "direct-sft": "non-reasoning"}


def test_minimum_detectable_difference_scales_with_the_design():
    """The pilot's sizing: the MDD the report prints at the run's own design, smaller with more judge
    seeds, and the prompt component scaled to another number of prompts (half the squared SE at
    twice the prompts)."""
    from judgelab.evaluate.policies.contrast import VarianceComponents, minimum_detectable_difference

    v = VarianceComponents(prompt=0.02, policy=0.01, judge=0.05)
    z = 1.959964 + 0.841621
    assert minimum_detectable_difference(v, 2, 2) == pytest.approx(z * np.sqrt(2 * (0.05 / 2 + 0.03 / 4)))
    assert minimum_detectable_difference(v, 3, 2, prompt_scale=0.5) == pytest.approx(
        z * np.sqrt(2 * (0.05 / 3 + (0.01 + 0.01) / 6)))
    assert minimum_detectable_difference(v, 8, 2) < minimum_detectable_difference(v, 3, 2)
    no_judge = VarianceComponents(prompt=0.02, policy=0.01, judge=None)  # a lower bound: judge counted as 0
    assert minimum_detectable_difference(no_judge, 2, 2) < minimum_detectable_difference(v, 2, 2)
    # two sides with their own components: each side's variance enters once
    w = VarianceComponents(prompt=0.04, policy=0.2, judge=0.0)
    assert minimum_detectable_difference(v, 2, 2, other=v) == pytest.approx(minimum_detectable_difference(v, 2, 2))
    assert minimum_detectable_difference(v, 2, 3, other=w) == pytest.approx(
        z * np.sqrt(0.05 / 2 + 0.03 / 6 + 0.24 / 6))


def test_the_pilot_script_reads_a_pilot_run_in_parts(tmp_path):
    """scripts/pilot_variance.py: a pilot whose arms ran in separate folders (the reasoning arm apart)
    gives the same components as one folder holding every arm; an arm in two folders is refused."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    both, a, b = tmp_path / "both", tmp_path / "a", tmp_path / "b"
    effects = {"direct-sft": 0.2, "reasoning-sft-grpo": 1.0}
    synth(both, effects, J=2, S=2, seed=3)
    synth(a, effects, J=2, S=2, seed=3)  # same draws, then one arm moved to folder b
    b.joinpath("eval", "policies").mkdir(parents=True)
    b.joinpath("policies").mkdir()
    for name in [p.name for p in (a / "policies").iterdir() if p.name.startswith("reasoning")]:
        (a / "policies" / name).rename(b / "policies" / name)
        for f in (a / "eval" / "policies").glob(f"{name}*"):
            f.rename(b / "eval" / "policies" / f.name)

    def run(*runs: Path, out: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(root / "scripts" / "pilot_variance.py"), *map(str, runs),
                               "--json", str(out)], capture_output=True, text=True, cwd=root)

    one, parts = run(both, out=tmp_path / "one.json"), run(a, b, out=tmp_path / "parts.json")
    assert one.returncode == 0 and parts.returncode == 0, one.stderr + parts.stderr
    j1, j2 = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "parts.json").read_text())
    assert set(j2["arms"]) == set(effects)
    assert j1["pooled"] == j2["pooled"] and j1["mdd"] == j2["mdd"]
    assert j2["sides"]["reasoning"]["arms"] == ["reasoning-sft-grpo"] and j1["sides"] == j2["sides"]
    dup = run(a, both, out=tmp_path / "dup.json")
    assert dup.returncode != 0 and "direct-sft" in dup.stderr and "both" in dup.stderr
