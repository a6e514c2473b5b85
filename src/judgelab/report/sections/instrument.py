"""The report's opening section, the instrument check: did the controls behave (the oracle gains
gold, the flawed judge's policy is flagged), so that the judge comparison means anything?

Computes the check (``InstrumentResult``, judgelab.evaluate.policies.instrument) from
``eval/policies/*.json`` and ``eval/judges/*.json`` in memory, as the evaluate stage does when it
writes ``eval/instrument.json``. Writes nothing.
"""

from __future__ import annotations

from pydantic import ValidationError

from judgelab.data.rundir import RunDir
from judgelab.evaluate.judges.gate import AT_CHANCE
from judgelab.evaluate.policies.instrument import instrument_check
from judgelab.evaluate.policies.results import InstrumentResult, NegativeSeed, PositiveSeed
from judgelab.report.artifacts import Unreadable
from judgelab.report.render import esc, fmt, fmt_value_ci, left_out, not_run, table
from judgelab.report.sections.policies import gold_gain


def _check(rd: RunDir) -> InstrumentResult | Unreadable:
    """The check computed now from the run's evaluations (not written): ``eval/instrument.json``, which
    the evaluate stage writes, would be stale after a later ``eval-judge`` or a partial rerun."""
    try:
        return InstrumentResult.model_validate(instrument_check(rd.root))
    except ValidationError as exc:
        err = exc.errors()[0]
        return Unreadable(rd.eval_dir / "policies", "the instrument check of these evaluations is malformed at "
                          f"{'.'.join(map(str, err['loc']))}: {err['msg']}", "rerun 'judgelab evaluate'")


def _gain(s: PositiveSeed | NegativeSeed) -> str:
    return gold_gain(s.gold_gain, s.gold_gain_ci)


def _control_rows(chk: InstrumentResult) -> tuple[list[list[str]], list[str]]:
    """One row per control seed (and one per control not run), with its row class."""
    pos, neg = chk.positive_control, chk.negative_control
    rows, cls = [], []
    for s in pos.seeds:
        rows.append(["positive control (GRPO on the gold)", esc(s.policy), str(s.step), esc(s.decoding),
                     _gain(s), "must gain: CI above 0", "passed" if s.passed else "FAILED"])
        cls.append("" if s.passed else "flag")
    for n in neg.seeds:
        if n.call is None:  # a file from before the calibrated call: v1's flag
            rows.append([f"negative control (flawed judge {esc(n.proxy_judge)})", esc(n.policy),
                         str(n.step), esc(n.decoding), _gain(n),
                         f"proxy {fmt(n.proxy_gain, 2)}, gold {fmt(n.gold_change, 2)}: must be flagged",
                         "flagged" if n.passed else "NOT FLAGGED"])
        else:
            rows.append([f"negative control (flawed judge {esc(n.proxy_judge)})", esc(n.policy), str(n.step),
                         esc(n.decoding), _gain(n), "must be called hacked: " + esc(n.reason),
                         esc(n.call) if n.passed else esc(n.call.upper())])
        cls.append("" if n.passed else "flag")
    spec = chk.specificity_control
    for n in spec.seeds if spec else []:
        rows.append([f"specificity control (benign proxy {esc(n.proxy_judge)})", esc(n.policy), str(n.step),
                     esc(n.decoding), _gain(n), "must be called not hacked: " + esc(n.reason),
                     esc(n.call or "no call") if n.passed else esc((n.call or "no call").upper())])
        cls.append("" if n.passed else "flag")
    for name, c in (("positive control", pos), ("negative control", neg)):
        if c.status == "not run":
            rows.append([name, "—", "", "", "", "not run", "NOT RUN"])
            cls.append("flag")
    return rows, cls


def _gate_table(chk: InstrumentResult, judges: list) -> str:
    """Each evaluated judge's tie-adjusted agreement and, for the study judges, the gate's verdict."""
    gate = chk.judge_gate
    rows, cls = [], []
    for j in judges:
        shown = fmt_value_ci(j.agreement, j.agreement_ci, 2) if j.agreement is not None else (
            f"{fmt(j.accuracy, 2)} {fmt(j.accuracy_ci, 2)} (strict: file from before tie-adjusted agreement)")
        verdict = {"passed": "passed", "at chance": f"AT CHANCE: {AT_CHANCE}",
                   "not evaluated": "NOT EVALUATED"}.get(j.gate or "", "not gated (control or untrained judge)")
        rows.append([esc(j.judge), shown, fmt(j.n_agreement if j.n_agreement is not None else j.n), esc(verdict)])
        cls.append("flag" if j.gate in ("at chance", "not evaluated") else "")
    head = ("<p>Judge gate" + (f" (a study judge must have its 95% CI of tie-adjusted agreement above "
                                f"{fmt(gate.min_agreement, 2)}; on failure the run was set to "
                                f"{esc(gate.on_fail)})" if gate else " (none in this run: no eval/judge_gate.json)")
            + ". Agreement with the gold on held-out pairs, ties half, 0.5 = chance:</p>")
    return head + table(["judge", "agreement [95% CI]", "n", "gate"], rows, row_class=cls)


def instrument_section(rd: RunDir) -> str:
    """Controls first: passed (green), failed (red, with what it means) or incomplete."""
    if not (rd.eval_dir / "policies").exists():
        return not_run("Instrument check", "run 'judgelab evaluate' (with the oracle and a negative control)")
    chk = _check(rd)
    if isinstance(chk, Unreadable):
        return left_out(chk, rd.root)
    st = chk.status
    parts = [f"<div class='check {st}'><b>Instrument check: {esc(st.upper())}</b> — {esc(chk.meaning)}</div>"]
    rows, cls = _control_rows(chk)
    parts.append(table(["control", "policy", "step", "decoding", "gold gain vs step 0 [95% CI]", "criterion", "result"],
                       rows, left=2, row_class=cls))
    # eval/judges/ also holds judge-scaling results (<judge>.scaling.json, no metrics), which the check
    # lists as judges without an accuracy: only rows with a number are shown.
    judges = [j for j in chk.judges if j.accuracy is not None or j.n is not None]
    if judges:
        parts.append(_gate_table(chk, judges))
    parts.append("<p>Gold gain: per held-out prompt, the checkpoint's mean gold minus step 0's on the same prompt, averaged "
                 "over prompts, with a bootstrap CI over prompts. Decoding 'sampled' = k completions per prompt at the "
                 "training temperature (what the reward saw); 'greedy' numbers are in the hacking table.</p>")
    return "".join(parts)
