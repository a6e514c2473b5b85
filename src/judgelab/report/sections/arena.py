"""Report section on the arena: Bradley-Terry leaderboards of the final checkpoints per judge
(and pooled), style coefficients, and the judges x models matrix.

Reads ``eval/arena.json`` (the evaluate stage's arena) and every other ``arena.json`` below
``eval/`` (``judgelab arena --out RUN/eval/...``), typed as judgelab.evaluate.arena.results.ArenaResult.
Writes nothing.
"""

from __future__ import annotations

from judgelab.data.rundir import RunDir
from judgelab.evaluate.arena.results import ArenaResult, ArenaTable
from judgelab.report.artifacts import Unreadable, find_results, read_result
from judgelab.report.render import esc, fmt, fmt_interval, left_out, not_run, table


def arena_section(rd: RunDir) -> str:
    """The pipeline's arena, then every standalone arena written into the run."""
    r = read_result(ArenaResult, rd.arena)
    if isinstance(r, Unreadable):
        pipeline = left_out(r, rd.root)
    elif r is None or not r.judges:
        pipeline = not_run("Arena", "needs 'judgelab evaluate' with trained policies")
    else:
        pipeline = arena_tables(r)
    return pipeline + _arena_cli_sections(rd)


def _arena_cli_sections(rd: RunDir) -> str:
    """Every ``judgelab arena --out RUN/eval/...`` result (an ``arena.json`` below ``eval/`` other than the
    pipeline's own): its settings, leaderboards and judges x models matrix."""
    parts = []
    for f, r in find_results(ArenaResult, rd, "arena.json", skip=rd.arena):
        if isinstance(r, Unreadable):
            parts.append(left_out(r, rd.root))
            continue
        if not r.judges:
            continue
        rel = f.parent.relative_to(rd.eval_dir)
        settings = r.settings or {}
        shown = {**settings, "decoding": settings.get("decoding") or "greedy rows where present (the default)"}
        what = ", ".join(f"{k} {esc(shown[k])}" for k in ("decoding", "style", "bootstrap")
                         if shown.get(k) is not None)
        parts.append(f"<h3>judgelab arena: eval/{esc(rel)}</h3>"
                     f"<p>{fmt(r.n_prompts)} prompts, judges: {esc(', '.join(r.judges))}"
                     + (f"; {what}" if what else "") + ".</p>" + arena_tables(r, level=4))
    return "".join(parts)


def _arena_matrix(r: ArenaResult) -> str:
    mx = r.matrix
    if not mx.rows:
        return ""
    models = sorted({m for row in mx.rows.values() for m in row})
    rows = [[esc(j)] + [fmt(row.get(m)) for m in models] for j, row in mx.rows.items()]
    return (f"<p>{esc(mx.value.replace('_', ' '))}: judges x models</p>"
            + table(["judge", *map(str, models)], rows))


def _leaderboard(title: str, tab: ArenaTable, level: int) -> str:
    """One judge's (or the pooled) leaderboard, with its style or length coefficient."""
    rows = [[esc(m.model), fmt(m.win_rate_vs_baseline), fmt_interval(m.win_rate_vs_baseline_ci, 3),
             fmt(m.rating, 0), fmt_interval(m.ci, 0), esc(m.status), fmt(m.elo, 0), fmt(m.win_rate),
             fmt(m.battles)] for m in tab.models]
    style = "; ".join(f"{esc(k)} {fmt(v.coef)} {fmt_interval(v.ci, 3)}" for k, v in tab.style_coefs.items())
    lc = tab.length_coef
    return (f"<h{level}>{esc(title)}</h{level}>" + table(
        ["model", "win rate vs baseline", "95% CI", "BT rating", "95% CI", "status", "ELO", "observed score", "battles"], rows)
        + (f"<p>style coefficients (logit per SD, 95% CI): {style}</p>" if style else
           f"<p>length coefficient (style control): {fmt(lc)}</p>" if lc is not None else ""))


def arena_tables(r: ArenaResult, level: int = 3) -> str:
    """An arena result's leaderboards (pooled first when there are several judges) and its matrix."""
    parts = [f"<p>Bradley-Terry ratings anchored on <b>{esc(r.baseline)}</b> (1000, win rate 50%); "
             "strong verdicts count 3 battles (Arena-Hard-Auto); CIs bootstrap the prompts.</p>" if r.baseline else ""]
    tables = list(r.judges.items())
    if len(tables) > 1:
        tables = [("pooled over judges", r.pooled)] + tables
    for judge, tab in tables:
        parts.append(_leaderboard(judge if judge == "pooled over judges" else f"judge: {judge}", tab, level))
    if len(r.judges) > 1:
        parts.append(_arena_matrix(r))
    return "".join(parts)
