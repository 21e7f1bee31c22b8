"""Watch the garbage collector's pauses: a full collection over 10,000 connections' objects stops the
event loop, and with it every live delivery. Pauses go to Prometheus and, when long, to the log."""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from prometheus_client import Histogram

log = logging.getLogger("gridhub.gc")

GC_PAUSE = Histogram(
    "gridhub_gc_pause_seconds",
    "Garbage-collector pauses of this hub process, by generation.",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

#: A pause longer than this is logged as a warning.
SLOW_PAUSE_S = 0.1

_started: float | None = None


def _callback(phase: str, info: dict[str, Any]) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
        return
    if _started is None:
        return
    pause = time.perf_counter() - _started
    _started = None
    generation = info.get("generation", -1)
    GC_PAUSE.labels(str(generation)).observe(pause)
    if pause >= SLOW_PAUSE_S:
        log.warning(
            "garbage collection (generation %s) paused the hub %.0f ms (counts now %s)",
            generation,
            pause * 1000,
            gc.get_count(),
        )


def freeze_startup() -> None:
    """Move what the started process holds (imported modules, the detector, caches, the ORM's mappings) to the
    permanent generation: a full collection then scans only what was made since. Without it a demo hub's
    full collections paused the event loop 100-125 ms each (~200,000 long-lived objects scanned every time)."""
    gc.collect()
    gc.freeze()


def install() -> None:
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)


def uninstall() -> None:
    if _callback in gc.callbacks:
        gc.callbacks.remove(_callback)


class FreezePolicy:
    """Keep long-lived connection objects out of the full collections that would stop the hub.

    Each connection leaves a few hundred long-lived objects; CPython's full collection scans all of them,
    so at 10,000 clients it stops the event loop for over a second, again and again while clients
    connect. Every ``freeze_every`` new connections the survivors are moved to the permanent generation
    (``gc.freeze()``, O(1)), which collections skip. Frozen objects freed by reference counting go away
    as usual; only reference cycles among them wait. When as many connections have closed since the last
    thaw as ``churn_fraction`` of those then open (and at least ``freeze_every``), the hub thaws, collects once
    and freezes the survivors again, so such cycles cannot pile up.
    """

    def __init__(self, *, freeze_every: int = 250, churn_fraction: float = 0.5) -> None:
        self.freeze_every = freeze_every
        self.churn_fraction = churn_fraction
        self.opened = 0
        self.closed = 0
        self.freezes = 0
        self.thaws = 0

    def on_open(self) -> None:
        self.opened += 1
        if self.opened % self.freeze_every == 0:
            gc.freeze()
            self.freezes += 1

    def on_close(self, open_now: int) -> None:
        self.closed += 1
        if self.closed >= max(self.freeze_every, self.churn_fraction * (open_now + self.closed)):
            self.closed = 0
            self.thaws += 1
            gc.unfreeze()
            gc.collect()
            gc.freeze()  # what survived a full collection is long-lived (the process's own state among it)
