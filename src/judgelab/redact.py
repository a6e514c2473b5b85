"""Secrets never leave the process: credentials in URLs (``user:password@``, or a token alone as
``TOKEN@``), query parameters that
carry keys or tokens, and bearer tokens are masked wherever text can surface — run.json, logs at
every level (a filter on the CLI's handlers), error fields of verdicts and generations.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
# ``user:password@`` keeps the user name; a token given alone as the user name (``http://TOKEN@host``) is masked whole
_USERINFO = re.compile(
    r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?:(?P<user>[^/@\s:?#]*):(?P<pw>[^/@\s?#]+)|[^/@\s:?#]+)@")
_QUERY = re.compile(
    r"(?P<k>[?&;](?:api[_-]?key|key|apikey|token|access[_-]?token|auth|authorization|secret|client[_-]?secret|"
    r"password|passwd|pass|sig|signature|code)=)(?P<v>[^&#\s'\"<>]+)", re.I)
_BEARER = re.compile(r"(?P<k>\bBearer\s+)(?P<v>[A-Za-z0-9._~+/=-]{8,})")


def redact(text: str) -> str:
    """``text`` with URL passwords, secret query parameters and bearer tokens masked."""
    if not isinstance(text, str) or not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['pre']}{m['user']}:{MASK}@" if m["pw"] else f"{m['pre']}{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m['k']}{MASK}", text)
    return _BEARER.sub(lambda m: f"{m['k']}{MASK}", text)


def redact_obj(obj: Any) -> Any:
    """Every string inside dicts / lists / tuples redacted (a copy)."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj


class RedactingFilter(logging.Filter):
    """Masks secrets in a log record's final message (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logging's problem, not ours
            return True
        clean = redact(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return True


def install_log_filter() -> None:
    """Put the filter on every handler of the root logger (handlers see records of all loggers)."""
    root = logging.getLogger()
    for h in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter())
