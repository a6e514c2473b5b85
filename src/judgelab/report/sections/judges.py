"""Report sections on the judges: agreement with the gold judge and judge test-time scaling.

Reads ``eval/judges/<judge>.json`` (``JudgeEvalResult``, written by ``judgelab eval-judge``) and
every ``*.scaling.json`` under ``eval/`` (``JudgeScalingResult``, with its ``.png``), both typed in
judgelab.evaluate.judges.results. Writes copies of the scaling PNGs into ``report/``.
"""

from __future__ import annotations

from pathlib import Path

from judgelab.data.rundir import RunDir
from judgelab.evaluate.judges.results import BudgetPoint, JudgeEvalResult, JudgeScalingResult, VotePoint
from judgelab.report.artifacts import Unreadable, find_results, read_result
from judgelab.report.render import (embed_png, esc, fmt, fmt_value, fmt_value_ci, left_out, not_run,
                                    table)


def judges_section(rd: RunDir) -> str:
    """One row per evaluated judge: tie-adjusted agreement with the gold (CI, n, interval method),
    non-tie accuracy, position consistency, ties, parse failures, v1's strict accuracy; then every
    pair of judges compared on the pairs both judged (paired difference with its CI)."""
    from judgelab.evaluate.judges.agreement import compare_judges

    folder = rd.eval_dir / "judges"
    rows, notes = [], []
    credits: dict[str, dict[str, float | None]] = {}
    for f in sorted(folder.glob("*.json")) if folder.exists() else []:
        if f.name.endswith(".scaling.json"):  # judge test-time scaling: its own section
            continue
        r = read_result(JudgeEvalResult, f)
        if isinstance(r, Unreadable):
            notes.append(left_out(r, rd.root))
            continue
        if r is None:
            continue
        m = r.metrics
        if r.credits:
            credits[r.judge] = r.credits
        method = f" ({esc(m.agreement_ci_method)})" if m.agreement_ci_method else ""
        rows.append([esc(r.judge), fmt_value_ci(m.agreement, m.agreement_ci95, 3) + method, fmt(m.n_agreement),
                     fmt(m.non_tie_accuracy), fmt(m.tie_rate), fmt(m.parse_failure_rate), fmt(m.position_consistency),
                     fmt(m.pointwise_pairwise_consistency), fmt_value_ci(m.accuracy, m.accuracy_ci95, 3)])
    if not rows:
        return not_run("Judge agreement", "run 'judgelab eval-judge'") + "".join(notes)
    parts = ["<p>Agreement with the gold on held-out pairs whose gold label is not a tie: a judge's tie "
             "counts half (Arena-Hard's convention), both presentation orders are averaged for a pairwise "
             "judge (so a judge that always picks one position scores 0.5), unparsed verdicts are left out "
             "and counted apart. 0.5 is chance. Intervals: Student's t below 30 pairs, BCa bootstrap above.</p>",
             table(["judge", "agreement (ties half) [95% CI]", "n", "non-tie accuracy", "tie rate", "parse failures",
                    "position consistency", "pointwise/pairwise consistency", "strict accuracy (AB, ties wrong)"], rows)]
    diffs = compare_judges(credits)
    if diffs:
        parts.append("<p>Paired differences in agreement (same pairs; an interval that excludes 0 separates "
                     "the two judges):</p>")
        parts.append(table(["judge", "minus", "difference [95% CI]", "n pairs"],
                           [[esc(d["judge"]), esc(d["minus"]), fmt_value_ci(d["diff"], d["ci95"], 3), fmt(d["n"])]
                            for d in diffs]))
    return "".join(parts) + "".join(notes)


def _scaling_row(label: str, r: VotePoint | BudgetPoint, truncated: str) -> list[str]:
    gain = getattr(r, "vs_first", None)
    return [label, fmt_value_ci(r.agreement, r.agreement_ci95, 3),
            fmt_value_ci(gain.diff, gain.ci95, 3) if gain else "–", fmt_value_ci(r.accuracy, r.accuracy_ci95, 3),
            fmt_value(r.tokens_per_item, 1), fmt_value(r.tokens, 0), fmt_value(r.seconds, 1),
            fmt_value(r.parse_failure_rate), fmt_value(r.tie_rate), truncated]


def _scaling(f: Path, r: JudgeScalingResult, out: Path) -> str:
    """One judge's scaling curve: its figure and one row per vote count and thinking budget."""
    judge = r.judge or f.name[: -len(".scaling.json")]
    parts = [f"<h3>{esc(judge)} <small>({esc(r.mode)}, {fmt_value(r.n_pairs, 0)} held-out pairs, "
             f"votes at temperature {fmt_value(r.temperature)})</small></h3>"]
    png = f.parent / (f.name[: -len(".json")] + ".png")
    if png.exists():
        parts.append(embed_png(png, out, png.name))
    rows = ([_scaling_row(f"votes k = {fmt_value(v.k, 0)}", v, "–") for v in r.voting]
            + [_scaling_row(f"thinking budget {fmt_value(b.budget, 0)}", b, fmt_value(b.truncated_rate))
               for b in r.thinking])
    parts.append(table(["compute", "agreement (ties half) [95% CI]", "vs smallest k (paired)",
                        "strict accuracy (ties wrong)", "tokens / item", "tokens", "seconds", "parse failures", "ties",
                        "truncated"], rows))
    return "".join(parts)


def judge_scaling_section(rd: RunDir, out: Path) -> str:
    """Per judge: agreement with gold as votes and thinking budgets grow, and what that costs."""
    parts, notes = [], []
    for f, r in find_results(JudgeScalingResult, rd, "*.scaling.json"):
        if isinstance(r, Unreadable):
            notes.append(left_out(r, rd.root))
        elif r.voting or r.thinking:
            parts.append(_scaling(f, r, out))
    if not parts:
        return not_run("Judge test-time scaling", "'judgelab judge-scaling --run RUN_DIR --judge JUDGE', or a "
                       "judge_scaling: block in the run config") + "".join(notes)
    return ("<p>Agreement with the gold on held-out pairs (non-tie gold labels, ties half) as the judge spends "
            "more compute: k sampled verdicts aggregated by vote (pairwise) or mean score (pointwise), and thinking "
            "budgets (generation cap); cost in generated tokens and seconds. Averaging votes makes ties rarer, so "
            "strict accuracy (ties wrong) rises with k even for a judge with no signal; the paired gain over the "
            "smallest k is the test of whether votes help.</p>" + "".join(parts) + "".join(notes))
