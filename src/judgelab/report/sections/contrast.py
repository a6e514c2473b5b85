"""The report's headline after the instrument check: the arm-vs-arm contrast of the pre-registered
primary endpoint with its hierarchical bootstrap CI and the minimum detectable difference
(judgelab.evaluate.policies.contrast), whatever the result is.

Reads ``eval/contrast.json`` (``ContrastResult``, written by the evaluate stage); without it,
computes the contrast in memory with default settings. Writes nothing.
"""

from __future__ import annotations

from judgelab.data.rundir import RunDir
from judgelab.evaluate.policies.contrast import Contrast, ContrastResult, study_contrast
from judgelab.report.artifacts import Unreadable, read_result
from judgelab.report.render import esc, fmt_value, fmt_value_ci, left_out, not_run, table


def contrast_section(rd: RunDir) -> str:
    r = read_result(ContrastResult, rd.eval_dir / "contrast.json")
    if isinstance(r, Unreadable):
        return left_out(r, rd.root)
    if r is None:
        r = study_contrast(str(rd.root)) if (rd.eval_dir / "policies").exists() else None
    if r is None:
        return not_run("Study contrast", "train and evaluate at least one reasoning and one non-reasoning judge's policies")
    d = r.design
    parts = [f"<p><b>Primary endpoint (pre-registered):</b> {esc(r.primary_endpoint)}. Design: "
             f"{d['judge_seeds']} judge seed(s) x {d['policy_seeds']} policy seed(s) per arm, {d['prompts']} prompts.</p>"]
    chance = {a.arm for a in r.arms if a.at_chance}

    def verdict(c: Contrast) -> str:  # a difference between arms whose judges are at chance is not one between judge kinds
        said = "yes" if c.ci95[0] > 0 or c.ci95[1] < 0 else "no"
        weak = [a for a in (c.reasoning, c.minus) if a in chance]
        return said + (f" <b>(judge at chance: {esc(', '.join(weak))}; not about judge kind)</b>" if weak else "")

    rows = [[esc(c.reasoning), esc(c.minus), fmt_value_ci(c.diff, c.ci95, 2),
             ("≥ " if c.mdd_is_lower_bound else "") + fmt_value(c.mdd, 2) if c.mdd is not None else "–",
             verdict(c)] for c in r.contrasts]
    parts.append(table(["reasoning arm", "minus", "difference in gold gain [95% CI]", "minimum detectable difference",
                        "CI excludes 0"], rows, left=2))
    arms = [[esc(a.arm) + (" <b>(judge at chance)</b>" if a.at_chance else ""), esc(a.side), fmt_value_ci(a.mean, a.ci95, 2),
             f"{a.judge_seeds} x {a.policy_seeds}", str(a.n_prompts)] for a in r.arms]
    parts.append(table(["arm", "side", "gold gain [95% CI]", "judge x policy seeds", "prompts"], arms, left=2))
    v = r.variance
    need = "; ".join(f"{t} points: {n if n is not None else 'not estimable'}" for t, n in r.judge_seeds_needed.items())
    parts.append(f"<p>Variance components (gold points², measured in this run): judge seed {fmt_value(v.judge, 3)}, "
                 f"policy seed {fmt_value(v.policy, 3)}, prompts (per policy mean) {fmt_value(v.prompt, 3)}, "
                 f"prompt effects differing between arms {fmt_value(v.arm_prompt, 3)}. "
                 f"Minimum detectable difference: two-sided alpha 0.05, power 0.80, at this design. "
                 f"Judge seeds per arm needed to detect: {esc(need)}.</p>")
    parts += [f"<p class='flag'>{esc(n)}</p>" for n in r.notes]
    return "".join(parts)
