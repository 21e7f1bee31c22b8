"""What every benchmark process does at start: take the open-file hard limit, run its loop on uvloop."""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Coroutine
from typing import Any


def raise_nofile() -> int:
    """Raise the soft open-file limit to the hard one (one fd per WebSocket); the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def run(main: Coroutine[Any, Any, Any], *, use_uvloop: bool = True) -> Any:
    """``asyncio.run`` on uvloop (as uvicorn runs the hub) where it is installed and wanted."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)
