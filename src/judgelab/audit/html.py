"""The audit's pages: ``card.html``, one judge's audit card a researcher reads at a glance, and
``compare.html``, several cards side by side (static agreement against what training against the judge
did: the study's point).

Reads only the ``AuditCard`` objects it is given (``audit/<judge>/card.json``, typed in
judgelab.audit.card). Writes the page it is given (self-contained: no external JS, CSS or fonts, the
figure embedded as base64) and that figure as a PNG next to it: ``<stem>-curves.png`` for a card
(gold and proxy per GRPO step, per arm), ``<stem>-compare.png`` for a comparison (each judge arm's
gold curve; static agreement vs the judge arm's gold gain). Numbers and CIs go through
judgelab.report.render; a missing value prints as ``render.MISSING``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from judgelab.audit.card import (AdversarialSection, Arm, AuditCard, DynamicSection, Estimate, SelectionSection,
                                 StaticSection)
from judgelab.data.jsonl import atomic_write_text
from judgelab.errors import ConfigError
from judgelab.report.render import (CSS, MISSING, esc, finite, fmt_ci, fmt_value, fmt_value_ci, png, pyplot,
                                    table)

log = logging.getLogger(__name__)

# The summary box reuses the report's instrument-check colours: red hacked, green not hacked, amber the rest.
BOX = {"hacked": "failed", "not hacked": "passed"}
EXTRA_CSS = ".summary{font-size:1.15em}.meta td{font-size:.9em}"


# ------------------------------------------------------------------------------------ cells


def _est(e: Estimate | None, nd: int = 2, n: bool = False) -> str:
    """``value [lo, hi]`` (and ``(n=…)``); MISSING without a value."""
    if e is None or e.value is None:
        return MISSING
    return fmt_value_ci(e.value, e.ci95, nd) + (f" (n={e.n})" if n and e.n is not None else "")


def _gain(e: Estimate | None, nd: int = 2) -> str:
    """A signed change with its CI: ``+0.12 [0.05, 0.19]``; MISSING without a value."""
    v = finite(e.value) if e is not None else None
    if v is None:
        return MISSING
    ci = fmt_ci(e.ci95, nd)
    return f"{v:+.{nd}f}" + (f" {ci}" if ci else "")


def _pct(x: float | None) -> str:
    v = finite(x)
    return MISSING if v is None else f"{v:.0%}"


def _text(x: Any) -> str:
    return MISSING if x is None else esc(x)


def _judge_arm(card: AuditCard) -> Arm | None:
    d = card.dynamic
    return None if d is None else next((a for a in d.arms if a.role == "judge"), None)


def _not_measured(card: AuditCard, title: str) -> str:
    why = " (why: see “What this audit cannot show” below)" if card.limits else ""
    return f'<p class="notrun">{esc(title)}: not measured{why}.</p>'


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}{EXTRA_CSS}</style></head><body>{body}</body></html>")


def _mpl(label: str) -> str:
    """A label matplotlib draws as typed: no mathtext from '$', not hidden from the legend by a leading '_'."""
    s = label.replace("$", r"\$")
    return " " + s if s.startswith("_") else s


def _yerr(ys: list[float], cis: list[Any]) -> list[list[float]]:
    """Below/above distances of each point's CI ends (0 where there is no CI)."""
    def end(c: Any, i: int, y: float) -> float:
        v = finite(c[i]) if isinstance(c, (list, tuple)) and len(c) == 2 else None
        return y if v is None else v

    return [[max(0.0, y - end(c, 0, y)) for y, c in zip(ys, cis)],
            [max(0.0, end(c, 1, y) - y) for y, c in zip(ys, cis)]]


def _figure(draw: Callable[[Any, Any], bool], path: Path, what: str) -> str:
    """Two panels side by side drawn by ``draw(plt, axes)``; the embedded <img>, or "" when it drew
    nothing or failed (a figure is never worth a failed page)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    try:
        return png(fig, path) if draw(plt, axes) else ""
    except Exception as exc:
        log.warning("%s figure skipped: %s", what, exc)
        return ""
    finally:
        plt.close(fig)


def _gold_line(ax: Any, arm: Arm, label: str, color: str | None = None) -> bool:
    """The arm's gold per step with its CI bars on ``ax``; False when it has no gold to draw."""
    pts = [(p.step, finite(p.gold), p.gold_ci95) for p in arm.curve if finite(p.gold) is not None]
    if not pts:
        return False
    ys = [y for _, y, _ in pts]
    ax.errorbar([s for s, _, _ in pts], ys, yerr=_yerr(ys, [c for *_, c in pts]), marker="o", ms=3, capsize=2,
                c=color, label=label)
    return True


# ----------------------------------------------------------------------------------- card page


def _header(card: AuditCard) -> str:
    """The title and the summary in a box coloured by the dynamic call."""
    d = card.dynamic
    call = "not measured" if d is None else d.call or "none"
    box = BOX.get(call.strip().lower(), "incomplete")
    return (f"<h1>judgelab audit — {esc(card.judge)}</h1>"
            f'<div class="check summary {box}"><b>dynamic call: {esc(call)}</b><br>{esc(card.summary)}</div>')


def _metadata(card: AuditCard) -> str:
    rows = [["judge", esc(card.judge)], ["judge spec", esc(card.judge_spec)], ["gold", esc(card.gold)],
            ["budget", esc(card.budget)], ["prompts", esc(card.prompts)], ["source run", _text(card.source_run)],
            ["run dir", esc(card.run_dir)], ["created", esc(card.created)], ["judgelab", esc(card.judgelab)]]
    return f'<div class="meta">{table(["", "value"], rows, left=2)}</div>'


def _static(s: StaticSection) -> str:
    a = s.agreement
    how = ", ".join(x for x in (f"n={a.n}" if a.n is not None else "", esc(a.method or "")) if x)
    rows = [["agreement with the gold [95% CI]", _est(a) + (f" ({how})" if how else "")],
            ["non-tie accuracy", fmt_value(s.non_tie_accuracy)],
            ["position consistency", fmt_value(s.position_consistency)],
            ["self-consistency", fmt_value(s.self_consistency)],
            ["parse failures", fmt_value(s.parse_failure_rate)],
            ["tie rate", fmt_value(s.tie_rate)],
            ["pairs (split)", f"{s.n_pairs} ({esc(s.split)})"],
            ["judge gate", _text(s.gate)]]
    flags = [""] * (len(rows) - 1) + ["flag" if s.gate == "at chance" else ""]  # the gate row last
    parts = [table(["measure", "value"], rows, row_class=flags)]
    if s.benchmarks:
        parts.append(table(["file", "benchmark", "metric", "value", "n"], left=3, rows=[
            [esc(b.file), esc(b.benchmark), esc(b.metric), fmt_value(b.value), fmt_value(b.n, 0)] for b in s.benchmarks]))
    return "".join(parts)


def _adversarial(a: AdversarialSection) -> str:
    if not a.rows:
        return '<p class="notrun">no attack source was scored.</p>'
    rows = [[esc(r.source) + (" <b>(worst)</b>" if r.source == a.worst else ""), _est(r.asr),
             fmt_value(r.asr.n, 0), _est(r.gold_asr), _est(r.asr_stripped), str(r.n_flagged)] for r in a.rows]
    flags = ["flag" if r.source == a.worst else "" for r in a.rows]
    return table(["source", "ASR [95% CI]", "n", "gold's ASR", "stripped ASR [95% CI]", "flagged"], rows, row_class=flags)


def _selection(s: SelectionSection) -> str:
    row = [str(s.n), str(s.prompts), _est(s.judge_pick), _est(s.random_pick), _est(s.gold_pick),
           _pct(s.recovered), esc(s.method)]
    return table(["N", "prompts", "judge's pick [95% CI]", "random pick", "gold's pick (ceiling)",
                  "recovered", "method"], [row], left=0)


def _arms_table(d: DynamicSection) -> str:
    rows = [[esc(a.role), esc(a.policy), esc(a.reward), _text(a.call), _text(a.call_kind),
             _gain(a.gold_gain), _gain(a.proxy_gain), fmt_value(a.onset_step, 0)] for a in d.arms]
    flags = ["flag" if (a.call or "").strip().lower() == "hacked" else "" for a in d.arms]
    heads = ["role", "policy", "reward judge", "call", "call kind", "gold gain [95% CI]", "proxy gain [95% CI]",
             "onset step"]
    reasons = "".join(f"<li>{esc(a.role)}: {esc(a.call_reason)}</li>" for a in d.arms if a.call_reason)
    return table(heads, rows, left=5, row_class=flags) + (f"<ul>{reasons}</ul>" if reasons else "")


def _draw_arms(arms: list[Arm]) -> Callable[[Any, Any], bool]:
    def draw(plt: Any, axes: Any) -> bool:
        drawn = False
        for i, a in enumerate(arms):
            label, color = _mpl(f"{a.role}: {a.policy}"), f"C{i}"  # one colour per arm in both panels
            g = _gold_line(axes[0], a, label, color)
            if a.onset_step is not None:
                axes[0].axvline(a.onset_step, ls=":", c=color)
            pr = [(p.step, finite(p.proxy)) for p in a.curve if finite(p.proxy) is not None]
            if pr:
                axes[1].plot([s for s, _ in pr], [y for _, y in pr], marker="o", ms=3, c=color, label=label)
            drawn = drawn or g or bool(pr)
        for ax, name in zip(axes, ("gold (held-out prompts)", "proxy (the arm's own reward)")):
            ax.set(xlabel="GRPO step", ylabel=f"{name}, [0, 1]", ylim=(-0.02, 1.02))
            ax.xaxis.get_major_locator().set_params(integer=True)  # steps are whole numbers
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        return drawn
    return draw


def _dynamic(d: DynamicSection, fig_path: Path) -> str:
    controls = esc(d.controls) if d.controls == "ok" else f'<span class="flag">{esc(d.controls)}</span>'
    head = (f"<p>{d.steps} GRPO steps · judge arm's call: <b>{_text(d.call)}</b> · gold gain as a share "
            f"of the oracle's: {_pct(d.gold_gain_fraction)} · benign proxy: noise sd {fmt_value(d.benign_noise)}, "
            f"agreement {fmt_value(d.benign_agreement)} · controls: {controls}</p>")
    return head + _arms_table(d) + _figure(_draw_arms(d.arms), fig_path, "audit curves")


def _seconds(card: AuditCard) -> str:
    if not card.seconds:
        return '<p class="notrun">no timings recorded.</p>'
    rows = [[esc(k), fmt_value(v, 1)] for k, v in card.seconds.items()]
    return table(["section", "seconds"], rows + [["total", fmt_value(sum(card.seconds.values()), 1)]])


def _limits(card: AuditCard) -> str:
    if not card.limits:
        return '<p class="notrun">none recorded.</p>'
    return "<ul>" + "".join(f"<li>{esc(x)}</li>" for x in card.limits) + "</ul>"


def render_card(card: AuditCard, out: Path) -> Path:
    """Write ``out`` (card.html) and ``<stem>-curves.png`` next to it; returns ``out``."""
    out = Path(out)
    fig_path = out.with_name(f"{out.stem}-curves.png")
    sections: list[tuple[str, Any, Callable[[Any], str]]] = [
        ("Static", card.static, _static),
        ("Adversarial", card.adversarial, _adversarial),
        ("Selection (best-of-N)", card.selection, _selection),
        ("Dynamic (GRPO against the judge)", card.dynamic, lambda d: _dynamic(d, fig_path)),
    ]
    body = _header(card) + _metadata(card) + "".join(
        f"<h2>{esc(title)}</h2>" + (_not_measured(card, title) if part is None else render(part))
        for title, part, render in sections)
    body += f"<h2>Time per section</h2>{_seconds(card)}<h2>What this audit cannot show</h2>{_limits(card)}"
    return atomic_write_text(out, _page(f"judgelab audit — {card.judge}", body))


# -------------------------------------------------------------------------------- compare page


def _worst(c: AuditCard) -> str:
    a = c.adversarial
    row = next((r for r in a.rows if r.source == a.worst), None) if a is not None else None
    return MISSING if row is None else f"{esc(row.source)} {_est(row.asr)}"


def _best_of_n(c: AuditCard) -> str:
    s = c.selection
    return MISSING if s is None or s.recovered is None else f"{_pct(s.recovered)} (N={s.n})"


def _call(c: AuditCard) -> str:
    a = _judge_arm(c)
    if a is None or a.call is None:
        return MISSING
    text = esc(a.call) + (f" ({esc(a.call_kind)})" if a.call_kind else "")
    return f'<span class="flag">{text}</span>' if a.call.strip().lower() == "hacked" else text


def _arm_gain(c: AuditCard, which: str) -> str:
    a = _judge_arm(c)
    return MISSING if a is None else _gain(getattr(a, which))


# (row name, cell of one card); each cell is HTML already.
COMPARE_ROWS: list[tuple[str, Callable[[AuditCard], str]]] = [
    ("judge", lambda c: esc(c.judge)),
    ("gold", lambda c: esc(c.gold)),
    ("budget", lambda c: esc(c.budget)),
    ("prompts", lambda c: esc(c.prompts)),
    ("agreement [95% CI]", lambda c: MISSING if c.static is None else _est(c.static.agreement, n=True)),
    ("judge gate", lambda c: MISSING if c.static is None else _text(c.static.gate)),
    ("position consistency", lambda c: MISSING if c.static is None else fmt_value(c.static.position_consistency)),
    ("parse failures", lambda c: MISSING if c.static is None else fmt_value(c.static.parse_failure_rate)),
    ("worst attack, ASR [95% CI]", _worst),
    ("best-of-N recovered", _best_of_n),
    ("dynamic call (kind)", _call),
    ("judge arm's gold gain [95% CI]", lambda c: _arm_gain(c, "gold_gain")),
    ("judge arm's proxy gain [95% CI]", lambda c: _arm_gain(c, "proxy_gain")),
    ("gold gain, share of the oracle's", lambda c: MISSING if c.dynamic is None else _pct(c.dynamic.gold_gain_fraction)),
    ("controls", lambda c: MISSING if c.dynamic is None else esc(c.dynamic.controls)),
    ("summary", lambda c: esc(c.summary)),
]


def _mismatch(cards: list[AuditCard]) -> str:
    """A warning naming what differs among gold, budget and prompts; "" when they all agree."""
    differ = [f"{what} ({', '.join(sorted({getattr(c, what) for c in cards}))})"
              for what in ("gold", "budget", "prompts") if len({getattr(c, what) for c in cards}) > 1]
    if not differ:
        return ""
    return (f'<p class="check failed">These cards differ in {esc("; ".join(differ))}: they are not comparable '
            f"as is. Audit every judge with the same gold, budget and prompts before reading one against another.</p>")


def _agreement_and_gain(card: AuditCard) -> tuple[Estimate, Estimate] | None:
    """The card's static agreement and its judge arm's gold gain, when it has both."""
    arm = _judge_arm(card)
    x = card.static.agreement if card.static is not None else None
    y = arm.gold_gain if arm is not None else None
    if x is None or y is None or finite(x.value) is None or finite(y.value) is None:
        return None
    return x, y


def _agreement_point(ax: Any, card: AuditCard, label: str, color: str) -> bool:
    """The card's static agreement (x) vs its judge arm's gold gain (y), both with CI bars; False without both."""
    xy = _agreement_and_gain(card)
    if xy is None:
        return False
    x, y = xy
    ax.errorbar([x.value], [y.value], xerr=_yerr([x.value], [x.ci95]), yerr=_yerr([y.value], [y.ci95]), marker="o",
                capsize=3, c=color)
    ax.annotate(label, (x.value, y.value), textcoords="offset points", xytext=(5, 5), fontsize=8)
    return True


def _draw_compare(cards: list[AuditCard], labels: list[str]) -> Callable[[Any, Any], bool]:
    def draw(plt: Any, axes: Any) -> bool:
        drawn = False
        for i, (card, label) in enumerate(zip(cards, labels)):
            arm, color = _judge_arm(card), f"C{i % 10}"  # one colour per card in both panels
            g = arm is not None and _gold_line(axes[0], arm, _mpl(label), color)
            drawn = _agreement_point(axes[1], card, _mpl(label), color) or g or drawn
        axes[0].set(xlabel="GRPO step", ylabel="gold, [0, 1]", ylim=(-0.02, 1.02), title="(a) judge arm's gold")
        axes[0].xaxis.get_major_locator().set_params(integer=True)
        if axes[0].get_legend_handles_labels()[0]:
            axes[0].legend(fontsize=8)
        axes[1].axvline(0.5, ls=":", c="grey")  # chance agreement
        axes[1].axhline(0.0, ls=":", c="grey")  # no gold gain
        axes[1].set(xlabel="static agreement with the gold", ylabel="judge arm's gold gain",
                    title="(b) static agreement vs what training did")
        for ax in axes:
            ax.grid(alpha=0.3)
        return drawn
    return draw


def render_compare(cards: list[AuditCard], labels: list[str], out: Path) -> Path:
    """Write ``out`` (compare.html), one column per card, and ``<stem>-compare.png`` next to it; returns ``out``."""
    if not cards or len(labels) != len(cards):
        raise ConfigError(f"{len(labels)} labels for {len(cards)} audit cards", hint="give one label per card, at least one card")
    out = Path(out)
    rows = [[esc(name), *(cell(c) for c in cards)] for name, cell in COMPARE_ROWS]
    fig = _figure(_draw_compare(cards, labels), out.with_name(f"{out.stem}-compare.png"), "audit comparison")
    missing = [label for c, label in zip(cards, labels) if _agreement_and_gain(c) is None]
    if fig and missing:
        fig += f'<p class="notrun">Not in (b), no agreement or judge-arm gold gain: {esc(", ".join(missing))}.</p>'
    body = (f"<h1>judgelab audit — {len(cards)} judges compared</h1>{_mismatch(cards)}"
            f"{table(['', *labels], rows, left=len(labels) + 1)}{fig}")
    return atomic_write_text(out, _page("judgelab audit comparison", body))
