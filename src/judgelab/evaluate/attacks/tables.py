"""The attacks result as Markdown tables (``judgelab attacks`` prints them): response files and
flagged rate over training (detector), sources, the transfer matrix (ASR), the stripped re-judge,
then the result's notes. Reads the result dict; writes nothing.
"""

from __future__ import annotations

from typing import Any


def _ci(v: float | None, ci: list[float] | None, fmt: str = "{:.2f}") -> str:
    if v is None:
        return "-"
    return fmt.format(v) + (f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]" if ci else "")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _by_kind(by_kind: dict[str, float | None]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in by_kind.items() if v) or "none"


CI_NOTE = ("95% CI: the wider of the bootstrap clustered by prompt and the Wilson interval over prompts "
           "(the bootstrap collapses near 0 and 1)")


def format_tables(result: dict[str, Any]) -> str:
    """Markdown tables: response files and flagged rate over training (detector), sources,
    transfer matrix (ASR), stripped re-judge; then the result's notes (what was not measured, and why)."""
    parts = []
    files = result.get("files") or {}
    if files:
        parts.append(f"Response files: detector flagged rate ({CI_NOTE})\n" + "\n".join(
            f"{f}: {r['n']} responses, flagged {_ci(r['flagged_rate'], r['flagged_rate_ci'])}; by kind: "
            f"{_by_kind(r['by_kind'])}" for f, r in files.items()))
    ft = result.get("flagged_over_training") or {}
    if ft:
        rows = [[name, str(c["step"]), str(c["n"]), _ci(c["flagged_rate"], c["flagged_rate_ci"]), _by_kind(c["by_kind"])]
                for name, p in ft.items() for c in p["curve"]]
        parts.append(f"Flagged rate per checkpoint ({CI_NOTE})\n"
                     + _table(["policy", "step", "n", "flagged rate", "by kind"], rows))
    src = result.get("sources") or {}
    if src:
        rows = [[n, s["kind"], str(s["n"]), _ci(s["flagged_rate"], s["flagged_rate_ci"]),
                 "-" if s.get("span_coverage") is None else f"{s['span_coverage']:.2f}"] for n, s in src.items()]
        parts.append("Sources (detector flagged rate; crafted: share of planted characters flagged)\n"
                     + _table(["source", "kind", "n", "flagged", "span coverage"], rows))
    tr = result.get("transfer") or {}
    judges = list(result.get("judges") or {})
    if tr and judges:
        rows = [[s] + [f"{_ci(cells[j]['asr'], cells[j]['asr_ci'])} (n={cells[j]['n']})" if j in cells else "-"
                       for j in judges]
                for s, cells in tr.items()]
        modes = ", ".join(f"{j}: {m['mode']}" for j, m in result["judges"].items())
        parts.append(f"Transfer matrix: attack success rate vs the clean baseline ({CI_NOTE}; {modes})\n"
                     + _table(["source \\ judge"] + judges, rows))
        if any("score_drop" in c for cells in tr.values() for c in cells.values()):
            def cell(c: dict[str, Any]) -> str:
                # n, the ASR before and after stripping and the drop are all over the same outputs:
                # the flagged ones, judged again without their flagged spans.
                if not c.get("n_stripped"):
                    return "- (n=0: nothing flagged)"
                return (f"{_ci(c.get('score_drop'), c.get('score_drop_ci'))} (n={c['n_stripped']}; ASR "
                        f"{_ci(c.get('asr_flagged'), None)} -> {_ci(c.get('asr_flagged_stripped'), None)} stripped)")
            rows = [[s] + [cell(cells[j]) if j in cells else "-" for j in judges] for s, cells in tr.items()]
            parts.append("Stripped re-judge of the flagged outputs: score drop when their flagged spans are removed "
                         "(pointwise: score points; pairwise: P(win)); n = flagged outputs re-judged, and the ASR "
                         "before -> after stripping is over those n (asr_stripped in the JSON is over all cases)\n"
                         + _table(["source \\ judge"] + judges, rows))
    notes = list(result.get("notes") or [])
    if not parts:
        return "\n".join(["nothing to report: no flagged rates, sources or judges"] + notes)
    return "\n\n".join(parts + (["\n".join(notes)] if notes else []))
