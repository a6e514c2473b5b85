"""Report section on best-of-N: the gold of the candidate a selector judge picks as N grows,
between the oracle (ceiling) and a random pick (floor).

Reads every ``best_of_n.json`` under ``eval/`` (``BestOfNResult``, judgelab.evaluate.policies.results)
and its ``best_of_n.png``. Writes a copy of each PNG into ``report/`` (drawn there from the JSON when
the run has none).
"""

from __future__ import annotations

import logging
from pathlib import Path

from judgelab.data.rundir import RunDir
from judgelab.evaluate.policies.results import BestOfNResult, CurvePoint
from judgelab.report.artifacts import Unreadable, find_results
from judgelab.report.render import embed_png, esc, fmt_value, fmt_value_ci, left_out, not_run, table

log = logging.getLogger(__name__)


def _png_name(rel: Path) -> str:
    """The figure's name in ``report/``: unique per results folder below ``eval/``."""
    name = "best_of_n" if str(rel) == "." else "_".join(rel.parts).replace(" ", "_")
    return (name if name.startswith("best_of_n") else f"best_of_n_{name}") + ".png"


def _figure(f: Path, r: BestOfNResult, out: Path, name: str) -> str:
    """The run's own figure next to the JSON, else one drawn from the JSON."""
    png = f.with_suffix(".png")
    img = embed_png(png, out, name) if png.exists() else ""
    if not img:
        try:
            from judgelab.evaluate.policies.best_of_n import plot_best_of_n

            tmp = out / name
            plot_best_of_n(r.to_json(), tmp)
            img = embed_png(tmp, out, tmp.name)
        except Exception as exc:  # a figure is never worth a failed report: the table still shows
            log.warning("best-of-N figure for %s skipped: %s", f, exc)
    return img


def _result(rd: RunDir, f: Path, r: BestOfNResult, out: Path) -> str:
    """One best-of-N result: settings, figure, gold per N per method, selector cost."""
    curves = {m: {p.n: p for p in c} for m, c in r.curves.items()}
    oracle, rand = {p.n: p for p in r.oracle}, {p.n: p for p in r.random}
    ns = r.ns or sorted({n for c in (*curves.values(), oracle, rand) for n in c})
    if not ns:
        return ""
    rel = f.parent.relative_to(rd.eval_dir)
    parts = [f"<h3>selector: {esc(r.selector)} · gold: {esc(r.gold)}"
             f"{'' if str(rel) == '.' else f' <small>(eval/{esc(rel)})</small>'}</h3>",
             f"<p>{fmt_value(r.prompts, 0)} prompts, {fmt_value(r.candidates, 0)} candidates"
             f" ({esc(r.source or '–')}), {fmt_value(r.draws, 0)} random subsets per prompt and N; "
             "gold of the pick on [0, 1], mean over prompts [95% CI by prompt]. Oracle = best candidate by "
             "gold (the ceiling), random = the subset's mean (the floor).</p>",
             _figure(f, r, out, _png_name(rel))]

    def cell(curve: dict[int, CurvePoint], n: int) -> str:
        p = curve.get(n)
        return fmt_value_ci(p.gold, p.ci, 3) if p else fmt_value_ci(None, None, 3)

    methods = list(curves)
    rows = [[fmt_value(n, 0)] + [cell(curves[m], n) for m in methods] + [cell(oracle, n), cell(rand, n)] for n in ns]
    parts.append(table(["N", *[f"{m} pick" for m in methods], "oracle (ceiling)", "random (floor)"], rows))
    if r.cost:
        parts.append("<p>selector cost: " + "; ".join(
            f"{esc(m)} {fmt_value(c.judge_calls, 0)} judge calls, {fmt_value(c.seconds, 1)} s" for m, c in r.cost.items())
            + f"; gold scoring {fmt_value(r.gold_seconds, 1)} s, gold parse failures "
              f"{fmt_value(r.gold_parse_failure_rate)}</p>")
    return "".join(parts)


def best_of_n_section(rd: RunDir, out: Path) -> str:
    parts = []
    for f, r in find_results(BestOfNResult, rd, "best_of_n.json"):
        parts.append(left_out(r, rd.root) if isinstance(r, Unreadable) else _result(rd, f, r, out))
    parts = [p for p in parts if p]
    if not parts:
        return not_run("Best-of-N", "'judgelab best-of-n --selector JUDGE --model MODEL --out RUN_DIR/eval/best_of_n', "
                       "or a best_of_n: block in the run config")
    return "".join(parts)
