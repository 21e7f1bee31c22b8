"""Logging for a hub: no secrets in logs (tokens, URL passwords), and no line per WebSocket connection.

uvicorn logs every WebSocket handshake at INFO with its full URL, and ``/ws?token=…`` carries the
bearer token there; thousands of phones reconnecting would also flood the log. This filter redacts
tokens in any uvicorn record and drops the per-connection INFO lines (warnings and errors stay).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"']+")
PER_CONNECTION = ("connection open", "connection closed", '"WebSocket ', "[accepted]")


class RedactAndQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as usual
            return True
        if record.levelno <= logging.INFO and any(marker in message for marker in PER_CONNECTION):
            return False
        if "token=" in message:
            record.msg, record.args = TOKEN_IN_URL.sub(r"\1***", message), None
        return True


def install_log_filters() -> None:
    redact = RedactAndQuiet()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(redact)


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``: ``redis://:***@host:6379/0``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    if not password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
