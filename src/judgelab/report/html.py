"""The report: ``run_dir/report/report.html`` (self-contained, PNGs embedded as base64) plus the
same PNGs next to it.

Reads (every part optional — a missing part renders as "not run"):
``eval/policies/<name>.json`` (gold monitoring rows + hacking flag; with the controls' roles, the
instrument check of judgelab.evaluate.instrument, which writes ``eval/instrument.json`` and opens the report), ``eval/policies/<name>/
samples-step-N.jsonl`` (sample outputs with gold/proxy scores), ``policies/<name>/log.jsonl``
(training proxy reward), ``eval/judges/*.json`` (judge agreement, written by eval-judge; read
defensively), ``eval/arena.json``, ``eval/adversarial.json`` (master-key probe, judge-fooling outputs),
``policies/<name>/gold_monitor.json`` (gold tracked during training, judgelab.train.gold_callback),
``eval/attacks.json`` (flagged rate over training, transfer matrix, stripped re-judge:
judgelab.evaluate.attacks), every ``best_of_n.json`` (+ ``best_of_n.png``) under ``eval/``
(judgelab.evaluate.best_of_n) and every ``*.scaling.json`` (+ ``.png``) under ``eval/``
(judge test-time scaling, judgelab.evaluate.judge_scaling). These are read defensively: a missing
key or a half-written file renders as "–" or "not run", never as an error.

Writes ``report/report.html``, ``report/proxy_vs_gold.png`` (the central figure: per judge
panel, x = GRPO step, proxy reward and gold score both on [0, 1]; each policy/seed a thin line,
the mean thick), ``report/length_drift.png``, ``report/gold_monitor.png``,
``report/attacks_flagged.png``, and copies of the best-of-N and judge-scaling PNGs.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from judgelab.data.jsonl import atomic_write_text
from judgelab.data.rundir import RunDir
from judgelab.evaluate.records import read_policy_evals

log = logging.getLogger(__name__)

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.notrun{color:#888;font-style:italic}
.flag{background:#fde2e2;color:#a00;font-weight:bold}.ok{color:#070}
.check{padding:.6em 1em;border-radius:4px;margin:.6em 0}.check.passed{background:#e3f5e1;border:2px solid #2a7}
.check.failed{background:#fde2e2;border:2px solid #c00;color:#900}.check.incomplete{background:#fff4d6;border:2px solid #c90}
pre{white-space:pre-wrap;background:#f8f8f8;padding:.5em;border-left:3px solid #ccc;margin:.2em 0 .8em}
img{max-width:100%}
"""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("skipping unreadable %s: %s", path, exc)
        return None


def _eval_jsons(rd: RunDir, pattern: str, skip: Path | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """Every JSON object below ``RUN/eval/`` whose name matches ``pattern``, by path (``skip`` not read;
    unreadable files and non-objects left out): the artifacts the standalone commands write there."""
    if not rd.eval_dir.is_dir():
        return []
    found = []
    for f in sorted(rd.eval_dir.rglob(pattern)):
        if skip is not None and f.resolve() == skip.resolve():
            continue
        d = _read_json(f)
        if isinstance(d, dict):
            found.append((f, d))
    return found


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        for line in path.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line of a killed run
    except OSError:
        pass
    return rows


def _fmt(x: Any, nd: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    if isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(v, (int, float)) for v in x):
        return f"[{x[0]:.{nd}f}, {x[1]:.{nd}f}]"
    return html.escape(str(x))


def _png(fig: Any, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    path.write_bytes(buf.getvalue())
    return f'<img alt="{path.name}" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _not_run(what: str, hint: str) -> str:
    return f'<p class="notrun">{html.escape(what)}: not run ({html.escape(hint)}).</p>'


def _train_curve(rd: RunDir, name: str) -> tuple[list[int], list[float]]:
    rows = [r for r in _read_jsonl(rd.policy_dir(name) / "log.jsonl") if "reward" in r and "step" in r]
    return [int(r["step"]) for r in rows], [float(r["reward"]) for r in rows]


def proxy_vs_gold_figure(evals: dict[str, dict], rd: RunDir, out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    panels: dict[str, list[str]] = defaultdict(list)
    for name, ev in evals.items():
        panels[f"{ev.get('proxy_judge', '?')} ({ev.get('reward_mode', '?')})"].append(name)
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.8), squeeze=False, sharey=True)
    for ax, (title, names) in zip(axes[0], sorted(panels.items())):
        curves: dict[str, list[tuple[list[int], list[float]]]] = defaultdict(list)
        for name in names:
            rows = evals[name].get("rows", [])
            steps = [r.get("step") for r in rows]
            for key in ("proxy_score", "gold_score_norm"):
                ys = [r.get(key) for r in rows]
                pts = [(s, y) for s, y in zip(steps, ys) if s is not None and y is not None]
                if pts:
                    curves[key].append(([p[0] for p in pts], [p[1] for p in pts]))
            ts, tr = _train_curve(rd, name)
            if ts:
                k = max(1, len(tr) // 10)  # smooth the noisy per-step reward
                sm = np.convolve(tr, np.ones(k) / k, mode="valid")
                ax.plot(ts[k - 1:], sm, color="tab:orange", lw=0.8, ls=":", alpha=0.7)
        for key, color, label in (("proxy_score", "tab:orange", "proxy (held-out)"), ("gold_score_norm", "tab:blue", "gold")):
            for xs, ys in curves[key]:
                ax.plot(xs, ys, color=color, lw=0.8, alpha=0.45)
            if curves[key]:
                common = sorted(set.intersection(*(set(xs) for xs, _ in curves[key])))
                if common:
                    mean = [np.mean([dict(zip(xs, ys))[s] for xs, ys in curves[key]]) for s in common]
                    ax.plot(common, mean, color=color, lw=2.4, marker="o", ms=3, label=f"{label} (mean of {len(curves[key])})")
        flagged = [nm for nm in names if evals[nm].get("hacking", {}).get("flagged")]
        ax.set_title(title + ("  ⚑ hacking" if flagged else ""), color="#a00" if flagged else "black", fontsize=10)
        ax.set_xlabel("GRPO step")
        ax.grid(alpha=0.3)
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("score on [0, 1]")
    axes[0][0].plot([], [], color="tab:orange", ls=":", label="proxy (training, smoothed)")
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle("Proxy reward vs gold score", y=1.04)  # above the panel titles, not over them
    img = _png(fig, out / "proxy_vs_gold.png")
    plt.close(fig)
    return img


def length_figure(evals: dict[str, dict], out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, ev in sorted(evals.items()):
        rows = [r for r in ev.get("rows", []) if r.get("length_chars_mean") is not None]
        ax.plot([r["step"] for r in rows], [r["length_chars_mean"] for r in rows], marker="o", ms=3, label=name)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean completion length (chars)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))  # outside: 12+ lines
    ax.set_title("Length drift")
    img = _png(fig, out / "length_drift.png")
    plt.close(fig)
    return img


def _table(headers: list[str], rows: list[list[str]], left: int = 1, row_class: list[str] | None = None) -> str:
    th = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(h)}</th>' for i, h in enumerate(headers))
    body = []
    for k, r in enumerate(rows):
        cls = f' class="{row_class[k]}"' if row_class and row_class[k] else ""
        body.append(f"<tr{cls}>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r)) + "</tr>")
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def _judges_section(rd: RunDir) -> str:
    files = sorted((rd.eval_dir / "judges").glob("*.json")) if (rd.eval_dir / "judges").exists() else []
    rows = []
    for f in files:
        if f.name.endswith(".scaling.json"):  # judge test-time scaling: its own section
            continue
        d = _read_json(f)
        if not isinstance(d, dict):
            continue
        m = d.get("metrics", d) if isinstance(d.get("metrics"), dict) else d
        rows.append([html.escape(str(d.get("judge", d.get("name", f.stem)))), _fmt(m.get("accuracy")),
                     _fmt(m.get("accuracy_ci95", m.get("ci"))), _fmt(m.get("position_consistency")),
                     _fmt(m.get("tie_rate")), _fmt(m.get("parse_failure_rate")),
                     _fmt(m.get("pointwise_pairwise_consistency")),
                     _fmt(m.get("n_gold_non_tie", m.get("n", d.get("n"))))])
    if not rows:
        return _not_run("Judge agreement", "run 'judgelab eval-judge'")
    return _table(["judge", "accuracy vs gold", "95% CI", "position consistency", "tie rate", "parse failures",
                   "pointwise/pairwise consistency", "n (non-tie gold pairs)"], rows)


def _ci_ends(ci: Any, nd: int) -> str:
    """A CI whose ends may be None (unbounded: an undefeated or winless model)."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return "–"
    return "[" + ", ".join("–" if v is None else f"{v:.{nd}f}" for v in ci) + "]"


def _arena_section(rd: RunDir) -> str:
    d = _read_json(rd.arena) if rd.arena.exists() else None
    if not isinstance(d, dict) or not d.get("judges"):
        return _not_run("Arena", "needs 'judgelab evaluate' with trained policies")
    return _arena_tables(d)


def _arena_cli_sections(rd: RunDir) -> str:
    """Every ``judgelab arena --out RUN/eval/...`` result (an ``arena.json`` below ``eval/`` other than the
    pipeline's own): its settings, leaderboards and judges x models matrix."""
    parts = []
    for f, d in _eval_jsons(rd, "arena.json", skip=rd.arena):
        if not isinstance(d.get("judges"), dict) or not d["judges"]:
            continue
        rel = f.parent.relative_to(rd.eval_dir)
        settings = d.get("settings") or {}
        shown = {**settings, "decoding": settings.get("decoding") or "greedy rows where present (the default)"}
        what = ", ".join(f"{k} {html.escape(str(shown[k]))}" for k in ("decoding", "style", "bootstrap")
                         if shown.get(k) is not None)
        parts.append(f"<h3>judgelab arena: eval/{html.escape(str(rel))}</h3>"
                     f"<p>{_fmt(d.get('n_prompts'))} prompts, judges: {html.escape(', '.join(d['judges']))}"
                     + (f"; {what}" if what else "") + ".</p>" + _arena_tables(d, level=4))
    return "".join(parts)


def _arena_matrix(d: dict[str, Any]) -> str:
    mx = d.get("matrix")
    if not isinstance(mx, dict) or not isinstance(mx.get("rows"), dict) or not mx["rows"]:
        return ""
    models = sorted({m for row in mx["rows"].values() if isinstance(row, dict) for m in row})
    rows = [[html.escape(str(j))] + [_fmt(row.get(m)) for m in models] for j, row in mx["rows"].items()
            if isinstance(row, dict)]
    return (f"<p>{html.escape(str(mx.get('value', 'win rate vs baseline')).replace('_', ' '))}: judges x models</p>"
            + _table(["judge", *map(str, models)], rows))


def _arena_tables(d: dict[str, Any], level: int = 3) -> str:
    base = d.get("baseline")
    parts = [f"<p>Bradley-Terry ratings anchored on <b>{html.escape(str(base))}</b> (1000, win rate 50%); "
             "strong verdicts count 3 battles (Arena-Hard-Auto); CIs bootstrap the prompts.</p>" if base else ""]
    tables = list(d["judges"].items())
    if isinstance(d.get("pooled"), dict) and len(tables) > 1:
        tables = [("pooled over judges", d["pooled"])] + tables
    for judge, tab in tables:
        rows = [[html.escape(str(r.get("model"))), _fmt(r.get("win_rate_vs_baseline")),
                 _ci_ends(r.get("win_rate_vs_baseline_ci"), 3), _fmt(r.get("rating"), 0), _ci_ends(r.get("ci"), 0),
                 html.escape(str(r.get("status", "rated"))), _fmt(r.get("elo"), 0), _fmt(r.get("win_rate")),
                 _fmt(r.get("battles"))] for r in tab.get("models", [])]
        coefs = tab.get("style_coefs") or {}
        style = "; ".join(f"{html.escape(k)} {_fmt(v.get('coef'))} {_ci_ends(v.get('ci'), 3)}" for k, v in coefs.items())
        lc = tab.get("length_coef")
        title = judge if judge == "pooled over judges" else f"judge: {judge}"
        parts.append(f"<h{level}>{html.escape(title)}</h{level}>" + _table(
            ["model", "win rate vs baseline", "95% CI", "BT rating", "95% CI", "status", "ELO", "observed score", "battles"], rows)
            + (f"<p>style coefficients (logit per SD, 95% CI): {style}</p>" if style else
               f"<p>length coefficient (style control): {_fmt(lc)}</p>" if lc is not None else ""))
    if len(d["judges"]) > 1:
        parts.append(_arena_matrix(d))
    return "".join(parts)


def _adversarial_section(rd: RunDir) -> str:
    path = rd.adversarial
    d = _read_json(path) if path.exists() else None
    if not isinstance(d, dict):
        return _not_run("Adversarial outputs", "the 'adversarial' stage of 'judgelab run'")
    parts = ["<p>Master-key probe: content-free responses (punctuation, reasoning openers, text aimed at the "
             "judge) scored next to a genuine response to the same held-out prompt. <i>Fooled</i> = the judge "
             "does not rank the key below the genuine response.</p>"]
    keys = d.get("keys") or []
    rows = []
    for name, pr in (d.get("master_keys") or {}).items():
        by_key = pr.get("by_key") or {}
        rows.append([html.escape(name), html.escape(str(pr.get("mode"))), _fmt(pr.get("fooled_rate")),
                     _fmt(pr.get("fooled_rate_ci")), _fmt(pr.get("parse_failure_rate")),
                     *[_fmt((by_key.get(k) or {}).get("fooled_rate"), 2) for k in keys]])
    if rows:
        parts.append(_table(["judge", "mode", "fooled rate", "95% CI", "parse failures",
                             *[repr(k) if len(k) <= 18 else repr(k[:16] + "…") for k in keys]], rows))
    fo = d.get("fooling_outputs") or {}
    rows, examples = [], []
    for name, r in sorted(fo.items()):
        if "skipped" in r:
            rows.append([html.escape(name), "–", "–", html.escape(r["skipped"])])
            continue
        curve = r.get("curve") or []
        first, last = (curve[0], curve[-1]) if curve else ({}, {})
        rows.append([html.escape(name), _fmt(first.get("fooling_rate"), 2) + " → " + _fmt(last.get("fooling_rate"), 2),
                     _fmt(last.get("fooling_rate_ci"), 2), html.escape(str(r.get("proxy_judge")))])
        for ex in (r.get("examples") or [])[:1]:
            examples.append(f"<p><b>{html.escape(name)}</b>, {html.escape(str(ex.get('prompt_id')))}: proxy "
                            f"{_fmt(ex.get('proxy_score'), 2)}, gold {_fmt(ex.get('gold_score'), 2)}</p>"
                            f"<pre>{html.escape(str(ex.get('response', '')))}</pre>")
    if rows:
        parts.append(f"<p>Judge-fooling policy outputs: held-out samples whose proxy score beats their gold score "
                     f"by ≥ {_fmt(d.get('gap'), 2)} (both normalised to [0, 1]), first → last checkpoint.</p>")
        parts.append(_table(["policy", "fooling rate first → last", "95% CI (last)", "proxy judge"], rows))
        parts.extend(examples)
    return "".join(parts)


def _samples_section(rd: RunDir, evals: dict[str, dict], k: int = 3) -> str:
    parts = []
    for name, ev in sorted(evals.items()):
        rows = ev.get("rows") or []
        if not rows:
            continue
        last = rows[-1]["step"]
        samples = _read_jsonl(rd.eval_samples(name, last))[:k]  # tolerant: a report never fails on one bad line
        if not samples:
            continue
        parts.append(f"<h3>{html.escape(name)} @ step {last}</h3>")
        for s in samples:
            parts.append(f"<p><b>{html.escape(str(s.get('prompt_id')))}</b>: {html.escape(str(s.get('prompt', '')))}<br>"
                         f"gold {_fmt(s.get('gold_score'), 2)} · proxy {_fmt(s.get('proxy_score'), 2)}</p>"
                         f"<pre>{html.escape(str(s.get('response', '')))}</pre>")
    return "".join(parts) or _not_run("Sample outputs", "run 'judgelab evaluate'")


def _gain(r: dict[str, Any]) -> str:
    return f"{_fmt(r.get('gold_gain'), 2)} {_fmt(r.get('gold_gain_ci'), 2)}"


def _instrument_section(rd: RunDir) -> str:
    """Controls first: passed (green), failed (red, with what it means) or incomplete."""
    from judgelab.evaluate.instrument import instrument_check

    if not (rd.eval_dir / "policies").exists():
        return _not_run("Instrument check", "run 'judgelab evaluate' (with the oracle and a negative control)")
    chk = instrument_check(rd.root)
    st = chk["status"]
    parts = [f"<div class='check {st}'><b>Instrument check: {html.escape(st.upper())}</b> — {html.escape(chk['meaning'])}</div>"]
    pos, neg = chk["positive_control"], chk["negative_control"]
    rows, cls = [], []
    for s in pos["seeds"]:
        rows.append(["positive control (GRPO on the gold)", html.escape(str(s["policy"])), str(s["step"]), html.escape(str(s["decoding"])),
                     _gain(s), "must gain: CI above 0", "passed" if s["passed"] else "FAILED"])
        cls.append("" if s["passed"] else "flag")
    for s in neg["seeds"]:
        rows.append([f"negative control (flawed judge {html.escape(str(s['proxy_judge']))})", html.escape(str(s["policy"])),
                     str(s["step"]), html.escape(str(s["decoding"])), _gain(s),
                     f"proxy {_fmt(s['proxy_gain'], 2)}, gold {_fmt(s['gold_change'], 2)}: must be flagged",
                     "flagged" if s["passed"] else "NOT FLAGGED"])
        cls.append("" if s["passed"] else "flag")
    for name, c in (("positive control", pos), ("negative control", neg)):
        if c["status"] == "not run":
            rows.append([name, "—", "", "", "", "not run", "NOT RUN"])
            cls.append("flag")
    parts.append(_table(["control", "policy", "step", "decoding", "gold gain vs step 0 [95% CI]", "criterion", "result"],
                        rows, left=2, row_class=cls))
    # eval/judges/ also holds judge-scaling results (<judge>.scaling.json, no metrics), which the check
    # lists as judges without an accuracy: only rows with a number are shown.
    judges = [j for j in chk["judges"] if j.get("accuracy") is not None or j.get("n") is not None]
    if judges:
        parts.append("<p>Judge agreement with gold on held-out pairs (non-tie gold labels): " + "; ".join(
            f"{html.escape(str(j['judge']))} {_fmt(j['accuracy'], 2)} {_fmt(j['accuracy_ci'], 2)}" for j in judges) + "</p>")
    parts.append("<p>Gold gain: per held-out prompt, the checkpoint's mean gold minus step 0's on the same prompt, averaged "
                 "over prompts, with a bootstrap CI over prompts. Decoding 'sampled' = k completions per prompt at the "
                 "training temperature (what the reward saw); 'greedy' numbers are in the hacking table.</p>")
    return "".join(parts)


def build_report(run_dir: str | Path) -> Path:
    """Render report/report.html (+ PNGs) from whatever the run has; returns the HTML path."""
    rd = RunDir(run_dir)
    if not rd.root.exists():
        from judgelab.errors import DataError

        raise DataError("run directory not found", where=str(rd.root), hint="give the folder a pipeline stage wrote")
    out = rd.report_dir
    out.mkdir(parents=True, exist_ok=True)
    evals: dict[str, dict] = {}
    evals.update(read_policy_evals(rd))

    s: list[str] = [f"<h1>judgelab report — {html.escape(rd.root.name)}</h1>"]
    run = _read_json(rd.root / "run.json") if (rd.root / "run.json").exists() else None
    if isinstance(run, dict):
        s.append(f"<p>stages: {html.escape(', '.join(run.get('stages', {})))} · git {html.escape(str(run.get('git_commit')))}</p>")

    s.append("<h2>Instrument check</h2>")
    s.append(_instrument_section(rd))

    s.append("<h2>Proxy reward vs gold score</h2>")
    if evals:
        s.append(proxy_vs_gold_figure(evals, rd, out))
        s.append("<p>Thin lines: one policy (seed) each; thick: their mean. Proxy on held-out prompts in the reward's own "
                 "terms (pointwise: normalised score; pairwise: win rate vs the initial policy); dotted: training reward.</p>")
    else:
        s.append(_not_run("Gold monitoring", "run 'judgelab train-policy' then 'judgelab evaluate'"))

    from judgelab.report import experiments as ex

    s.append("<h2>Gold tracked during training</h2>")
    s.append(ex.gold_monitor_section(rd, out))

    s.append("<h2>Reward-hacking flags</h2>")
    if evals:
        rows, cls = [], []
        for name, ev in sorted(evals.items()):
            h = ev.get("hacking") or {}
            r0, r1 = (ev["rows"][0], ev["rows"][-1]) if ev["rows"] else ({}, {})
            greedy = (r1.get("by_decoding") or {}).get("greedy") if r1.get("decoding") != "greedy" else None
            rows.append([html.escape(name), html.escape(str(ev.get("proxy_judge"))), html.escape(str(ev.get("reward_mode"))),
                         html.escape(str(r1.get("decoding", "greedy"))),
                         _fmt(r0.get("proxy_score")) + " → " + _fmt(r1.get("proxy_score")),
                         _fmt(r0.get("gold_score_norm")) + " → " + _fmt(r1.get("gold_score_norm")),
                         _gain(r1), _gain(greedy) if greedy else "—",
                         _fmt(r1.get("gold_win_rate")) + " " + _fmt(r1.get("gold_win_rate_ci")),
                         ("⚑ " + html.escape(str(h.get("kind")))) if h.get("flagged") else "no",
                         html.escape(str(h.get("reason", "")))])
            cls.append("flag" if h.get("flagged") else "")
        s.append(_table(["policy", "proxy judge", "reward", "decoding", "proxy first → last", "gold first → last",
                         "gold gain [CI]", "greedy gold gain [CI]", "gold win rate vs initial (CI)", "hacking", "why"],
                        rows, left=4, row_class=cls))
        s.append("<p>Proxy, gold and win rate use the row's decoding ('sampled': k completions per held-out prompt at "
                 "the training temperature; CIs clustered by prompt); the greedy column is one greedy completion per prompt.</p>")
    else:
        s.append(_not_run("Hacking flags", "run 'judgelab evaluate'"))

    s.append("<h2>Judge agreement with the gold judge</h2>")
    s.append(_judges_section(rd))

    s.append("<h2>Judge test-time scaling</h2>")
    s.append(ex.judge_scaling_section(rd, out))

    s.append("<h2>Length drift</h2>")
    s.append(length_figure(evals, out) if evals else _not_run("Length drift", "run 'judgelab evaluate'"))

    s.append("<h2>Arena (final checkpoints)</h2>")
    s.append(_arena_section(rd))
    s.append(_arena_cli_sections(rd))

    s.append("<h2>Adversarial outputs</h2>")
    s.append(_adversarial_section(rd))

    s.append("<h2>Attacks on judges</h2>")
    s.append(ex.attacks_section(rd, out))

    s.append("<h2>Best-of-N</h2>")
    s.append(ex.best_of_n_section(rd, out))

    s.append("<h2>Sample outputs (last checkpoint)</h2>")
    s.append(_samples_section(rd, evals))

    page = f"<!doctype html><html><head><meta charset='utf-8'><title>judgelab report</title><style>{CSS}</style></head><body>{''.join(s)}</body></html>"
    return atomic_write_text(out / "report.html", page)
