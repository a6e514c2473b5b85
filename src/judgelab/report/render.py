"""How the report writes things: numbers, confidence intervals, HTML tables, "not run" notes and
PNG figures. The one home of number and CI formatting; every section renders through it.

Reads nothing. Writes only the PNG a figure helper is given (``png``, ``embed_png``).

A missing value prints as "–" (an en dash) unless the caller names another marker: report cells
come from optional, possibly partial artifacts, so every formatter takes ``None`` (and, the
tolerant ones, any stray type) without raising.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import shutil
from pathlib import Path
from typing import Any

from judgelab.report.artifacts import Unreadable

log = logging.getLogger(__name__)

MISSING = "–"

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.notrun{color:#888;font-style:italic}
.flag{background:#fde2e2;color:#a00;font-weight:bold}.ok{color:#070}
.check{padding:.6em 1em;border-radius:4px;margin:.6em 0}.check.passed{background:#e3f5e1;border:2px solid #2a7}
.check.failed{background:#fde2e2;border:2px solid #c00;color:#900}.check.incomplete{background:#fff4d6;border:2px solid #c90}
pre{white-space:pre-wrap;background:#f8f8f8;padding:.5em;border-left:3px solid #ccc;margin:.2em 0 .8em}
img{max-width:100%}
"""


# ------------------------------------------------------------------------------------ numbers


def esc(x: Any) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(x))


def finite(x: Any) -> float | None:
    """``x`` as a float if it is a finite number (not a bool), else None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return None if math.isnan(x) or math.isinf(x) else float(x)


def fmt_number(x: float | None, nd: int = 3, missing: str = MISSING) -> str:
    """A number with ``nd`` decimals; ``missing`` for None."""
    return missing if x is None else f"{x:.{nd}f}"


def fmt_estimate(x: float | None, ci: Any = None, nd: int = 2, ci_nd: int | None = None,
                 missing: str = MISSING) -> str:
    """``x [lo, hi]`` (the CI only when given); ``missing`` for a missing estimate."""
    if x is None:
        return missing
    cd = nd if ci_nd is None else ci_nd
    return f"{x:.{nd}f}" + (f" [{ci[0]:.{cd}f}, {ci[1]:.{cd}f}]" if ci else "")


def fmt(x: Any, nd: int = 3) -> str:
    """A cell from any JSON value: None "–", bools yes/no, floats (and [lo, hi] pairs) rounded,
    the rest as escaped text."""
    if x is None:
        return MISSING
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return fmt_number(x, nd)
    if isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(v, (int, float)) for v in x):
        return f"[{x[0]:.{nd}f}, {x[1]:.{nd}f}]"
    return esc(x)


def _ends(lo: float | None, hi: float | None, nd: int) -> str:
    return "[" + ", ".join(MISSING if v is None else f"{v:.{nd}f}" for v in (lo, hi)) + "]"


def fmt_interval(ci: Any, nd: int) -> str:
    """A CI whose ends may be None (unbounded: an undefeated or winless model); "–" if not a pair."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return MISSING
    return _ends(ci[0], ci[1], nd)


def fmt_ci(x: Any, nd: int = 2) -> str:
    """A [low, high] pair whose ends may be missing or not numbers; "" when there is nothing to show."""
    if not isinstance(x, (list, tuple)) or len(x) != 2:
        return ""
    lo, hi = finite(x[0]), finite(x[1])
    if lo is None and hi is None:
        return ""
    return _ends(lo, hi, nd)


def fmt_value(x: Any, nd: int = 2) -> str:
    """A value from a file that may hold anything: finite numbers rounded (``nd=0``: whole numbers
    as integers), None, lists and dicts "–", anything else through ``fmt``."""
    n = finite(x)
    if n is None:
        return MISSING if x is None or isinstance(x, (dict, list)) else fmt(x)
    return str(int(n)) if float(n).is_integer() and nd == 0 else f"{n:.{nd}f}"


def fmt_value_ci(x: Any, ci: Any, nd: int = 2) -> str:
    """``fmt_value`` followed by the CI when there is one."""
    c = fmt_ci(ci, nd)
    return fmt_value(x, nd) + (f" {c}" if c else "")


# --------------------------------------------------------------------------------------- HTML


def table(headers: list[str], rows: list[list[str]], left: int = 1, row_class: list[str] | None = None) -> str:
    """An HTML table; the first ``left`` columns left-aligned; cells are HTML already."""
    th = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(h)}</th>' for i, h in enumerate(headers))
    body = []
    for k, r in enumerate(rows):
        cls = f' class="{row_class[k]}"' if row_class and row_class[k] else ""
        body.append(f"<tr{cls}>" + "".join(f'<td class="{"l" if i < left else ""}">{c}</td>' for i, c in enumerate(r)) + "</tr>")
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def left_out(u: Unreadable, root: Path) -> str:
    """The note a section shows for a result file it cannot use: which file, what is wrong, what to do."""
    where = u.path.relative_to(root) if u.path.is_relative_to(root) else u.path
    return f'<p class="notrun">{esc(where)} left out: {esc(u.problem)}{f" ({esc(u.hint)})" if u.hint else ""}.</p>'


def not_run(what: str, hint: str) -> str:
    """The note a section shows when its artifact is absent: what, and how to get it."""
    return f'<p class="notrun">{html.escape(what)}: not run ({html.escape(hint)}).</p>'


def absent(r: Unreadable | None, root: Path, what: str, hint: str) -> str:
    """The note for a section's one result file when it is missing (``not_run``) or unusable (``left_out``)."""
    return not_run(what, hint) if r is None else left_out(r, root)


# ------------------------------------------------------------------------------------ figures


def pyplot() -> Any:
    """matplotlib.pyplot on the file-only Agg backend (a report never opens a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig: Any, path: Path) -> str:
    """Save ``fig`` to ``path`` and return it as an embedded <img> (the report stays self-contained)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    path.write_bytes(buf.getvalue())
    return f'<img alt="{path.name}" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def embed_png(src: Path, out: Path, name: str) -> str:
    """An existing PNG, copied next to the report as ``name`` and embedded; "" if unreadable."""
    try:
        data = src.read_bytes()
    except OSError as exc:
        log.warning("skipping unreadable %s: %s", src, exc)
        return ""
    if not data.startswith(b"\x89PNG"):
        return ""  # a half-written or foreign file
    try:
        shutil.copyfile(src, out / name)
    except OSError:
        pass
    return f'<img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
