"""Report stage: report.html and its PNGs from a run directory. ``build.build_report`` assembles the
page from ``sections/`` (one module per section), which read the run through ``artifacts`` and
format through ``render``."""
