"""The study's answer: the arm-vs-arm contrast of the pre-registered primary endpoint, with a
hierarchical bootstrap CI and the minimum detectable difference at the design's size.

**Primary endpoint** (pre-registered in the run config's ``study.primary_endpoint`` and printed
in the report): a study policy's final gold gain on the held-out test prompts, sampled decoding,
paired by prompt (per prompt: the last checkpoint's mean gold over its samples minus step 0's, in
the gold's raw points), averaged over prompts. An **arm** is a judge kind (``judges[].name``;
replicated over ``judge_seeds``: one trained judge per seed); each judge trains one policy per
``policy.seeds`` entry. The arm's estimate is the mean over its judge seeds of the mean over their
policy seeds of the mean over prompts.

**Contrast**: each reasoning arm minus each non-reasoning arm (the judges' ``style``). Its 95% CI is
a hierarchical percentile bootstrap: in each resample the prompts are drawn once (shared by both
arms: the pairing by prompt is kept), then, in each arm, judge seeds with replacement and, within
each drawn judge seed, policy seeds with replacement.

**Variance components** (method of moments on the run's own data, pooled over arms, gold points²):
``prompt`` = the prompt x policy interaction over prompts, as a squared standard error of one
policy's mean gain (two-way residuals of the arm's policies x their shared prompts, divided by the
number of prompts): the part of a policy's prompt-to-prompt spread that differs between policies
and so shrinks with replication. A prompt effect that all of an arm's policies share is not in it:
it does not differ between that arm's policies, and would wrongly be subtracted from ``policy`` if
it were (with one policy per arm it cannot be separated, and ``prompt`` is that policy's own
squared standard error, shared effect included). ``policy`` = the variance of policy means within
a judge seed minus ``prompt`` (>= 0); ``judge`` = the variance of judge-seed means within an arm
minus (``policy`` + ``prompt``) / S (>= 0); ``arm_prompt`` = the part of a prompt's effect that
differs between arms and therefore does not cancel in a contrast paired by prompt, as a squared
standard error: the variance over prompts of the difference of two arms' per-prompt means, less
what the interaction contributes, over the prompts, mean over pairs of arms (needs two policies in
each arm). None when not estimable (fewer than two policy seeds per judge, two judge seeds per
arm, two policies per arm). At a design of J judge seeds x S policy seeds, an arm's variance is
judge / J + (policy + prompt) / (J S), and a contrast's is the sum of its two arms' plus
``arm_prompt`` (it does not shrink with seeds, only with prompts). **Minimum detectable difference**
(two-sided alpha 0.05, power 0.80): (1.96 + 0.84) x SE; with judge variance unmeasured it is
computed with judge = 0 and labelled a
lower bound. For 0.3- and 0.5-point targets the judge seeds per arm needed at the same S.

Reads ``eval/policies/*.json`` with their samples and each policy's ``policy.json`` (arm, judge
seed, GRPO seed), ``eval/judge_gate.json`` (arms at chance are marked); writes nothing
(``write_contrast`` writes ``eval/contrast.json``).
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from typing import Any, Literal

import numpy as np
from pydantic import Field

from judgelab.config import StrictModel
from judgelab.data.results import ResultFile, ResultModel
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError
from judgelab.evaluate.policies.hacking_call import prompt_means
from judgelab.evaluate.policies.results import PolicyEvalResult
from judgelab.evaluate.records import read_eval_samples

ENDPOINT = ("final sampled gold gain over step 0 on the held-out test prompts, paired by prompt, in gold points; "
            "reasoning arm minus each non-reasoning arm")
Z_ALPHA, Z_POWER = 1.959964, 0.841621  # two-sided 0.05, power 0.80
TARGETS = (0.3, 0.5)


class StudySettings(StrictModel):
    """What the study claims, fixed before it runs (written in the config and the report)."""

    primary_endpoint: str = Field(ENDPOINT, description="The pre-registered primary endpoint (text shown in the report).")
    reasoning_arms: list[str] | None = Field(None, description="Arms on the reasoning side of the primary contrast "
                                                               "(None: the judges whose style is reasoning).")
    non_reasoning_arms: list[str] | None = Field(None, description="Arms on the non-reasoning side (None: the judges "
                                                                   "whose style is direct, and reward models).")
    bootstrap: int = Field(2000, ge=100, description="Hierarchical bootstrap resamples.")
    seed: int = 0


class ArmEstimate(ResultModel):
    arm: str
    side: Literal["reasoning", "non-reasoning", "ablation"]  # ablation: named in neither list, no primary contrast
    mean: float
    ci95: list[float]
    judge_seeds: int
    policy_seeds: int  # per judge seed (the smallest)
    n_prompts: int
    at_chance: bool


class Contrast(ResultModel):
    reasoning: str
    minus: str
    diff: float
    ci95: list[float]
    mdd: float | None
    mdd_is_lower_bound: bool


class VarianceComponents(ResultModel):
    prompt: float | None
    policy: float | None
    judge: float | None
    arm_prompt: float | None = None  # files written before this field: read as not measured


class ContrastResult(ResultFile):
    """``eval/contrast.json``: the study's headline."""

    schema_: Literal["judgelab.contrast/v1"] = Field("judgelab.contrast/v1", alias="schema")
    primary_endpoint: str
    arms: list[ArmEstimate]
    contrasts: list[Contrast]
    variance: VarianceComponents
    design: dict[str, int]
    judge_seeds_needed: dict[str, int | None]
    notes: list[str]


Gains = dict[str, dict[int, dict[int, dict[str, float]]]]  # arm -> judge seed -> policy seed -> prompt -> gain


def _policy_gains(rd: RunDir, r: PolicyEvalResult) -> dict[str, float]:
    if len(r.rows) < 2:
        return {}
    primary = r.rows[0].decoding
    first = prompt_means(read_eval_samples(rd, r.policy, r.rows[0].step), "gold_score", decoding=primary)
    last = prompt_means(read_eval_samples(rd, r.policy, r.rows[-1].step), "gold_score", decoding=primary)
    return {p: last[p] - first[p] for p in last if p in first}


def collect_gains(rd: RunDir) -> tuple[Gains, dict[str, str]]:
    """Study policies' per-prompt gains by arm, judge seed and policy seed; arm -> its judge's style."""
    gains: Gains = defaultdict(lambda: defaultdict(dict))
    styles: dict[str, str] = {}
    for path in rd.policy_evals():
        try:
            r = PolicyEvalResult.read(path)
        except DataError:
            continue
        if r.role != "study":
            continue
        meta_path = rd.policy_file(r.policy)
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        arm = meta.get("arm") or r.proxy_judge
        judge_seed = int(meta.get("judge_seed") or 0)
        policy_seed = int((meta.get("grpo") or {}).get("seed", 0))
        g = _policy_gains(rd, r)
        if g:
            gains[arm][judge_seed][policy_seed] = g
            judge = meta.get("judge")
            styles[arm] = _style_of(judge, r.proxy_judge)
    return gains, styles


def _style_of(judge: Any, name: str) -> str:
    """'reasoning' or 'direct': the trained judge's style from its ``judgelab_judge.json``, else
    from its name."""
    from pathlib import Path

    from judgelab.judges.registry import JUDGE_FILE

    if isinstance(judge, str) and (Path(judge) / JUDGE_FILE).exists():
        try:
            style = json.loads((Path(judge) / JUDGE_FILE).read_text()).get("judge", {}).get("style")
        except (OSError, json.JSONDecodeError, AttributeError):
            style = None
        if style:
            return str(style)
    return "reasoning" if "reasoning" in name else "direct"


def _mean_over(pol: dict[str, float], prompts: Any) -> float:
    vals = [pol[p] for p in prompts if p in pol]
    return float(np.mean(vals)) if vals else float("nan")


def _arm_mean(arm: dict[int, dict[int, dict[str, float]]], prompts: list[str]) -> float:
    """Mean over judge seeds of the mean over their policy seeds of the mean over prompts."""
    return float(np.nanmean([np.nanmean([_mean_over(pol, prompts) for pol in judge.values()]) for judge in arm.values()]))


def _resample_arm(rng: np.random.Generator, arm: dict[int, dict[int, dict[str, float]]], prompts: np.ndarray) -> float:
    """One hierarchical resample: judge seeds with replacement, policy seeds with replacement within
    each drawn judge seed, over the (already drawn) prompts."""
    judges = list(arm.values())
    judge_means = []
    for j in rng.integers(0, len(judges), len(judges)):
        pols = list(judges[int(j)].values())
        judge_means.append(np.nanmean([_mean_over(pols[int(s)], prompts) for s in rng.integers(0, len(pols), len(pols))]))
    return float(np.nanmean(judge_means))


def _policy_prompt_matrix(arm: dict[int, dict[int, dict[str, float]]]) -> tuple[list[str], np.ndarray] | None:
    """The prompts every policy of the arm has gains on (sorted) and the policies x those prompts
    matrix of gains; None with fewer than two of either."""
    pols = [pol for judge in arm.values() for pol in judge.values()]
    shared = sorted(set.intersection(*(set(pol) for pol in pols))) if pols else []
    if len(pols) < 2 or len(shared) < 2:
        return None
    return shared, np.asarray([[pol[q] for q in shared] for pol in pols], dtype=float)


def _interaction(m: np.ndarray) -> float:
    """The prompt x policy interaction variance of a policies x prompts matrix (two-way residuals)."""
    r = m - m.mean(axis=0, keepdims=True) - m.mean(axis=1, keepdims=True) + m.mean()
    return float((r ** 2).sum() / ((m.shape[0] - 1) * (m.shape[1] - 1)))


def _arm_prompt(mats: dict[str, tuple[list[str], np.ndarray]], inter: dict[str, float]) -> float | None:
    """The squared SE over prompts of the prompt effects that differ between arms (mean over pairs
    of arms with an interaction estimate): var_p(arm a's per-prompt mean - arm b's) less the
    interaction's share of it (inter / policies, each arm), over the prompts."""
    vals = []
    for a, b in itertools.combinations(sorted(mats), 2):
        (pa, ma), (pb, mb) = mats[a], mats[b]
        col_a, col_b = {q: i for i, q in enumerate(pa)}, {q: i for i, q in enumerate(pb)}
        both = sorted(col_a.keys() & col_b.keys())
        if len(both) < 2:
            continue
        d = ma[:, [col_a[q] for q in both]].mean(axis=0) - mb[:, [col_b[q] for q in both]].mean(axis=0)
        spread = float(np.var(d, ddof=1)) - inter[a] / ma.shape[0] - inter[b] / mb.shape[0]
        vals.append(max(0.0, spread) / len(both))
    return float(np.mean(vals)) if vals else None


def variance_components(gains: Gains) -> VarianceComponents:
    se2, within, between, s_sizes, inter_se2 = [], [], [], [], []
    mats: dict[str, tuple[list[str], np.ndarray]] = {}  # arm -> (shared prompts, policies x prompts gains)
    inter: dict[str, float] = {}
    for name, arm in gains.items():
        pm = _policy_prompt_matrix(arm)
        if pm is not None:
            mats[name] = pm
            inter[name] = _interaction(pm[1])
            inter_se2.append(inter[name] / pm[1].shape[1])
        judge_means = []
        for judge in arm.values():
            pol_means = []
            for pol in judge.values():
                v = np.asarray(list(pol.values()))
                if len(v) > 1:
                    se2.append(float(v.var(ddof=1) / len(v)))
                pol_means.append(float(v.mean()))
            if len(pol_means) > 1:
                within.append(float(np.var(pol_means, ddof=1)))
            s_sizes.append(len(pol_means))
            judge_means.append(float(np.mean(pol_means)))
        if len(judge_means) > 1:
            between.append(float(np.var(judge_means, ddof=1)))
    # The interaction where some arm has two policies; else (one policy per arm) each policy's own SE².
    prompt = float(np.mean(inter_se2)) if inter_se2 else float(np.mean(se2)) if se2 else None
    policy = max(0.0, float(np.mean(within)) - (prompt or 0.0)) if within else None
    judge = None
    if between:
        s = min(s_sizes) if s_sizes else 1
        judge = max(0.0, float(np.mean(between)) - ((policy or 0.0) + (prompt or 0.0)) / s)
    return VarianceComponents(prompt=prompt, policy=policy, judge=judge, arm_prompt=_arm_prompt(mats, inter))


def _arm_var(v: VarianceComponents, J: int, S: int, prompt_scale: float) -> float:
    return (v.judge or 0.0) / J + ((v.policy or 0.0) + (v.prompt or 0.0) * prompt_scale) / (J * S)


def _se_contrast(v: VarianceComponents, J: int, S: int, prompt_scale: float = 1.0,
                 other: VarianceComponents | None = None) -> float:
    # The between-arm prompt term belongs to the contrast, not to either side: the larger where both sides give one.
    arm_prompt = max((c.arm_prompt for c in (v, other or v) if c.arm_prompt is not None), default=0.0)
    return math.sqrt(_arm_var(v, J, S, prompt_scale) + _arm_var(other or v, J, S, prompt_scale)
                     + arm_prompt * prompt_scale)


def minimum_detectable_difference(v: VarianceComponents, judge_seeds: int, policy_seeds: int,
                                  prompt_scale: float = 1.0, other: VarianceComponents | None = None) -> float:
    """The contrast a design of ``judge_seeds`` x ``policy_seeds`` per arm detects with power 0.80
    (two-sided 0.05), from measured components; ``prompt_scale``: measured prompts / design prompts
    (the prompt component is a squared standard error over prompts); ``other``: the second arm's
    components where the two sides differ (None: both arms have ``v``). Judge variance None counts as 0
    (the result is then a lower bound), and so does a None policy or prompt component."""
    return (Z_ALPHA + Z_POWER) * _se_contrast(v, judge_seeds, policy_seeds, prompt_scale, other)


def judge_seeds_needed(v: VarianceComponents, target: float, policy_seeds: int, prompt_scale: float = 1.0,
                       most: int = 200, other: VarianceComponents | None = None) -> int | None:
    """The fewest judge seeds per arm whose minimum detectable difference is <= ``target``; None when
    judge or prompt variance was not measured (on either side), or more than ``most`` would be needed."""
    if any(c.judge is None or c.prompt is None for c in (v, other or v)):
        return None
    return next((j for j in range(1, most + 1)
                 if minimum_detectable_difference(v, j, policy_seeds, prompt_scale, other) <= target), None)


def study_contrast(run_dir: str, settings: StudySettings | None = None) -> ContrastResult | None:
    """The contrast table of a run's study policies; None when fewer than one reasoning and one
    non-reasoning arm have evaluated policies."""
    from judgelab.evaluate.judges.gate import read_gate

    st = settings or StudySettings()
    rd = RunDir(run_dir)
    gains, styles = collect_gains(rd)
    def side_of(a: str) -> str:
        by_style = "reasoning" if styles.get(a) == "reasoning" else "non-reasoning"
        if st.reasoning_arms is None and st.non_reasoning_arms is None:
            return by_style
        if a in (st.reasoning_arms or []):
            return "reasoning"
        if a in (st.non_reasoning_arms or []):
            return "non-reasoning"
        # one list given: the other side is what its style says; both given: an arm in neither is an ablation
        if st.reasoning_arms is not None and st.non_reasoning_arms is not None:
            return "ablation"
        return by_style if (by_style == "reasoning") == (st.reasoning_arms is None) else "ablation"

    side = {a: side_of(a) for a in gains}
    reasoning = sorted(a for a in gains if side[a] == "reasoning")
    others = sorted(a for a in gains if side[a] == "non-reasoning")
    if not reasoning or not others:
        return None
    try:
        gate = read_gate(rd.root)
    except DataError:
        gate = None
    at_chance = {j.judge for j in gate.judges if j.status == "at chance"} if gate else set()
    prompts = sorted({p for arm in gains.values() for judge in arm.values() for pol in judge.values() for p in pol})
    rng = np.random.default_rng(st.seed)
    boots: dict[str, list[float]] = {a: [] for a in gains}
    for _ in range(st.bootstrap):
        draw = np.asarray(prompts)[rng.integers(0, len(prompts), len(prompts))]
        for a in gains:
            boots[a].append(_resample_arm(rng, gains[a], draw))
    J = min(len(arm) for arm in gains.values())
    S = min(len(judge) for arm in gains.values() for judge in arm.values())
    v = variance_components(gains)
    lower = v.judge is None
    mdd = minimum_detectable_difference(v, J, S) if v.prompt is not None else None
    arms = [ArmEstimate(arm=a, side=side[a], mean=_arm_mean(gains[a], prompts),  # type: ignore[arg-type]
                        ci95=[float(x) for x in np.nanquantile(boots[a], [0.025, 0.975])],
                        judge_seeds=len(gains[a]), policy_seeds=min(len(j) for j in gains[a].values()),
                        n_prompts=len(prompts), at_chance=any(a == n or n.startswith(f"{a}-j") for n in at_chance))
            for a in sorted(gains)]
    means = {e.arm: e.mean for e in arms}
    contrasts = [Contrast(reasoning=r, minus=o, diff=means[r] - means[o],
                          ci95=[float(x) for x in np.nanquantile(np.asarray(boots[r]) - np.asarray(boots[o]), [0.025, 0.975])],
                          mdd=mdd, mdd_is_lower_bound=lower)
                 for r in reasoning for o in others]
    needed = {f"{t:g}": judge_seeds_needed(v, t, S) for t in TARGETS}
    notes = []
    if J < 2:
        notes.append("one judge seed per arm: the CI covers policy seeds and prompts, not judge-to-judge variance, and "
                     "the minimum detectable difference is a lower bound (set judge_seeds to measure it)")
    if S < 2:
        notes.append("one policy seed per judge: policy-seed variance is not measured (set policy.seeds)")
    if at_chance:
        notes.append(f"judges at chance (judge gate): {', '.join(sorted(at_chance))}: their arms say nothing about their kind")
    return ContrastResult(primary_endpoint=st.primary_endpoint, arms=arms, contrasts=contrasts, variance=v,
                          design={"judge_seeds": J, "policy_seeds": S, "prompts": len(prompts)},
                          judge_seeds_needed=needed, notes=notes)


def write_contrast(run_dir: str, settings: StudySettings | None = None) -> None:
    """Write ``eval/contrast.json`` (nothing when the run has no contrast to make)."""
    result = study_contrast(run_dir, settings)
    if result is not None:
        result.write(RunDir(run_dir).eval_dir / "contrast.json")
