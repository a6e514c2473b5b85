"""Report stage: plots and report.html from a run directory."""
