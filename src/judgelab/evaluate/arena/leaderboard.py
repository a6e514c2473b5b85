"""The arena's tables as a person reads them: flat rows for ``leaderboard.csv`` and the markdown
leaderboard (pooled, per judge, the judges x models matrix, style coefficients). Pure functions of
an ``arena_report``; the caller writes the files.
"""

from __future__ import annotations

from typing import Any


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}"


def leaderboard_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat rows (one per table x model) for CSV."""
    out = []
    tables = [("pooled", report["pooled"])] + list(report["judges"].items())
    for name, t in tables:
        for r in t["models"]:
            wr_ci = r.get("win_rate_vs_baseline_ci") or [None, None]
            ci = r["ci"] or [None, None]
            out.append({"judge": name, "model": r["model"], "rating": r["rating"], "rating_lo": ci[0],
                        "rating_hi": ci[1], "win_rate_vs_baseline": r.get("win_rate_vs_baseline"),
                        "win_rate_lo": wr_ci[0], "win_rate_hi": wr_ci[1], "status": r["status"],
                        "observed_score": r["win_rate"], "battles": r["battles"],
                        "weighted_battles": r["weighted_battles"], "boot_missing": r["boot_missing"]})
    return out


def leaderboard_markdown(report: dict[str, Any]) -> str:
    """The pooled leaderboard, one per judge, the judges x models matrix and style coefficients."""
    lines: list[str] = []
    tables = [("pooled over judges", report["pooled"])] + [(f"judge: {j}", t) for j, t in report["judges"].items()]
    for name, t in tables:
        conf = f"{1 - t['alpha']:.0%}"
        lines += [f"### {name}", "",
                  f"| model | win rate vs {t['baseline'] or '–'} (%) | {conf} CI | rating | {conf} CI | status | battles |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in t["models"]:
            wci, ci = r.get("win_rate_vs_baseline_ci"), r["ci"]
            lines.append(f"| {r['model']} | {_pct(r.get('win_rate_vs_baseline'))} | "
                         + ("–" if wci is None else f"[{_pct(wci[0])}, {_pct(wci[1])}]") + f" | {_num(r['rating'])} | "
                         + ("–" if ci is None else f"[{_num(ci[0])}, {_num(ci[1])}]") + f" | {r['status']} | {r['battles']} |")
        if t["style_coefs"]:
            parts = [f"{k} {v['coef']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}]" if v["ci"] and None not in v["ci"]
                     else f"{k} {v['coef']:+.3f}" + ("" if v["ci"] else " (no CI)") for k, v in t["style_coefs"].items()]
            lines += ["", f"style coefficients (logit per SD, {conf} CI): " + "; ".join(parts)]
        lines.append("")
    mx = report["matrix"]
    models = sorted({m for row in mx["rows"].values() for m in row})
    lines += [f"### {mx['value'].replace('_', ' ')}: judges x models", "",
              "| judge | " + " | ".join(models) + " |", "| --- |" + " --- |" * len(models)]
    for j, row in mx["rows"].items():
        fmt = _pct if mx["value"] == "win_rate_vs_baseline" else _num
        lines.append(f"| {j} | " + " | ".join(fmt(row.get(m)) for m in models) + " |")
    return "\n".join(lines) + "\n"
