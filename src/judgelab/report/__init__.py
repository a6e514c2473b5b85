"""Report stage: plots and report.html from a run directory (see judgelab.report.html)."""

from judgelab.report.html import build_report

__all__ = ["build_report"]
