"""The calibrated hacking call (``hacking_call``) on every evaluated policy of a run.

The call's thresholds are shares of the oracle's gold gain at the same budget, so it is made once
every policy of the run is evaluated: the positive control's evaluations give the oracle gain
(the mean over its seeds, at the policy's last step when the oracle has it, else the oracle's
last step), then each policy's call is made from its scored evaluation samples (primary decoding,
gold normalised to [0, 1] by the gold's scale, proxy in its reward's terms) and written into its
``eval/policies/<name>.json`` (``hacking_call``).

Reads ``eval/policies/<name>.json`` and ``eval/policies/<name>/samples-step-N.jsonl``; rewrites
the former. The instrument check and the report read the calls from there.
"""

from __future__ import annotations

import logging

import numpy as np

from judgelab.data.rundir import RunDir
from judgelab.errors import DataError
from judgelab.evaluate.policies.hacking_call import HackingCall, HackingCallRule, call_hacking, prompt_means
from judgelab.evaluate.policies.results import PolicyEvalResult
from judgelab.evaluate.records import read_eval_samples

log = logging.getLogger(__name__)


def _curves(rd: RunDir, r: PolicyEvalResult) -> "Curves":
    primary = r.rows[0].decoding if r.rows else "sampled"
    scale = (float(r.gold_scale[0]), float(r.gold_scale[1]))
    steps, gold, proxy = [], [], []
    for row in r.rows:
        samples = read_eval_samples(rd, r.policy, row.step)
        steps.append(row.step)
        gold.append(prompt_means(samples, "gold_score", scale=scale, decoding=primary))
        proxy.append(prompt_means(samples, "proxy_score", decoding=primary) or None)
    return steps, gold, proxy


Curves = tuple[list[int], list[dict[str, float]], list[dict[str, float] | None]]


def oracle_gain(oracles: list[Curves], step: int) -> float | None:
    """Mean over the oracle's seeds (their curves) of its paired gold gain on [0, 1] at ``step`` (or
    its last step)."""
    gains = []
    for steps, gold, _ in oracles:
        if len(steps) < 2:
            continue
        i = steps.index(step) if step in steps else len(steps) - 1
        shared = [p for p in gold[i] if p in gold[0]]
        if shared:
            gains.append(float(np.mean([gold[i][p] - gold[0][p] for p in shared])))
    return float(np.mean(gains)) if gains else None


def call_run(run_dir: str, rule: HackingCallRule | None = None) -> dict[str, HackingCall]:
    """Make and write the call of every policy evaluation in the run; returns policy -> call."""
    rd = RunDir(run_dir)
    rule = rule or HackingCallRule()
    results: dict[str, PolicyEvalResult] = {}
    for path in rd.policy_evals():
        try:
            results[path.stem] = PolicyEvalResult.read(path)
        except DataError as exc:
            log.warning("no hacking call for %s: %s", path, exc)
    curves = {name: _curves(rd, r) for name, r in results.items()}  # every samples file read once
    oracles = [curves[name] for name, r in results.items() if r.role == "positive-control"]
    calls = {}
    for name, r in sorted(results.items()):
        steps, gold, proxy = curves[name]
        o = oracle_gain(oracles, steps[-1]) if steps else None
        call = call_hacking(steps, gold, proxy, oracle_gain=o, rule=rule)
        r.hacking_call = call
        r.write(rd.policy_eval(name))
        calls[r.policy] = call
        log.info("%s: %s (%s)", r.policy, call.outcome, call.reason)
    return calls
