"""The console lines ``judgelab run`` prints after a stage: what it found, in one line each, with the
file it wrote. Pure formatting of the stages' result dicts; reads and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from judgelab.report.render import fmt_estimate, fmt_number

# Stage result lines are indented under the runner's "[run ] <stage>" line.
INDENT = "       "


def fmt_acc(x: Any) -> str:
    return fmt_number(x, 3, missing="n/a")


def gold_at(rows: list[dict[str, Any]], n: int) -> str:
    """A best-of-N curve's gold at N, with its CI."""
    r = next((r for r in rows if r.get("n") == n), {})
    g, ci = r.get("gold"), r.get("ci")
    return fmt_estimate(g, ci, nd=3, ci_nd=2, missing="n/a")


def judge_eval_line(name: str, result: dict[str, Any], path: Path) -> str:
    """A judge's tie-adjusted gold agreement (with its CI and n), its tie and parse-failure rates."""
    m = result.get("metrics", {})
    shown = fmt_estimate(m.get("agreement"), m.get("agreement_ci95"), nd=3, ci_nd=2, missing="n/a")
    return (f"{INDENT}{name}: gold agreement {shown} (ties half, n={m.get('n_agreement')}), ties "
            f"{fmt_number(m.get('tie_rate'), 2, missing='n/a')}, parse failures "
            f"{fmt_number(m.get('parse_failure_rate'), 2, missing='n/a')} -> {path}")


def attacks_lines(d: dict[str, Any], path: Path) -> list[str]:
    """Each policy's flagged rate over training, then the transfer matrix's size."""
    lines = []
    for name, p in sorted((d.get("flagged_over_training") or {}).items()):
        curve = p.get("curve") or []
        if curve:
            lines.append(f"{INDENT}{name}: flagged rate " + " → ".join(
                fmt_number(c.get("flagged_rate"), 2, missing="n/a") for c in curve))
    lines.append(f"{INDENT}transfer matrix: {len(d.get('transfer') or {})} sources x {len(d.get('judges') or {})} "
                 f"judges -> {path}")
    return lines


def best_of_n_skipped_line(name: str, skipped: list[str], modes: Iterable[str]) -> str:
    """A selector none of whose methods its modes allow."""
    return (f"{INDENT}best-of-N by {name}: skipped ({', '.join(skipped)} need a mode it lacks: "
            f"it answers {', '.join(modes)})")


def best_of_n_line(name: str, res: dict[str, Any], skipped: list[str], path: Path) -> str:
    """Each method's gold at the largest N beside the oracle's and random's."""
    top = max(res["ns"])
    picks = "; ".join(f"{m} {gold_at(rows, top)}" for m, rows in res["curves"].items())
    return (f"{INDENT}best-of-N by {name}, N={top}: {picks}; oracle {gold_at(res['oracle'], top)}, random "
            f"{gold_at(res['random'], top)}" + (f" (skipped {', '.join(skipped)})" if skipped else "")
            + f" -> {path}")


def scaling_line(name: str, res: dict[str, Any], path: Path) -> str:
    """A judge's gold agreement at each vote count and thinking budget."""
    votes = "; ".join(f"k={r['k']} {fmt_acc(r.get('agreement'))}" for r in res["voting"])
    budgets = "; ".join(f"budget {r['budget']} {fmt_acc(r.get('agreement'))}" for r in res["thinking"])
    return f"{INDENT}{name}: agreement {votes}" + (f"; {budgets}" if budgets else "") + f" -> {path}"
