"""Variance components of a pilot run (examples/pilot.yaml) and what they mean for a study design.

    python3 scripts/pilot_variance.py runs/pilot [runs/pilot-reasoning ...] [--design-prompts 48] [--policy-seeds 2]

Reads the runs' evaluated study policies (judgelab.evaluate.policies.contrast.collect_gains: the
primary endpoint, final sampled gold gain over step 0 paired by prompt), prints per arm and pooled
the prompt / policy-seed / judge-seed components (method of moments, gold points squared), then the
minimum detectable difference (power 0.80, two-sided 0.05) of a reasoning-vs-non-reasoning contrast
at 1-12 judge seeds per arm and the judge seeds a 0.3- and a 0.5-point contrast need, with the
prompt component scaled to the design's number of test prompts.
A pilot may run in parts (one arm per run folder, e.g. the reasoning arm with
`--set judges=[...]`): several folders are read as one pilot, each arm from exactly one of them.
Two judge seeds per arm estimate a variance with one degree of freedom per arm: the numbers size a
design, they do not bound it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from judgelab.data.rundir import RunDir
from judgelab.evaluate.policies.contrast import (TARGETS, VarianceComponents, collect_gains, judge_seeds_needed,
                                                 minimum_detectable_difference, variance_components)


def _fmt(x: float | None) -> str:
    return "not estimable" if x is None else f"{x:.4f}"


def merged_gains(runs: list[str]) -> tuple[dict, dict[str, str]]:
    """The study policies' gains of several run folders, arm by arm, and each arm's judge style; an arm
    in two folders is an error (its seeds would collide)."""
    gains: dict = {}
    where: dict[str, str] = {}
    styles: dict[str, str] = {}
    for run in runs:
        if not Path(run).is_dir():
            raise SystemExit(f"error: {run}: no such run folder (run `judgelab run examples/pilot.yaml` first)")
        part, part_styles = collect_gains(RunDir(run))
        if not part:
            raise SystemExit(f"error: {run}: no evaluated study policies (run `judgelab run examples/pilot.yaml` "
                             "to the end: the evaluate stage writes them)")
        for arm, by_judge in part.items():
            if arm in gains:
                raise SystemExit(f"error: arm {arm!r} is in both {where[arm]} and {run}: give each arm's run once")
            gains[arm], where[arm], styles[arm] = by_judge, run, part_styles[arm]
    return gains, styles


def _design(v: VarianceComponents, other: VarianceComponents | None, scale: float, policy_seeds: int,
            design_prompts: int) -> dict:
    """Print and return the minimum detectable contrast at 1-12 judge seeds per arm and the judge seeds
    a 0.3- and a 0.5-point contrast need (``other``: the second side's components, None: the same)."""
    out: dict = {"mdd": {}, "judge_seeds_needed": {}}
    unmeasured = any(c.judge is None for c in (v, other or v))
    print(f"minimum detectable contrast at {design_prompts} prompts x {policy_seeds} policy seeds per judge "
          f"seed{' (judge variance not measured: lower bounds)' if unmeasured else ''}:")
    for j in (1, 2, 3, 5, 8, 12):
        mdd = minimum_detectable_difference(v, j, policy_seeds, scale, other)
        out["mdd"][str(j)] = mdd
        print(f"  {j:2d} judge seeds per arm: {mdd:.3f} gold points")
    for t in TARGETS:
        n = judge_seeds_needed(v, t, policy_seeds, scale, other=other)
        out["judge_seeds_needed"][f"{t:g}"] = n
        print(f"judge seeds per arm for a {t:g}-point contrast: "
              + (str(n) if n is not None else "not estimable (judge variance not measured) or > 200"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="run", help="the pilot's run folder(s); each arm must come from one")
    ap.add_argument("--design-prompts", type=int, default=48, help="test prompts of the design (examples/study.yaml: 48)")
    ap.add_argument("--policy-seeds", type=int, default=2, help="policy seeds per judge seed in the design")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()
    gains, styles = merged_gains(args.runs)
    out: dict = {"runs": args.runs, "arms": {}, "design_prompts": args.design_prompts, "policy_seeds": args.policy_seeds}
    n_prompts = 0
    for arm in sorted(gains):
        v = variance_components({arm: gains[arm]})
        means = {j: {s: sum(p.values()) / len(p) for s, p in pols.items()} for j, pols in gains[arm].items()}
        n_prompts = max(n_prompts, *(len(p) for pols in gains[arm].values() for p in pols.values()))
        out["arms"][arm] = {"variance": v.model_dump(), "policy_means": {str(j): {str(s): m for s, m in ms.items()}
                                                                         for j, ms in means.items()}}
        print(f"{arm}: mean gain per (judge seed, policy seed): "
              + "; ".join(f"j{j}: " + ", ".join(f"s{s} {m:+.3f}" for s, m in ms.items()) for j, ms in means.items()))
        print(f"  components: prompt {_fmt(v.prompt)}, policy seed {_fmt(v.policy)}, judge seed {_fmt(v.judge)}")
    pooled = variance_components(gains)
    out["pooled"] = pooled.model_dump()
    out["measured_prompts"] = n_prompts
    print(f"pooled ({len(gains)} arms, {n_prompts} test prompts): prompt {_fmt(pooled.prompt)}, "
          f"policy seed {_fmt(pooled.policy)}, judge seed {_fmt(pooled.judge)}, "
          f"between-arm prompt effects {_fmt(pooled.arm_prompt)}")
    scale = n_prompts / args.design_prompts
    out.update(_design(pooled, None, scale, args.policy_seeds, args.design_prompts))
    sides = {name: {a: gains[a] for a in gains if (styles[a] == "reasoning") == (name == "reasoning")}
             for name in ("reasoning", "non-reasoning")}
    if all(sides.values()):
        # The pooled components assume every arm varies alike; each side's own components drop that assumption.
        # The between-arm prompt term is a property of arm pairs, not of a side: the pooled one on both sides.
        vs = {name: variance_components(g).model_copy(update={"arm_prompt": pooled.arm_prompt})
              for name, g in sides.items()}
        out["sides"] = {name: {"arms": sorted(g), "variance": vs[name].model_dump()} for name, g in sides.items()}
        for name, v in vs.items():
            print(f"{name} side ({', '.join(sorted(sides[name]))}): prompt {_fmt(v.prompt)}, "
                  f"policy seed {_fmt(v.policy)}, judge seed {_fmt(v.judge)}")
        print("a reasoning-vs-non-reasoning contrast with each side's own components:")
        out["sides"]["design"] = _design(vs["reasoning"], vs["non-reasoning"], scale, args.policy_seeds,
                                         args.design_prompts)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
