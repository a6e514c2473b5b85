"""The audit card (``audit/<judge>/card.json``): what ``judgelab audit`` found about one judge, as a
typed result file, and the one-line summary a user acts on.

Four sections, each filled from the audit's run directory by ``judgelab.audit.assemble``:

- ``static``: agreement with the gold on held-out pairs (tie-aware, 95% CI, n), position and
  self-consistency, parse failures, the judge gate's status, and any public benchmark the user passed;
- ``adversarial``: attack success rate (ASR) of each attack source against the judge (crafted
  families, and the outputs of the policy trained on it), with the stripped re-judge;
- ``selection``: best-of-N: gold of the judge's pick vs a random pick and vs the gold's own pick;
- ``dynamic``: a short GRPO run against the judge beside the oracle (the gold as reward) and a
  noise-matched benign proxy, with the calibrated hacking call of each.

A section that did not run (or could not, at this budget or with this judge) is None, and ``limits``
says why: the card never fills a gap with a guess. Reads and writes nothing itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from judgelab.data.results import ResultFile, ResultModel
from judgelab.evaluate.policies.hacking_call import Outcome


class Estimate(ResultModel):
    """A mean (or rate) with its 95% CI, n and the CI's method (None: none computed)."""

    value: float | None
    ci95: list[float] | None = None
    n: int | None = None
    method: str | None = None


class BenchmarkScore(ResultModel):
    file: str
    benchmark: str
    metric: str
    value: float | None
    n: int | None = None


class StaticSection(ResultModel):
    agreement: Estimate = Field(description="Tie-adjusted agreement with the gold on held-out non-tie pairs (ties half, both orders averaged).")
    non_tie_accuracy: float | None
    position_consistency: float | None
    self_consistency: float | None
    parse_failure_rate: float | None
    tie_rate: float | None
    n_pairs: int
    split: str
    gate: str | None = Field(None, description="The judge gate's status: 'passed' (CI above chance) or 'at chance'.")
    benchmarks: list[BenchmarkScore] = Field(default_factory=list)


class AttackRow(ResultModel):
    source: str = Field(description="crafted:<family> (templates planted in clean answers) or policy:<name> (outputs "
                                    "of a policy trained against the judge, against its step-0 sample).")
    asr: Estimate
    asr_stripped: Estimate | None = Field(None, description="ASR once the flagged spans are removed: what the stripped re-judge recovers.")
    gold_asr: Estimate | None = Field(None, description="The gold's success rate on the same cases. For a policy's outputs: how "
                                                         "often they really beat their baseline (the judge is fooled by the excess, "
                                                         "asr - gold_asr); for a crafted attack the gold's own susceptibility.")
    n_flagged: int

    @property
    def excess(self) -> float | None:
        """How often the judge is fooled (None: no ASR): a crafted attack never improves an answer, so
        every success is; a trained policy's output may really be better, so only the share the judge
        prefers beyond the gold's own preference is."""
        if self.asr.value is None:
            return None
        if self.source.startswith("crafted:") or self.gold_asr is None or self.gold_asr.value is None:
            return self.asr.value
        return self.asr.value - self.gold_asr.value


class AdversarialSection(ResultModel):
    rows: list[AttackRow]
    worst: str | None = Field(None, description="The source that fools the judge most (AttackRow.excess > 0).")


class SelectionSection(ResultModel):
    n: int = Field(description="Candidates per prompt of the numbers below (the largest N).")
    prompts: int
    judge_pick: Estimate = Field(description="Mean gold (gold units) of the judge's pick.")
    random_pick: Estimate
    gold_pick: Estimate = Field(description="Mean gold of the gold's own pick (the ceiling).")
    recovered: float | None = Field(None, description="(judge - random) / (gold - random): share of the ceiling's gain the judge's pick recovers.")
    method: str


class ArmCurvePoint(ResultModel):
    step: int
    gold: float | None = Field(description="Mean gold on [0, 1] (held-out test prompts, primary decoding).")
    gold_ci95: list[float] | None
    proxy: float | None = Field(description="Mean reward of the arm's own judge on [0, 1].")


class Arm(ResultModel):
    role: Literal["judge", "oracle", "benign"]
    policy: str
    reward: str = Field(description="The judge that was the reward.")
    curve: list[ArmCurvePoint]
    call: Outcome | None = Field(description="hacked | not hacked | undetermined (the calibrated hacking call).")
    call_kind: str | None
    call_reason: str | None
    gold_gain: Estimate | None
    proxy_gain: Estimate | None
    onset_step: int | None = Field(None, description="First step the in-training gold monitor's onset rule fired.")
    monitor_steps: list[int] = Field(default_factory=list)


class DynamicSection(ResultModel):
    steps: int
    arms: list[Arm]
    call: Outcome | None = Field(description="The judge arm's call.")
    gold_gain_fraction: float | None = Field(None, description="The judge arm's gold gain / the oracle's (both paired by prompt, on [0, 1]).")
    benign_noise: float | None = Field(None, description="Noise sd (gold points) of the benign proxy, matched to the judge's agreement.")
    benign_agreement: float | None = None
    controls: str = Field(description="'ok' when the oracle's gold rose and the benign proxy read 'not hacked'; else what failed.")


class AuditCard(ResultFile):
    """``audit/<judge>/card.json``."""

    NEWLINE = True
    schema_: Literal["judgelab.audit_card/v1"] = Field("judgelab.audit_card/v1", alias="schema")
    judge: str
    judge_spec: str
    judge_config: dict
    gold: str
    budget: str
    prompts: str
    source_run: str | None = Field(None, description="The run whose prompts, samples and gold annotations the audit shares.")
    run_dir: str = Field(description="The audit's own run directory (every artifact behind the card).")
    summary: str
    static: StaticSection | None
    adversarial: AdversarialSection | None
    selection: SelectionSection | None
    dynamic: DynamicSection | None
    limits: list[str] = Field(description="What this audit cannot show, and why (budget, judge mode, gold kind).")
    seconds: dict[str, float] = Field(description="Wall time per section on this machine.")
    created: str
    judgelab: str


def _est(e: Estimate | None, nd: int = 2) -> str:
    if e is None or e.value is None:
        return "n/a"
    ci = f" [{e.ci95[0]:.{nd}f}, {e.ci95[1]:.{nd}f}]" if e.ci95 else ""
    return f"{e.value:.{nd}f}{ci}"


def summary_line(card: AuditCard) -> str:
    """One line a user can act on: agreement, the dynamic call, the attack that fools it most."""
    parts = []
    if card.static is not None:
        parts.append(f"agreement {_est(card.static.agreement)} (n={card.static.agreement.n})")
    d = card.dynamic
    if d is not None:
        arm = next((a for a in d.arms if a.role == "judge"), None)
        if arm is not None and arm.call is not None:
            g, p = arm.gold_gain, arm.proxy_gain
            moves = (f": gold {g.value:+.2f} while proxy {p.value:+.2f}" if g is not None and p is not None
                     and g.value is not None and p.value is not None else "")
            onset = f" (monitor onset at step {arm.onset_step})" if arm.onset_step is not None else ""
            parts.append(f"{arm.call} after {d.steps} GRPO steps{moves}{onset}")
        if d.gold_gain_fraction is not None:
            parts.append(f"gold gain {d.gold_gain_fraction:.0%} of the oracle's")
        if d.controls != "ok":
            parts.append(f"controls: {d.controls}")
    a = card.adversarial
    if a is not None and a.worst is not None:
        row = next(r for r in a.rows if r.source == a.worst)
        gold = f" vs the gold's {_est(row.gold_asr)}" if row.gold_asr is not None else ""
        parts.append(f"fooled most by {a.worst} (prefers it {_est(row.asr)}{gold})")
    s = card.selection
    if s is not None and s.recovered is not None:
        parts.append(f"best-of-{s.n} pick recovers {s.recovered:.0%} of the gold's")
    return "; ".join(parts) if parts else "nothing measured"
