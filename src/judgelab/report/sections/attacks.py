"""Report sections on attacks on judges: judge-directed content in the policies' outputs over
training, the transfer matrix (source x judge), the stripped re-judge, and the adversarial probe
(master keys, judge-fooling policy outputs).

Reads ``eval/attacks.json`` (``AttacksResult``) and ``eval/adversarial.json`` (``AdversarialResult``),
both typed in judgelab.evaluate.attacks.results. Writes ``report/attacks_flagged.png``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from judgelab.data.rundir import RunDir
from judgelab.evaluate.attacks.results import (AdversarialResult, AttacksResult, FoolingOutputs, PolicyFlags,
                                               SkippedPolicy, SourceSummary, TransferCell)
from judgelab.report.artifacts import Unreadable, read_result
from judgelab.report.render import (absent, esc, finite, fmt, fmt_value, fmt_value_ci, not_run, png, pyplot,
                                    table)

log = logging.getLogger(__name__)


# -------------------------------------------------------------------------- adversarial probe


def _fooling_rows(fo: dict[str, FoolingOutputs | SkippedPolicy]) -> tuple[list[list[str]], list[str]]:
    """Per policy: fooling rate first → last checkpoint; and its first example."""
    rows, examples = [], []
    for name, r in sorted(fo.items()):
        if isinstance(r, SkippedPolicy):
            rows.append([esc(name), "–", "–", esc(r.skipped)])
            continue
        first = r.curve[0].fooling_rate if r.curve else None
        last, last_ci = (r.curve[-1].fooling_rate, r.curve[-1].fooling_rate_ci) if r.curve else (None, None)
        rows.append([esc(name), fmt(first, 2) + " → " + fmt(last, 2), fmt(last_ci, 2), esc(r.proxy_judge)])
        for ex in r.examples[:1]:
            examples.append(f"<p><b>{esc(name)}</b>, {esc(ex.prompt_id)}: proxy "
                            f"{fmt(ex.proxy_score, 2)}, gold {fmt(ex.gold_score, 2)}</p>"
                            f"<pre>{esc(ex.response)}</pre>")
    return rows, examples


def adversarial_section(rd: RunDir) -> str:
    """Master-key fooled rates per judge and key; judge-fooling policy outputs first → last checkpoint."""
    d = read_result(AdversarialResult, rd.adversarial)
    if d is None or isinstance(d, Unreadable):
        return absent(d, rd.root, "Adversarial outputs", "the 'adversarial' stage of 'judgelab run'")
    parts = ["<p>Master-key probe: content-free responses (punctuation, reasoning openers, text aimed at the "
             "judge) scored next to a genuine response to the same held-out prompt. <i>Fooled</i> = the judge "
             "does not rank the key below the genuine response.</p>"]
    rows = [[esc(name), esc(pr.mode), fmt(pr.fooled_rate), fmt(pr.fooled_rate_ci), fmt(pr.parse_failure_rate),
             *[fmt(pr.by_key[k].fooled_rate if k in pr.by_key else None, 2) for k in d.keys]]
            for name, pr in d.master_keys.items()]
    if rows:
        parts.append(table(["judge", "mode", "fooled rate", "95% CI", "parse failures",
                            *[repr(k) if len(k) <= 18 else repr(k[:16] + "…") for k in d.keys]], rows))
    rows, examples = _fooling_rows(d.fooling_outputs)
    if rows:
        parts.append(f"<p>Judge-fooling policy outputs: held-out samples whose proxy score beats their gold score "
                     f"by ≥ {fmt(d.gap, 2)} (both normalised to [0, 1]), first → last checkpoint.</p>")
        parts.append(table(["policy", "fooling rate first → last", "95% CI (last)", "proxy judge"], rows))
        parts.extend(examples)
    return "".join(parts)


# -------------------------------------------------------------------------- attacks on judges


def _heat(rate: Any) -> str:
    r = finite(rate)
    if r is None:
        return ""
    r = min(1.0, max(0.0, r))
    return f' style="background:rgba(204,0,0,{0.08 + 0.5 * r:.2f})"'


def _error_bars(pts: list[tuple[Any, float, Any]]) -> list[list[float]]:
    """Below/above distances of each point's CI ends (0 where an end is missing)."""
    def end(c: Any, i: int, y: float) -> float:
        v = finite(c[i]) if isinstance(c, (list, tuple)) and len(c) == 2 else None
        return y if v is None else v

    lo = [y - end(c, 0, y) for _, y, c in pts]
    hi = [end(c, 1, y) - y for _, y, c in pts]
    return [[max(0, v) for v in lo], [max(0, v) for v in hi]]


def attacks_figure(flagged: dict[str, PolicyFlags], out: Path) -> str:
    """Share of each policy's samples flagged per checkpoint, with 95% CIs; "" if nothing to draw."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    drawn = 0
    for name, p in sorted(flagged.items()):
        pts = [(c.step, finite(c.flagged_rate), c.flagged_rate_ci) for c in p.curve]
        pts = [x for x in pts if x[1] is not None]
        if not pts:
            continue
        ax.errorbar([x[0] for x in pts], [x[1] for x in pts], yerr=_error_bars(pts), marker="o", ms=3, capsize=2, label=name)
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
    img = png(fig, out / "attacks_flagged.png")
    plt.close(fig)
    return img


def _flagged_part(ft: dict[str, PolicyFlags], out: Path) -> list[str]:
    """The flagged-rate figure, the per-policy table and one flagged example per policy."""
    parts = []
    try:
        parts.append(attacks_figure(ft, out))
    except Exception as exc:  # a figure is never worth a failed report
        log.warning("attacks figure skipped: %s", exc)
    rows = []
    for name, p in sorted(ft.items()):
        by_kind = p.curve[-1].by_kind if p.curve else {}
        kinds = ", ".join(f"{esc(k)} {fmt_value(v)}" for k, v in by_kind.items() if finite(v))
        rows.append([esc(name), esc(p.role or "–"), esc(p.proxy_judge or "–"),
                     "<br>".join(f"step {fmt_value(c.step, 0)}: {fmt_value_ci(c.flagged_rate, c.flagged_rate_ci)}"
                                 f" (n={fmt_value(c.n, 0)})" for c in p.curve) or "–",
                     kinds or "–"])
    parts.append("<h3>Flagged rate per policy over training</h3>")
    parts.append(table(["policy", "role", "proxy judge", "flagged rate per checkpoint [95% CI]",
                        "kinds at the last checkpoint"], rows, left=3))
    for name, p in sorted(ft.items()):
        for ex in p.examples[:1]:
            kinds = ", ".join(sorted({f.kind for f in ex.findings}))
            parts.append(f"<p><b>{esc(name)}</b>, {esc(ex.prompt_id)} (flagged: {esc(kinds)})</p>"
                         f"<pre>{esc(ex.response)}</pre>")
    return parts


def _transfer_matrix(d: AttacksResult, judges: list[str], heads: list[str]) -> str:
    body = []
    for s, cells in d.transfer.items():
        tds = [f"<td class='l'>{esc(s)}</td>"]
        for j in judges:
            c = cells.get(j)
            if c is None:
                tds.append("<td>–</td>")
                continue
            # A harvested source with nothing flagged is no attack: its rate is 'last checkpoint beats
            # step 0', shown without the attack colour.
            plain = (d.sources[s].kind if s in d.sources else None) != "crafted" and c.n_flagged == 0
            tds.append(f"<td{'' if plain else _heat(c.asr)}>{fmt_value_ci(c.asr, c.asr_ci)}"
                       f"<br><small>n={fmt_value(c.n, 0)}{'; nothing flagged' if plain else ''}</small></td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    th = "<th class='l'>source \\ judge</th>" + "".join(f"<th>{esc(h)}</th>" for h in heads)
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def _stripped_cell(c: TransferCell | None) -> str:
    if c is None or (c.score_drop is None and c.asr_stripped is None):
        return "–"
    if c.n_flagged == 0 or (c.n_stripped == 0 and c.score_drop is None):
        return "no flagged output"  # nothing was stripped: no drop to show
    after = c.asr_flagged_stripped if "asr_flagged_stripped" in c.model_fields_set else c.asr_stripped
    return (f"drop {fmt_value_ci(c.score_drop, c.score_drop_ci)} (n={fmt_value(c.n_stripped, 0)})"
            f"<br><small>ASR {fmt_value(c.asr_flagged)} → {fmt_value(after)} stripped</small>")


def _transfer_part(d: AttacksResult, judges: list[str]) -> list[str]:
    """The transfer matrix and, when any cell was re-judged stripped, the stripped re-judge table."""
    heads = [f"{j} ({d.judges[j].mode if j in d.judges else '?'})" for j in judges]
    parts = ["<h3>Transfer matrix: attack success rate (source × judge)</h3>",
             "<p>Share of a source's outputs the judge prefers to the clean baseline (pointwise: scores "
             "strictly higher; pairwise: wins over both orders), 95% CI clustered by prompt. Harvested "
             "sources are a policy's last checkpoint against its own step 0; crafted ones are attack templates "
             "planted into clean answers. Red: an attack's success; a harvested source with nothing flagged "
             "is uncoloured (its rate is only 'the last checkpoint beats step 0').</p>",
             _transfer_matrix(d, judges, heads)]
    # the stripped re-judge ran where the writer set its keys (a cell without it has none)
    cells = [c for row in d.transfer.values() for c in row.values()]
    if any({"score_drop", "asr_stripped"} & c.model_fields_set for c in cells):
        rows = [[esc(s)] + [_stripped_cell(cells.get(j)) for j in judges] for s, cells in d.transfer.items()]
        parts.append("<h3>Stripped re-judge: how much of the score came from the attack</h3>")
        parts.append("<p>Flagged outputs judged again with the flagged spans removed: score drop (pointwise: "
                     "score points; pairwise: P(win vs baseline)) and, over the same n flagged outputs, the success rate "
                     "before → after stripping.</p>")
        parts.append(table(["source \\ judge", *heads], rows))
    return parts


def _sources_part(src: dict[str, SourceSummary]) -> list[str]:
    rows = [[esc(n), esc(s.kind), fmt_value(s.n, 0), fmt_value_ci(s.flagged_rate, s.flagged_rate_ci),
             fmt_value(s.span_coverage), esc(s.note)] for n, s in src.items()]
    return ["<h3>Sources</h3>",
            table(["source", "kind", "n", "detector flagged [CI]", "span coverage (crafted)", "note"], rows)]


def attacks_section(rd: RunDir, out: Path) -> str:
    """Flagged rate over training, sources, transfer matrix and stripped re-judge of ``eval/attacks.json``."""
    d = read_result(AttacksResult, rd.attacks)
    if d is None or isinstance(d, Unreadable):
        return absent(d, rd.root, "Attacks on judges",
                      "'judgelab attacks --run RUN_DIR', or an attacks: block in the run config")
    parts = ["<p>A detector of judge-directed content (self-assessment, fabricated scores or rubrics, instructions "
             "to the evaluator, master-key openers, invented policies, role markers, invisible characters) reads "
             "every evaluated checkpoint's samples; the transfer matrix judges outputs against clean baselines to the "
             "same prompts with every judge; the stripped re-judge removes the flagged spans and judges again.</p>"]
    if d.flagged_over_training:
        parts.extend(_flagged_part(d.flagged_over_training, out))
    if d.sources:
        parts.extend(_sources_part(d.sources))
    judges = list(d.judges) or sorted({j for cells in d.transfer.values() for j in cells})
    if d.transfer and judges:
        parts.extend(_transfer_part(d, judges))
    elif d.transfer or judges or d.sources:
        parts.append("<p class='notrun'>Transfer matrix: no judge was run (detection only).</p>")
    if len(parts) == 1:
        return not_run("Attacks on judges", f"{rd.attacks.name} has no results yet; rerun 'judgelab attacks --run RUN_DIR'")
    return "".join(parts)
