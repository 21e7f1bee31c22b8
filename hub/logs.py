"""Logging for a hub: no secrets in logs, and no line per WebSocket connection.

uvicorn logs every WebSocket handshake at INFO with its full URL, and ``/ws?token=…`` carries the
bearer token there; thousands of phones reconnecting would also flood the log. This filter redacts
tokens in any uvicorn record and drops the per-connection INFO lines (warnings and errors stay).
"""

from __future__ import annotations

import logging
import re

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
