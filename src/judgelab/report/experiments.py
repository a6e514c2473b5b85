"""Report sections of the optional experiments: gold tracked during training, attacks on judges,
best-of-N and judge test-time scaling (rendered by judgelab.report.html.build_report).

Reads, each optional: ``policies/<name>/gold_monitor.json`` (schema judgelab.gold_monitor/v1,
judgelab.train.gold_callback), ``eval/attacks.json`` (judgelab.attacks/v1,
judgelab.evaluate.attacks.analysis), every ``best_of_n.json`` under ``eval/`` (judgelab.best_of_n/v1,
with its ``best_of_n.png``) and every ``*.scaling.json`` under ``eval/`` (judgelab.judge_scaling/v1,
with its ``.png``). Writes ``report/gold_monitor.png``, ``report/attacks_flagged.png`` and copies of
the best-of-N and scaling PNGs.

Everything is read defensively: these artifacts come from other modules and from runs that may
have been killed mid-write, so a missing key shows as "–", a wrong type is skipped, an unreadable
file is skipped (logged), and a section with nothing usable says "not run" with how to run it.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import shutil
from pathlib import Path
from typing import Any

from judgelab.data.rundir import RunDir
from judgelab.report.html import _eval_jsons, _fmt, _not_run, _png, _read_json, _table

log = logging.getLogger(__name__)

MONITOR_FILE = "gold_monitor.json"  # judgelab.train.gold_callback.MONITOR_FILE (not imported: no torch/transformers here)


# ------------------------------------------------------------------------------- safe access


def _d(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return None if math.isnan(x) or math.isinf(x) else float(x)


def _ci(x: Any, nd: int = 2) -> str:
    """A [low, high] pair whose ends may be missing or not numbers."""
    if not isinstance(x, (list, tuple)) or len(x) != 2:
        return ""
    lo, hi = _num(x[0]), _num(x[1])
    if lo is None and hi is None:
        return ""
    return "[" + ", ".join("–" if v is None else f"{v:.{nd}f}" for v in (lo, hi)) + "]"


def _v(x: Any, nd: int = 2) -> str:
    n = _num(x)
    if n is None:
        return "–" if x is None or isinstance(x, (dict, list)) else _fmt(x)
    return str(int(n)) if float(n).is_integer() and nd == 0 else f"{n:.{nd}f}"


def _vci(x: Any, ci: Any, nd: int = 2) -> str:
    c = _ci(ci, nd)
    return _v(x, nd) + (f" {c}" if c else "")


def _e(x: Any) -> str:
    return html.escape(str(x))


def _embed_png(src: Path, out: Path, name: str) -> str:
    """An existing PNG, copied next to the report and embedded (the report stays self-contained)."""
    try:
        data = src.read_bytes()
    except OSError as exc:
        log.warning("skipping unreadable %s: %s", src, exc)
        return ""
    if not data.startswith(b"\x89PNG"):
        return ""  # a half-written or foreign file
    try:
        shutil.copyfile(src, out / name)
    except OSError:
        pass
    return f'<img alt="{_e(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _safe_name(rel: Path) -> str:
    return "_".join(rel.parts).replace(" ", "_")


# ----------------------------------------------------------------------- gold during training


def _monitors(rd: RunDir) -> dict[str, dict[str, Any]]:
    root = rd.policies_dir
    out: dict[str, dict[str, Any]] = {}
    for f in sorted(root.glob(f"*/{MONITOR_FILE}")) if root.is_dir() else []:
        d = _read_json(f)
        if isinstance(d, dict) and [e for e in _l(d.get("evals")) if isinstance(e, dict)]:
            out[f.parent.name] = d
    return out


def _evals(d: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted((e for e in _l(d.get("evals")) if isinstance(e, dict) and _num(e.get("step")) is not None),
                  key=lambda e: e["step"])


def gold_monitor_figure(mons: dict[str, dict[str, Any]], out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(mons)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (name, d) in zip(axes.flat, sorted(mons.items())):
        ev = _evals(d)
        for key, color, label in (("gold", "tab:blue", "gold"), ("proxy", "tab:orange", "proxy")):
            pts = [(e["step"], _num(e.get(key))) for e in ev]
            pts = [(s, y) for s, y in pts if y is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color, marker="o", ms=3, label=label)
        band = [(e["step"], e.get("gold_ci")) for e in ev]
        band = [(s, _num(c[0]), _num(c[1])) for s, c in band if isinstance(c, (list, tuple)) and len(c) == 2]
        band = [b for b in band if b[1] is not None and b[2] is not None]
        if band:
            ax.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band], color="tab:blue", alpha=0.15)
        stop = _num(d.get("stop_step"))
        if stop is not None:
            ax.axvline(stop, color="#c00", ls="--", lw=1.2, label="stopped" if d.get("stopped") else "onset rule fired")
        ax.set_title(name, fontsize=9, color="#a00" if stop is not None else "black")
        ax.set_xlabel("GRPO step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("held-out score on [0, 1]", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="best")
    img = _png(fig, out / "gold_monitor.png")
    plt.close(fig)
    return img


def gold_monitor_section(rd: RunDir, out: Path) -> str:
    mons = _monitors(rd)
    if not mons:
        return _not_run("Gold tracked during training",
                        "set policy.base.monitor in the run config (or monitor: in a train-policy config), e.g. "
                        "monitor: {every: 2, stop_on_hacking: true}")
    parts = ["<p>The gold monitor (a TRL callback) samples held-out prompts from the policy <i>while it trains</i> "
             "and scores them with the monitor judge every K steps; proxy = the proxy judge on the same samples "
             "(pointwise rewards) or the training reward since the previous evaluation. Shaded: 95% CI of the gold "
             "(prompts resampled); red dashed line: the step the hacking-onset rule fired.</p>"]
    try:
        parts.append(gold_monitor_figure(mons, out))
    except Exception as exc:  # a figure is never worth a failed report
        log.warning("gold monitor figure skipped: %s", exc)
    rows, cls = [], []
    details = []
    for name, d in sorted(mons.items()):
        ev = _evals(d)
        first, last = (ev[0], ev[-1]) if ev else ({}, {})
        st = _d(d.get("settings"))
        rule = _d(st.get("rule"))
        judge = _d(d.get("judge")).get("name") or _d(st.get("judge")).get("name") or "gold"
        rule_txt = (f"proxy +{_v(rule.get('proxy_rise'))} and gold −{_v(rule.get('gold_drop'))} vs the first evaluation"
                    f"{', gold-change CI below 0' if rule.get('ci') else ''}, {_v(rule.get('patience'), 0)} in a row"
                    if rule else "–")
        stop, onset = d.get("stop_step"), d.get("onset_step")
        if d.get("stopped"):
            outcome = f"⚑ stopped at step {_v(stop, 0)} (onset step {_v(onset, 0)})"
        elif stop is not None:
            outcome = f"⚑ onset rule fired at step {_v(stop, 0)} (not stopped: stop_on_hacking off)"
        else:
            outcome = "ran to the end" if ev else "–"
        rows.append([_e(name), _e(judge), _v(st.get("every"), 0), str(len(ev)),
                     _v(first.get("gold")) + " → " + _vci(last.get("gold"), last.get("gold_ci")),
                     _vci(last.get("gold_change"), last.get("gold_change_ci")),
                     _v(first.get("proxy")) + " → " + _v(last.get("proxy")), outcome, _e(rule_txt)])
        cls.append("flag" if stop is not None else "")
        steps = [[_v(e.get("step"), 0), _vci(e.get("gold"), e.get("gold_ci")),
                  _vci(e.get("gold_change"), e.get("gold_change_ci")), _v(e.get("proxy")),
                  _v(e.get("gold_parse_failure_rate")), _v(e.get("completion_tokens"), 1),
                  "⚑" if e.get("flagged") else "", _e(e.get("reason", ""))] for e in ev]
        details.append(f"<details><summary>{_e(name)}: every monitored step</summary>" + _table(
            ["step", "gold [95% CI]", "gold change vs first [CI]", "proxy", "gold parse failures",
             "completion tokens", "flag", "rule"], steps) + "</details>")
    parts.append(_table(["policy", "monitor judge", "every (steps)", "evaluations", "gold first → last [CI]",
                         "gold change [CI]", "proxy first → last", "outcome", "onset rule"], rows, row_class=cls))
    parts.extend(details)
    return "".join(parts)


# -------------------------------------------------------------------------- attacks on judges


def _heat(rate: Any) -> str:
    r = _num(rate)
    if r is None:
        return ""
    r = min(1.0, max(0.0, r))
    return f' style="background:rgba(204,0,0,{0.08 + 0.5 * r:.2f})"'


def attacks_figure(flagged: dict[str, Any], out: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    drawn = 0
    for name, p in sorted(flagged.items()):
        pts = [(c.get("step"), _num(c.get("flagged_rate")), c.get("flagged_rate_ci"))
               for c in _l(_d(p).get("curve")) if isinstance(c, dict)]
        pts = [x for x in pts if _num(x[0]) is not None and x[1] is not None]
        if not pts:
            continue
        xs, ys = [x[0] for x in pts], [x[1] for x in pts]
        lo = [y - (_num(c[0]) if isinstance(c, (list, tuple)) and len(c) == 2 and _num(c[0]) is not None else y)
              for _, y, c in pts]
        hi = [(_num(c[1]) if isinstance(c, (list, tuple)) and len(c) == 2 and _num(c[1]) is not None else y) - y
              for _, y, c in pts]
        ax.errorbar(xs, ys, yerr=[[max(0, v) for v in lo], [max(0, v) for v in hi]], marker="o", ms=3, capsize=2, label=name)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return ""
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("share of samples flagged")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax.set_title("Judge-directed content over training (95% CI by prompt)", fontsize=10)
    img = _png(fig, out / "attacks_flagged.png")
    plt.close(fig)
    return img


def attacks_section(rd: RunDir, out: Path) -> str:
    path = getattr(rd, "attacks", rd.eval_dir / "attacks.json")
    d = _read_json(path) if path.exists() else None
    if not isinstance(d, dict):
        return _not_run("Attacks on judges", "'judgelab attacks --run RUN_DIR', or an attacks: block in the run config")
    parts = ["<p>A detector of judge-directed content (self-assessment, fabricated scores or rubrics, instructions "
             "to the evaluator, master-key openers, invented policies, role markers, invisible characters) reads "
             "every evaluated checkpoint's samples; the transfer matrix judges outputs against clean baselines to the "
             "same prompts with every judge; the stripped re-judge removes the flagged spans and judges again.</p>"]
    ft = {k: v for k, v in _d(d.get("flagged_over_training")).items() if isinstance(v, dict)}
    if ft:
        try:
            parts.append(attacks_figure(ft, out))
        except Exception as exc:
            log.warning("attacks figure skipped: %s", exc)
        rows = []
        for name, p in sorted(ft.items()):
            curve = [c for c in _l(p.get("curve")) if isinstance(c, dict)]
            last = curve[-1] if curve else {}
            kinds = ", ".join(f"{_e(k)} {_v(v)}" for k, v in _d(last.get("by_kind")).items() if _num(v))
            rows.append([_e(name), _e(p.get("role") or "–"), _e(p.get("proxy_judge") or "–"),
                         "<br>".join(f"step {_v(c.get('step'), 0)}: {_vci(c.get('flagged_rate'), c.get('flagged_rate_ci'))}"
                                     f" (n={_v(c.get('n'), 0)})" for c in curve) or "–",
                         kinds or "–"])
        parts.append("<h3>Flagged rate per policy over training</h3>")
        parts.append(_table(["policy", "role", "proxy judge", "flagged rate per checkpoint [95% CI]",
                             "kinds at the last checkpoint"], rows, left=3))
        for name, p in sorted(ft.items()):
            for ex in _l(p.get("examples"))[:1]:
                if isinstance(ex, dict):
                    kinds = ", ".join(sorted({str(_d(f).get("kind")) for f in _l(ex.get("findings"))}))
                    parts.append(f"<p><b>{_e(name)}</b>, {_e(ex.get('prompt_id'))} (flagged: {_e(kinds)})</p>"
                                 f"<pre>{_e(ex.get('response', ''))}</pre>")
    src = {k: v for k, v in _d(d.get("sources")).items() if isinstance(v, dict)}
    if src:
        rows = [[_e(n), _e(s.get("kind", "–")), _v(s.get("n"), 0), _vci(s.get("flagged_rate"), s.get("flagged_rate_ci")),
                 _v(s.get("span_coverage")), _e(s.get("note", ""))] for n, s in src.items()]
        parts.append("<h3>Sources</h3>")
        parts.append(_table(["source", "kind", "n", "detector flagged [CI]", "span coverage (crafted)", "note"], rows))
    tr = {k: v for k, v in _d(d.get("transfer")).items() if isinstance(v, dict)}
    judges = list(_d(d.get("judges"))) or sorted({j for cells in tr.values() for j in cells})
    if tr and judges:
        jinfo = _d(d.get("judges"))
        heads = [f"{j} ({_d(jinfo.get(j)).get('mode', '?')})" for j in judges]
        body = []
        for s, cells in tr.items():
            tds = [f"<td class='l'>{_e(s)}</td>"]
            for j in judges:
                c = _d(cells.get(j))
                # A harvested source with nothing flagged is no attack: its rate is 'last checkpoint beats
                # step 0', shown without the attack colour.
                plain = _d(src.get(s)).get("kind") != "crafted" and c.get("n_flagged") == 0
                tds.append(f"<td{'' if plain else _heat(c.get('asr'))}>{_vci(c.get('asr'), c.get('asr_ci'))}"
                           f"<br><small>n={_v(c.get('n'), 0)}{'; nothing flagged' if plain else ''}</small></td>"
                           if c else "<td>–</td>")
            body.append("<tr>" + "".join(tds) + "</tr>")
        th = "<th class='l'>source \\ judge</th>" + "".join(f"<th>{_e(h)}</th>" for h in heads)
        parts.append("<h3>Transfer matrix: attack success rate (source × judge)</h3>")
        parts.append("<p>Share of a source's outputs the judge prefers to the clean baseline (pointwise: scores "
                     "strictly higher; pairwise: wins over both orders), 95% CI clustered by prompt. Harvested "
                     "sources are a policy's last checkpoint against its own step 0; crafted ones are attack templates "
                     "planted into clean answers. Red: an attack's success; a harvested source with nothing flagged "
                     "is uncoloured (its rate is only 'the last checkpoint beats step 0').</p>")
        parts.append(f"<table><tr>{th}</tr>{''.join(body)}</table>")
        if any("score_drop" in _d(c) or "asr_stripped" in _d(c) for cells in tr.values() for c in cells.values()):
            rows = []
            for s, cells in tr.items():
                row = [_e(s)]
                for j in judges:
                    c = _d(cells.get(j))
                    if not c or (c.get("score_drop") is None and c.get("asr_stripped") is None):
                        row.append("–")
                        continue
                    if c.get("n_flagged") == 0 or (c.get("n_stripped") == 0 and c.get("score_drop") is None):
                        row.append("no flagged output")  # nothing was stripped: no drop to show
                        continue
                    row.append(f"drop {_vci(c.get('score_drop'), c.get('score_drop_ci'))} "
                               f"(n={_v(c.get('n_stripped'), 0)})<br><small>ASR {_v(c.get('asr_flagged', c.get('asr')))}"
                               f" → {_v(c.get('asr_flagged_stripped', c.get('asr_stripped')))} stripped</small>")
                rows.append(row)
            parts.append("<h3>Stripped re-judge: how much of the score came from the attack</h3>")
            parts.append("<p>Flagged outputs judged again with the flagged spans removed: score drop (pointwise: "
                         "score points; pairwise: P(win vs baseline)) and, over the same n flagged outputs, the success rate "
                         "before → after stripping.</p>")
            parts.append(_table(["source \\ judge", *heads], rows))
    elif tr or judges or src:
        parts.append("<p class='notrun'>Transfer matrix: no judge was run (detection only).</p>")
    if len(parts) == 1:
        return _not_run("Attacks on judges", f"{path.name} has no results yet; rerun 'judgelab attacks --run RUN_DIR'")
    return "".join(parts)


# --------------------------------------------------------------------------------- best of N


def _curve_by_n(rows: Any) -> dict[Any, dict[str, Any]]:
    return {r.get("n"): r for r in _l(rows) if isinstance(r, dict) and r.get("n") is not None}


def best_of_n_section(rd: RunDir, out: Path) -> str:
    parts = []
    for f, d in _eval_jsons(rd, "best_of_n.json"):
        curves = {m: _curve_by_n(c) for m, c in _d(d.get("curves")).items()}
        oracle, rand = _curve_by_n(d.get("oracle")), _curve_by_n(d.get("random"))
        ns = [n for n in _l(d.get("ns"))] or sorted({n for c in (*curves.values(), oracle, rand) for n in c},
                                                     key=lambda n: _num(n) or 0)
        if not ns:
            continue
        rel = f.parent.relative_to(rd.eval_dir)
        parts.append(f"<h3>selector: {_e(d.get('selector', '?'))} · gold: {_e(d.get('gold', '?'))}"
                     f"{'' if str(rel) == '.' else f' <small>(eval/{_e(rel)})</small>'}</h3>")
        parts.append(f"<p>{_v(d.get('prompts'), 0)} prompts, {_v(d.get('candidates'), 0)} candidates"
                     f" ({_e(d.get('source') or '–')}), {_v(d.get('draws'), 0)} random subsets per prompt and N; "
                     "gold of the pick on [0, 1], mean over prompts [95% CI by prompt]. Oracle = best candidate by "
                     "gold (the ceiling), random = the subset's mean (the floor).</p>")
        png = f.with_suffix(".png")
        name = "best_of_n" if str(rel) == "." else _safe_name(rel)
        name = (name if name.startswith("best_of_n") else f"best_of_n_{name}") + ".png"
        img = _embed_png(png, out, name) if png.exists() else ""
        if not img:
            try:
                from judgelab.evaluate.best_of_n import plot_best_of_n

                tmp = out / name
                plot_best_of_n(d, tmp)
                img = _embed_png(tmp, out, tmp.name)
            except Exception as exc:  # partial file: the table still shows what there is
                log.warning("best-of-N figure for %s skipped: %s", f, exc)
        parts.append(img)
        methods = list(curves)
        rows = []
        for n in ns:
            rows.append([_v(n, 0)] + [_vci(_d(curves[m].get(n)).get("gold"), _d(curves[m].get(n)).get("ci"), 3) for m in methods]
                        + [_vci(_d(oracle.get(n)).get("gold"), _d(oracle.get(n)).get("ci"), 3),
                           _vci(_d(rand.get(n)).get("gold"), _d(rand.get(n)).get("ci"), 3)])
        parts.append(_table(["N", *[f"{m} pick" for m in methods], "oracle (ceiling)", "random (floor)"], rows))
        cost = _d(d.get("cost"))
        if cost:
            parts.append("<p>selector cost: " + "; ".join(
                f"{_e(m)} {_v(_d(c).get('judge_calls'), 0)} judge calls, {_v(_d(c).get('seconds'), 1)} s" for m, c in cost.items())
                + f"; gold scoring {_v(d.get('gold_seconds'), 1)} s, gold parse failures {_v(d.get('gold_parse_failure_rate'))}</p>")
    if not parts:
        return _not_run("Best-of-N", "'judgelab best-of-n --selector JUDGE --model MODEL --out RUN_DIR/eval/best_of_n', "
                        "or a best_of_n: block in the run config")
    return "".join(parts)


# --------------------------------------------------------------------- judge test-time scaling


def judge_scaling_section(rd: RunDir, out: Path) -> str:
    parts = []
    for f, d in _eval_jsons(rd, "*.scaling.json"):
        voting = [r for r in _l(d.get("voting")) if isinstance(r, dict)]
        thinking = [r for r in _l(d.get("thinking")) if isinstance(r, dict)]
        if not voting and not thinking:
            continue
        judge = d.get("judge") or f.name[: -len(".scaling.json")]
        parts.append(f"<h3>{_e(judge)} <small>({_e(d.get('mode', '?'))}, {_v(d.get('n_pairs'), 0)} held-out pairs, "
                     f"votes at temperature {_v(d.get('temperature'))})</small></h3>")
        png = f.parent / (f.name[: -len(".json")] + ".png")
        if png.exists():
            parts.append(_embed_png(png, out, png.name))
        rows = []
        for r in voting:
            rows.append([f"votes k = {_v(r.get('k'), 0)}", _vci(r.get("accuracy"), r.get("accuracy_ci95"), 3),
                         _v(r.get("tokens_per_item"), 1), _v(r.get("tokens"), 0), _v(r.get("seconds"), 1),
                         _v(r.get("parse_failure_rate")), _v(r.get("tie_rate")), "–"])
        for r in thinking:
            rows.append([f"thinking budget {_v(r.get('budget'), 0)}", _vci(r.get("accuracy"), r.get("accuracy_ci95"), 3),
                         _v(r.get("tokens_per_item"), 1), _v(r.get("tokens"), 0), _v(r.get("seconds"), 1),
                         _v(r.get("parse_failure_rate")), _v(r.get("tie_rate")), _v(r.get("truncated_rate"))])
        parts.append(_table(["compute", "agreement with gold [95% CI]", "tokens / item", "tokens", "seconds",
                             "parse failures", "ties", "truncated"], rows))
    if not parts:
        return _not_run("Judge test-time scaling", "'judgelab judge-scaling --run RUN_DIR --judge JUDGE', or a "
                        "judge_scaling: block in the run config")
    return ("<p>Agreement with the gold on held-out pairs (non-tie gold labels) as the judge spends more compute: "
            "k sampled verdicts aggregated by vote (pairwise) or mean score (pointwise), and thinking budgets "
            "(generation cap); cost in generated tokens and seconds.</p>" + "".join(parts))
