"""Supervised background tasks (contract C7): a loop that fails is logged, counted and restarted.

``supervise(name, factory)`` runs ``await factory()`` in a task. When the coroutine raises, the error is
logged with its traceback, ``gridhub_task_restarts_total{task=name}`` goes up by one and a new coroutine
is started after a back-off (``RESTART_MIN_S`` doubling to ``RESTART_MAX_S``; back to the minimum once a
run has lasted ``HEALTHY_AFTER_S``). Cancelling the returned task stops it for good; a coroutine that
returns normally is finished and not restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from hub.metrics import TASK_RESTARTS, TASK_RUNNING

log = logging.getLogger("gridhub.tasks")

RESTART_MIN_S = 0.1
RESTART_MAX_S = 30.0
#: A run that lasted this long resets the back-off.
HEALTHY_AFTER_S = 60.0


def supervise(
    name: str,
    factory: Callable[[], Awaitable[None]],
    *,
    min_backoff_s: float | None = None,
    max_backoff_s: float | None = None,
) -> asyncio.Task[None]:
    """Run ``factory()`` under supervision in a task named ``gridhub-<name>``; returns the task."""
    low = RESTART_MIN_S if min_backoff_s is None else min_backoff_s
    high = RESTART_MAX_S if max_backoff_s is None else max_backoff_s
    return asyncio.get_running_loop().create_task(_run(name, factory, low, high), name=f"gridhub-{name}")


async def _run(name: str, factory: Callable[[], Awaitable[None]], low: float, high: float) -> None:
    delay = low
    failures = 0
    TASK_RUNNING.labels(name).inc()
    try:
        while True:
            started = time.monotonic()
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                if time.monotonic() - started >= HEALTHY_AFTER_S:
                    delay, failures = low, 0
                failures += 1
                TASK_RESTARTS.labels(name).inc()
                log.exception("background task %s failed (failure %d); restarting in %.1f s", name, failures, delay)
                await asyncio.sleep(delay)
                delay = min(high, delay * 2)
                continue
            log.info("background task %s finished", name)
            return
    finally:
        TASK_RUNNING.labels(name).dec()


async def stop(*tasks: asyncio.Task[None] | None) -> None:
    """Cancel tasks and wait until they are gone (whatever they raise on the way out)."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(BaseException):  # cancelled, or failed on the way out: gone either way
            await task
