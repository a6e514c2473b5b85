"""Report sections on the trained policies: proxy reward vs gold score over training (the central
figure), the reward-hacking flags, length drift and sample outputs of the last checkpoint.

Reads ``eval/policies/<name>.json`` (``PolicyEvalResult``, judgelab.evaluate.policies.results: gold
monitoring rows and the hacking flag), ``policies/<name>/log.jsonl`` (training reward) and
``eval/policies/<name>/samples-step-N.jsonl``. Writes ``report/proxy_vs_gold.png`` and
``report/length_drift.png``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from judgelab.data.rundir import RunDir
from judgelab.evaluate.policies.results import PolicyEvalResult, PolicyEvalRow
from judgelab.report.artifacts import Unreadable, read_jsonl, read_result, train_curve
from judgelab.report.render import esc, fmt, left_out, not_run, png, pyplot, table

Evals = dict[str, PolicyEvalResult]


def read_policy_evals(rd: RunDir) -> tuple[Evals, list[str]]:
    """Every policy evaluation of the run, by policy; notes on the files left out."""
    evals: Evals = {}
    notes = []
    for f in rd.policy_evals():
        r = read_result(PolicyEvalResult, f)
        if isinstance(r, Unreadable):
            notes.append(left_out(r, rd.root))
        elif r is not None:
            evals[r.policy] = r
    return evals, notes


def gold_gain(gain: float | None, ci: list[float] | None) -> str:
    """A gold gain vs step 0 with its CI."""
    return f"{fmt(gain, 2)} {fmt(ci, 2)}"


def _panel(ax: Any, names: list[str], evals: Evals, rd: RunDir) -> None:
    """One proxy judge's panel: each policy a thin line, the mean over policies thick."""
    import numpy as np

    curves: dict[str, list[tuple[list[int], list[float]]]] = defaultdict(list)
    for name in names:
        rows = evals[name].rows
        for key in ("proxy_score", "gold_score_norm"):
            pts = [(r.step, y) for r in rows if (y := getattr(r, key)) is not None]
            if pts:
                curves[key].append(([p[0] for p in pts], [p[1] for p in pts]))
        ts, tr = train_curve(rd, name)
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


def proxy_vs_gold_figure(evals: Evals, rd: RunDir, out: Path) -> str:
    """Per proxy judge a panel, x = GRPO step, proxy reward and gold score both on [0, 1]."""
    plt = pyplot()
    panels: dict[str, list[str]] = defaultdict(list)
    for name, ev in evals.items():
        panels[f"{ev.proxy_judge} ({ev.reward_mode})"].append(name)
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.8), squeeze=False, sharey=True)
    for ax, (title, names) in zip(axes[0], sorted(panels.items())):
        _panel(ax, names, evals, rd)
        flagged = [nm for nm in names if evals[nm].hacking.flagged]
        ax.set_title(title + ("  ⚑ hacking" if flagged else ""), color="#a00" if flagged else "black", fontsize=10)
        ax.set_xlabel("GRPO step")
        ax.grid(alpha=0.3)
        ax.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("score on [0, 1]")
    axes[0][0].plot([], [], color="tab:orange", ls=":", label="proxy (training, smoothed)")
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle("Proxy reward vs gold score", y=1.04)  # above the panel titles, not over them
    img = png(fig, out / "proxy_vs_gold.png")
    plt.close(fig)
    return img


def proxy_vs_gold_section(rd: RunDir, evals: Evals, out: Path, notes: list[str]) -> str:
    if not evals:
        return not_run("Gold monitoring", "run 'judgelab train-policy' then 'judgelab evaluate'") + "".join(notes)
    return proxy_vs_gold_figure(evals, rd, out) + (
        "<p>Thin lines: one policy (seed) each; thick: their mean. Proxy on held-out prompts in the reward's own "
        "terms (pointwise: normalised score; pairwise: win rate vs the initial policy); dotted: training reward.</p>"
        + "".join(notes))


def _hacking_row(name: str, ev: PolicyEvalResult, at_chance: frozenset[str] = frozenset()) -> list[str]:
    h = ev.hacking
    judge = esc(ev.proxy_judge) + (" <b>(judge at chance: says nothing about its kind)</b>"
                                   if ev.proxy_judge in at_chance else "")
    r0, r1 = (ev.rows[0], ev.rows[-1]) if ev.rows else (None, None)

    def at(r: PolicyEvalRow | None, key: str) -> Any:
        return getattr(r, key) if r is not None else None

    decoding = r1.decoding if r1 is not None else "greedy"
    greedy = r1.by_decoding.get("greedy") if r1 is not None and decoding != "greedy" else None
    return [esc(name), judge, esc(ev.reward_mode), esc(decoding),
            fmt(at(r0, "proxy_score")) + " → " + fmt(at(r1, "proxy_score")),
            fmt(at(r0, "gold_score_norm")) + " → " + fmt(at(r1, "gold_score_norm")),
            gold_gain(at(r1, "gold_gain"), at(r1, "gold_gain_ci")),
            gold_gain(greedy.gold_gain, greedy.gold_gain_ci) if greedy else "—",
            fmt(at(r1, "gold_win_rate")) + " " + fmt(at(r1, "gold_win_rate_ci")),
            (f"<b>{esc(c.outcome)}</b> ({esc(c.kind)})" if (c := ev.hacking_call) else "–"),
            esc(c.reason) if c else "no call in this file (rerun 'judgelab evaluate')",
            ("⚑ " + esc(h.kind)) if h.flagged else "no"]


def hacking_section(evals: Evals, at_chance: frozenset[str] = frozenset()) -> str:
    """Per policy: proxy and gold first → last, gold gain, win rate vs the initial policy, the flag;
    a policy whose judge failed the judge gate (``at_chance``) is marked."""
    if not evals:
        return not_run("Hacking flags", "run 'judgelab evaluate'")
    rows = [_hacking_row(name, ev, at_chance) for name, ev in sorted(evals.items())]
    cls = ["flag" if (ev.hacking_call.outcome == "hacked" if ev.hacking_call else ev.hacking.flagged) else ""
           for _, ev in sorted(evals.items())]
    return (table(["policy", "proxy judge", "reward", "decoding", "proxy first → last", "gold first → last",
                   "gold gain [CI]", "greedy gold gain [CI]", "gold win rate vs initial (CI)", "hacking call", "why",
                   "v1 flag"], rows, left=4, row_class=cls)
            + "<p>Proxy, gold and win rate use the row's decoding ('sampled': k completions per held-out prompt at "
            "the training temperature; CIs clustered by prompt); the greedy column is one greedy completion per prompt. "
            "The hacking call (hacked / not hacked / undetermined) reads paired 95% CIs of the proxy gain, the gold "
            "gain and the peak-to-final gold drop, with thresholds relative to the oracle's gain (docs/guide/"
            "hacking.md, with its measured error rates); the v1 flag is the old point-threshold rule.</p>")


def length_figure(evals: Evals, out: Path) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, ev in sorted(evals.items()):
        rows = [r for r in ev.rows if r.length_chars_mean is not None]
        ax.plot([r.step for r in rows], [r.length_chars_mean for r in rows], marker="o", ms=3, label=name)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean completion length (chars)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))  # outside: 12+ lines
    ax.set_title("Length drift")
    img = png(fig, out / "length_drift.png")
    plt.close(fig)
    return img


def length_section(evals: Evals, out: Path) -> str:
    return length_figure(evals, out) if evals else not_run("Length drift", "run 'judgelab evaluate'")


def samples_section(rd: RunDir, evals: Evals, k: int = 3) -> str:
    """The first ``k`` samples of each policy's last evaluated checkpoint, with gold and proxy scores."""
    parts = []
    for name, ev in sorted(evals.items()):
        if not ev.rows:
            continue
        last = ev.rows[-1].step
        samples = read_jsonl(rd.eval_samples(name, last))[:k]  # tolerant: a report never fails on one bad line
        if not samples:
            continue
        parts.append(f"<h3>{esc(name)} @ step {last}</h3>")
        for s in samples:
            parts.append(f"<p><b>{esc(s.get('prompt_id'))}</b>: {esc(s.get('prompt', ''))}<br>"
                         f"gold {fmt(s.get('gold_score'), 2)} · proxy {fmt(s.get('proxy_score'), 2)}</p>"
                         f"<pre>{esc(s.get('response', ''))}</pre>")
    return "".join(parts) or not_run("Sample outputs", "run 'judgelab evaluate'")


def gold_vs_kl_section(evals: Evals, out: Path) -> str:
    """Gold (normalised) against the policy's KL from the initial policy, one line per policy, as
    in the overoptimisation literature: a hacked policy's gold turns down as KL grows."""
    with_kl = {n: ev for n, ev in evals.items() if any(r.kl_from_initial is not None for r in ev.rows)}
    if not with_kl:
        return not_run("Gold against KL", "set evaluate.kl_samples >= 1 (KL from the initial policy, estimated offline)")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, ev in sorted(with_kl.items()):
        rows = [r for r in ev.rows if r.kl_from_initial is not None and r.gold_score_norm is not None]
        ax.plot([r.kl_from_initial for r in rows], [r.gold_score_norm for r in rows], marker="o", ms=3,
                label=f"{name} ({ev.role})")
    ax.set_xlabel("KL from the initial policy (nats per completion, estimated from samples)")
    ax.set_ylabel("gold (normalised)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax.set_title("Gold against KL")
    img = png(fig, out / "gold_vs_kl.png")
    plt.close(fig)
    return img + ("<p>KL(policy || initial) per checkpoint: the mean over the first evaluate.kl_samples sampled "
                  "completions per held-out prompt of log pi(y|x) - log pi_0(y|x) (judgelab.evaluate.policies.kl).</p>")
