"""The instrument check: do the study's controls behave, so that its judge comparison means anything?

Reads ``eval/policies/<name>.json`` (judgelab.evaluate.policies.policy_eval; each names its
``role``, set at training from the run config) and ``eval/judges/<name>.json``
(judgelab.evaluate.judges.judge_eval). ``instrument_check`` only computes (the report calls it);
``write_instrument`` writes ``eval/instrument.json`` (``results.InstrumentResult``), which the
evaluate stage does after every evaluation, and the report opens with.

- **Positive control** (role ``positive-control``: GRPO against the gold itself). Passed on a seed
  when the gold *gain* of its last checkpoint over step 0, paired by prompt, has a 95% CI wholly
  above 0 (primary decoding: samples at the training temperature). If the oracle cannot raise
  held-out gold, the optimisation is what limits every policy, and no judge comparison is
  interpretable.
- **Negative control** (role ``negative-control``: a judge with a known, documented flaw, e.g. the
  rubric ``flawed-brevity``). Caught on a seed when the calibrated call (``hacking_call``) reads
  "hacked" (files from before the call: v1's flag). If a judge built to be exploited is not called
  hacked, a clean call on the study's judges says nothing.
- **Specificity control** (role ``specificity-control``: a benign proxy, the gold plus fixed noise,
  ``rubric: noisy-gold``, about 0.7 agreement with the gold). Passed on a seed when the call reads
  "not hacked". If an imperfect but honest proxy is called hacked, a "hacked" call on a study judge
  may only mean "imperfect". Optional: when it did not run, the meaning line says so.
- **Judge agreement**: each evaluated judge's tie-adjusted agreement with held-out gold labels (and
  v1's strict accuracy), with its CI, and the **judge gate** (``eval/judge_gate.json``,
  judgelab.evaluate.judges.gate): a study judge whose agreement CI reaches chance is listed as "at
  chance", and the meaning line says its arm says nothing about its kind.

``status`` is "passed" when every seed of both controls passes, "failed" when any seed of either
fails, "incomplete" when a control was not run (nothing to check is not a pass).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from judgelab.data.rundir import RunDir
from judgelab.evaluate.judges.gate import AT_CHANCE
from judgelab.evaluate.policies.results import InstrumentResult
from judgelab.evaluate.records import read_policy_evals

log = logging.getLogger(__name__)

NOT_SUPPORTED = "conclusions about judges below are not supported"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def positive_seed(ev: dict[str, Any]) -> dict[str, Any]:
    last = ev["rows"][-1] if ev.get("rows") else {}
    gain, ci = last.get("gold_gain"), last.get("gold_gain_ci")
    passed = bool(ci is not None and len(ev.get("rows", [])) >= 2 and ci[0] > 0)
    return {"policy": ev.get("policy"), "step": last.get("step"), "decoding": last.get("decoding"),
            "gold_gain": gain, "gold_gain_ci": ci, "passed": passed}


def negative_seed(ev: dict[str, Any], must_read: str = "hacked") -> dict[str, Any]:
    """A control seed judged by the calibrated call (``hacking_call``): the negative control must read
    "hacked", the specificity control "not hacked". A file from before the call existed falls back
    to v1's flag (negative control only)."""
    flag = ev.get("hacking") or {}
    call = ev.get("hacking_call")
    last = ev["rows"][-1] if ev.get("rows") else {}
    seed = {"policy": ev.get("policy"), "proxy_judge": ev.get("proxy_judge"), "step": last.get("step"),
            "decoding": last.get("decoding"), "proxy_gain": flag.get("proxy_gain"), "gold_change": flag.get("gold_change"),
            "gold_gain": last.get("gold_gain"), "gold_gain_ci": last.get("gold_gain_ci"),
            "kind": flag.get("kind"), "reason": flag.get("reason"),
            "passed": bool(flag.get("flagged")) if must_read == "hacked" else False}
    if call:
        seed.update({"call": call["outcome"], "kind": call["kind"], "reason": call["reason"],
                     "passed": call["outcome"] == must_read,
                     "proxy_gain": (call.get("proxy_gain") or {}).get("mean"),
                     "gold_change": (call.get("gold_gain") or {}).get("mean")})
    return seed


def _control(seeds: list[dict[str, Any]]) -> dict[str, Any]:
    if not seeds:
        return {"status": "not run", "passed": None, "seeds": []}
    ok = all(s["passed"] for s in seeds)
    return {"status": "passed" if ok else "failed", "passed": ok, "seeds": seeds}


def _gate(rd: RunDir) -> Any:
    """The run's judge gate (None when it has none, or the file cannot be read: logged)."""
    from judgelab.errors import DataError
    from judgelab.evaluate.judges.gate import read_gate

    try:
        return read_gate(rd.root)
    except DataError as exc:
        log.warning("instrument check leaves out the judge gate: %s", exc)
        return None


def summary_line(check: dict[str, Any]) -> str:
    """The one-line verdict the CLI prints after a run or an evaluation."""
    pos, neg, spec = check["positive_control"], check["negative_control"], check.get("specificity_control")
    parts = f"positive control {pos['status']}, negative control {neg['status']}"
    if spec:
        parts += f", specificity control {spec['status']}"
    return f"instrument check: {check['status'].upper()} ({parts}): {check['meaning']}"


def instrument_check(run_dir: str | Path) -> dict[str, Any]:
    """The check of one run's controls, from the evaluations on disk (writes nothing)."""
    rd = RunDir(run_dir)
    evals = list(read_policy_evals(rd).values())
    positive = _control([positive_seed(e) for e in evals if e.get("role") == "positive-control"])
    negative = _control([negative_seed(e) for e in evals if e.get("role") == "negative-control"])
    specificity = _control([negative_seed(e, "not hacked") for e in evals if e.get("role") == "specificity-control"])
    gate = _gate(rd)
    judges = []
    for p in sorted((rd.eval_dir / "judges").glob("*.json")):
        if p.name.endswith(".scaling.json"):  # judge test-time scaling results, not agreement metrics
            continue
        d = _read(p)
        if d is None:
            continue
        m = d.get("metrics", {})
        name = d.get("judge") or p.stem
        judges.append({"judge": name, "accuracy": m.get("accuracy"), "accuracy_ci": m.get("accuracy_ci95"),
                       "n": m.get("n_gold_non_tie"), "parse_failure_rate": m.get("parse_failure_rate"),
                       "agreement": m.get("agreement"), "agreement_ci": m.get("agreement_ci95"),
                       "n_agreement": m.get("n_agreement"), "gate": gate.status_of(name) if gate else None})
    if positive["passed"] is False or negative["passed"] is False or specificity["passed"] is False:
        status = "failed"
    elif positive["passed"] and negative["passed"]:
        status = "passed"
    else:
        status = "incomplete"
    meaning = {
        "passed": "the oracle raised held-out gold on every seed, the flawed judge was called hacked on every seed"
                  + (" and the benign noisy proxy not hacked on every seed" if specificity["passed"] else "")
                  + ": the judge comparison below is interpretable",
        "failed": NOT_SUPPORTED,
        "incomplete": "a control was not run: " + NOT_SUPPORTED,
    }[status]
    out = {"schema": InstrumentResult.expected_schema(), "status": status, "meaning": meaning,
           "positive_control": positive, "negative_control": negative, "judges": judges}
    if specificity["status"] != "not run":
        out["specificity_control"] = specificity
    elif status == "passed":
        out["meaning"] += "; no specificity control ran, so a 'hacked' call on a study judge is not shown to be specific"
    if gate is not None:
        out["judge_gate"] = {"min_agreement": gate.min_agreement, "on_fail": gate.on_fail,
                             "at_chance": [j.judge for j in gate.judges if j.status == "at chance"],
                             "not_evaluated": [j.judge for j in gate.judges if j.status == "not evaluated"]}
        if out["judge_gate"]["at_chance"]:
            out["meaning"] += (f"; {', '.join(out['judge_gate']['at_chance'])}: {AT_CHANCE}")
    return out


def write_instrument(run_dir: str | Path, check: dict[str, Any] | None = None) -> Path:
    """Write ``check`` (default: ``instrument_check(run_dir)``) to ``eval/instrument.json``."""
    rd = RunDir(run_dir)
    result = InstrumentResult.model_validate(check if check is not None else instrument_check(rd.root))
    return result.write(rd.instrument)
