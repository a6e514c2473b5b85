"""Report section on gold tracked during training: what the gold monitor (a TRL callback,
judgelab.train.gold_callback) saw every K steps, and where its hacking-onset rule fired.

Reads ``policies/<name>/gold_monitor.json`` (``GoldMonitorResult``, judgelab.train.results).
Writes ``report/gold_monitor.png``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from judgelab.data.rundir import RunDir
from judgelab.report.artifacts import Unreadable, as_dict, read_result
from judgelab.report.render import esc, finite, fmt_value, fmt_value_ci, left_out, not_run, png, pyplot, table
from judgelab.train.results import GoldMonitorResult, MonitorEval

log = logging.getLogger(__name__)

MONITOR_FILE = "gold_monitor.json"  # judgelab.train.gold_callback.MONITOR_FILE (not imported: no torch/transformers here)


def _monitors(rd: RunDir) -> tuple[dict[str, GoldMonitorResult], list[str]]:
    """Each policy's gold monitor with at least one evaluation, by policy; notes on files left out."""
    root = rd.policies_dir
    mons: dict[str, GoldMonitorResult] = {}
    notes = []
    for f in sorted(root.glob(f"*/{MONITOR_FILE}")) if root.is_dir() else []:
        r = read_result(GoldMonitorResult, f)
        if isinstance(r, Unreadable):
            notes.append(left_out(r, rd.root))
        elif r is not None and r.evals:
            mons[f.parent.name] = r
    return mons, notes


def _evals(d: GoldMonitorResult) -> list[MonitorEval]:
    return sorted(d.evals, key=lambda e: e.step)


def gold_monitor_figure(mons: dict[str, GoldMonitorResult], out: Path) -> str:
    """One small panel per policy: gold (with its CI band) and proxy per monitored step, the stop step."""
    plt = pyplot()
    n = len(mons)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, (name, d) in zip(axes.flat, sorted(mons.items())):
        ev = _evals(d)
        for key, color in (("gold", "tab:blue"), ("proxy", "tab:orange")):
            pts = [(e.step, y) for e in ev if (y := finite(getattr(e, key))) is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color, marker="o", ms=3, label=key)
        band = [(e.step, finite(e.gold_ci[0]), finite(e.gold_ci[1])) for e in ev if e.gold_ci and len(e.gold_ci) == 2]
        band = [b for b in band if b[1] is not None and b[2] is not None]
        if band:
            ax.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band], color="tab:blue", alpha=0.15)
        stop = d.stop_step
        if stop is not None:
            ax.axvline(stop, color="#c00", ls="--", lw=1.2, label="stopped" if d.stopped else "onset rule fired")
        ax.set_title(name, fontsize=9, color="#a00" if stop is not None else "black")
        ax.set_xlabel("GRPO step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_ylim(-0.02, 1.02)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("held-out score on [0, 1]", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="best")
    img = png(fig, out / "gold_monitor.png")
    plt.close(fig)
    return img


def _summary_row(name: str, d: GoldMonitorResult, ev: list[MonitorEval]) -> list[str]:
    """A policy's row: monitor judge, cadence, gold and proxy first → last, the rule and its outcome."""
    first, last = ev[0], ev[-1]
    st = d.settings
    rule = as_dict(st.get("rule"))
    judge = as_dict(d.judge).get("name") or as_dict(st.get("judge")).get("name") or "gold"
    # HackingRule's keys; proxy_rise / gold_drop: gold_monitor.json of runs written before it
    proxy_min = rule.get("min_proxy_gain", rule.get("proxy_rise"))
    drop = finite(rule.get("gold_drop")) if (most := finite(rule.get("max_gold_change"))) is None else 0.0 - most
    rule_txt = (f"proxy +{fmt_value(proxy_min)} and gold −{fmt_value(drop)} vs the first "
                f"evaluation{', gold-change CI below 0' if rule.get('ci') else ''}, {fmt_value(rule.get('patience'), 0)} "
                "in a row" if rule else "–")
    stop, onset = d.stop_step, d.onset_step
    if d.stopped:
        outcome = f"⚑ stopped at step {fmt_value(stop, 0)} (onset step {fmt_value(onset, 0)})"
    elif stop is not None:
        outcome = f"⚑ onset rule fired at step {fmt_value(stop, 0)} (not stopped: stop_on_hacking off)"
    else:
        outcome = "ran to the end"
    return [esc(name), esc(judge), fmt_value(st.get("every"), 0), str(len(ev)),
            fmt_value(first.gold) + " → " + fmt_value_ci(last.gold, last.gold_ci),
            fmt_value_ci(last.gold_change, last.gold_change_ci),
            fmt_value(first.proxy) + " → " + fmt_value(last.proxy), outcome, esc(rule_txt)]


def _steps_table(name: str, ev: list[MonitorEval]) -> str:
    """Every monitored step of one policy, folded."""
    steps = [[fmt_value(e.step, 0), fmt_value_ci(e.gold, e.gold_ci), fmt_value_ci(e.gold_change, e.gold_change_ci),
              fmt_value(e.proxy), fmt_value(e.gold_parse_failure_rate), fmt_value(e.completion_tokens, 1),
              "⚑" if e.flagged else "", esc(e.reason)] for e in ev]
    return (f"<details><summary>{esc(name)}: every monitored step</summary>" + table(
        ["step", "gold [95% CI]", "gold change vs first [CI]", "proxy", "gold parse failures",
         "completion tokens", "flag", "rule"], steps) + "</details>")


def gold_monitor_section(rd: RunDir, out: Path) -> str:
    mons, notes = _monitors(rd)
    if not mons:
        return not_run("Gold tracked during training",
                       "set policy.base.monitor in the run config (or monitor: in a train-policy config), e.g. "
                       "monitor: {every: 2, stop_on_hacking: true}") + "".join(notes)
    parts = ["<p>The gold monitor (a TRL callback) samples held-out prompts from the policy <i>while it trains</i> "
             "and scores them with the monitor judge every K steps; proxy = the proxy judge on the same samples "
             "(pointwise rewards) or the training reward since the previous evaluation. Shaded: 95% CI of the gold "
             "(prompts resampled); red dashed line: the step the hacking-onset rule fired.</p>"]
    try:
        parts.append(gold_monitor_figure(mons, out))
    except Exception as exc:  # a figure is never worth a failed report
        log.warning("gold monitor figure skipped: %s", exc)
    rows, cls, details = [], [], []
    for name, d in sorted(mons.items()):
        ev = _evals(d)
        rows.append(_summary_row(name, d, ev))
        cls.append("flag" if d.stop_step is not None else "")
        details.append(_steps_table(name, ev))
    parts.append(table(["policy", "monitor judge", "every (steps)", "evaluations", "gold first → last [CI]",
                        "gold change [CI]", "proxy first → last", "outcome", "onset rule"], rows, row_class=cls))
    parts.extend(details)
    parts.extend(notes)
    return "".join(parts)
