"""The report: ``run_dir/report/report.html`` (self-contained, PNGs embedded as base64) plus the
same PNGs next to it, built from whatever the run has.

Reads only the run directory (every part optional — a missing part renders as "not run"; see each
section module in judgelab.report.sections for the files it reads): ``run.json``, ``eval/instrument.json``,
``eval/policies/``, ``policies/``, ``eval/judges/``, ``eval/arena.json``, ``eval/adversarial.json``,
``eval/attacks.json``, ``best_of_n.json`` and ``*.scaling.json`` files under ``eval/``.

Writes only ``report/report.html``, ``report/proxy_vs_gold.png`` (the central figure: per judge
panel, x = GRPO step, proxy reward and gold score both on [0, 1]; each policy/seed a thin line,
the mean thick), ``report/length_drift.png``, ``report/gold_monitor.png``,
``report/attacks_flagged.png``, and copies of the best-of-N and judge-scaling PNGs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from judgelab.data.jsonl import atomic_write_text
from judgelab.data.rundir import RunDir, writable_dir
from judgelab.errors import DataError
from judgelab.report.artifacts import read_json_object
from judgelab.report.render import CSS, esc
from judgelab.report.sections.arena import arena_section
from judgelab.report.sections.attacks import adversarial_section, attacks_section
from judgelab.report.sections.best_of_n import best_of_n_section
from judgelab.report.sections.instrument import instrument_section
from judgelab.report.sections.judges import judge_scaling_section, judges_section
from judgelab.report.sections.contrast import contrast_section
from judgelab.report.sections.policies import (gold_vs_kl_section, hacking_section, length_section, proxy_vs_gold_section,
                                               read_policy_evals, samples_section)
from judgelab.report.sections.training import gold_monitor_section


def _header(rd: RunDir) -> str:
    head = f"<h1>judgelab report — {esc(rd.root.name)}</h1>"
    run = read_json_object(rd.root / "run.json")
    if run is not None:
        head += f"<p>stages: {esc(', '.join(run.get('stages', {})))} · git {esc(run.get('git_commit'))}</p>"
    return head


def _at_chance(rd: RunDir) -> frozenset[str]:
    """The study judges the run's judge gate found at chance (none without a readable gate)."""
    from judgelab.evaluate.judges.gate import read_gate

    try:
        gate = read_gate(rd.root)
    except DataError:
        return frozenset()
    return frozenset(j.judge for j in gate.judges if j.status == "at chance") if gate else frozenset()


def build_report(run_dir: str | Path) -> Path:
    """Render report/report.html (+ PNGs) from whatever the run has; returns the HTML path."""
    rd = RunDir(run_dir)
    if not rd.root.exists():
        raise DataError("run directory not found", where=str(rd.root), hint="give the folder a pipeline stage wrote")
    out = writable_dir(rd.report_dir, "report folder")
    evals, left_out = read_policy_evals(rd)
    # in page order; the instrument check opens the report (the controls say whether the rest means anything)
    sections: list[tuple[str, Callable[[], str]]] = [
        ("Instrument check", lambda: instrument_section(rd)),
        ("Study contrast: reasoning vs non-reasoning judges", lambda: contrast_section(rd)),
        ("Proxy reward vs gold score", lambda: proxy_vs_gold_section(rd, evals, out, left_out)),
        ("Gold tracked during training", lambda: gold_monitor_section(rd, out)),
        ("Reward-hacking flags", lambda: hacking_section(evals, _at_chance(rd))),
        ("Judge agreement with the gold judge", lambda: judges_section(rd)),
        ("Judge test-time scaling", lambda: judge_scaling_section(rd, out)),
        ("Length drift", lambda: length_section(evals, out)),
        ("Gold against KL from the initial policy", lambda: gold_vs_kl_section(evals, out)),
        ("Arena (final checkpoints)", lambda: arena_section(rd)),
        ("Adversarial outputs", lambda: adversarial_section(rd)),
        ("Attacks on judges", lambda: attacks_section(rd, out)),
        ("Best-of-N", lambda: best_of_n_section(rd, out)),
        ("Sample outputs (last checkpoint)", lambda: samples_section(rd, evals)),
    ]
    body = _header(rd) + "".join(f"<h2>{title}</h2>{render()}" for title, render in sections)
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>judgelab report</title><style>{CSS}</style></head><body>{body}</body></html>"
    return atomic_write_text(out / "report.html", page)
