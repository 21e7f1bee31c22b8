"""Hub logs carry no bearer tokens and no line per WebSocket connection."""

from __future__ import annotations

import logging

from hub.logs import RedactAndQuiet


def _record(level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", level, __file__, 1, msg, args, None)


def test_tokens_are_redacted_and_connection_chatter_dropped() -> None:
    f = RedactAndQuiet()
    assert not f.filter(_record(logging.INFO, '%s - "WebSocket %s" [accepted]', "127.0.0.1:5", "/ws?token=abc.def"))
    assert not f.filter(_record(logging.INFO, "connection open"))
    warning = _record(logging.WARNING, 'bad frame from %s on "/ws?token=%s&x=1"', "127.0.0.1", "eyJhbGci.payload.sig")
    assert f.filter(warning)
    assert "eyJ" not in warning.getMessage() and "token=***&x=1" in warning.getMessage()
    plain = _record(logging.INFO, "Uvicorn running on %s", "http://127.0.0.1:8000")
    assert f.filter(plain) and plain.getMessage() == "Uvicorn running on http://127.0.0.1:8000"
