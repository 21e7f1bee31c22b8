"""hub/tasks.py (contract C7): a background loop that raises is logged, counted, restarted with back-off."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from hub import tasks
from hub.tasks import supervise


def restarts(name: str) -> float:
    return REGISTRY.get_sample_value("gridhub_task_restarts_total", {"task": name}) or 0.0


async def test_a_task_that_raises_is_restarted_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()
    forever = asyncio.Event()

    async def flaky() -> None:
        runs.append(loop.time())
        if len(runs) <= 3:
            raise RuntimeError(f"boom {len(runs)}")
        await forever.wait()

    before = restarts("test-flaky")
    with caplog.at_level(logging.ERROR, logger="gridhub.tasks"):
        task = supervise("test-flaky", flaky, min_backoff_s=0.05, max_backoff_s=1.0)
        for _ in range(100):
            if len(runs) >= 4:
                break
            await asyncio.sleep(0.05)
    assert len(runs) == 4, runs
    assert not task.done()
    assert restarts("test-flaky") - before == 3
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert gaps[0] >= 0.04 and gaps[1] >= 0.09 and gaps[2] >= 0.19, gaps  # back-off doubles
    failures = [r for r in caplog.records if "test-flaky" in r.getMessage()]
    assert len(failures) == 3 and all(r.exc_info for r in failures)  # each failure logged with its traceback
    await tasks.stop(task)
    assert task.cancelled()
    assert REGISTRY.get_sample_value("gridhub_task_running", {"task": "test-flaky"}) == 0


async def test_a_task_that_returns_is_not_restarted() -> None:
    runs: list[int] = []

    async def once() -> None:
        runs.append(1)

    before = restarts("test-once")
    task = supervise("test-once", once, min_backoff_s=0.01)
    await asyncio.wait_for(task, 2)
    await asyncio.sleep(0.05)
    assert runs == [1] and restarts("test-once") == before


async def test_restart_counts_are_exported_on_metrics(api) -> None:  # type: ignore[no-untyped-def]
    async def bad() -> None:
        raise ValueError("always")

    task = supervise("test-metrics", bad, min_backoff_s=0.01, max_backoff_s=0.02)
    for _ in range(50):
        if restarts("test-metrics") >= 2:
            break
        await asyncio.sleep(0.02)
    await tasks.stop(task)
    text = (await api.client.get("/metrics")).text
    assert 'gridhub_task_restarts_total{task="test-metrics"}' in text
    # the hub's own loops run supervised (the gauge counts every hub app of this process: at least this one)
    running = {
        sample.labels["task"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "gridhub_task_running"
        for sample in family.samples
    }
    for name in ("outbox-relay", "dispatch-redeliver", "ws-heartbeat", "ws-channel-gc"):
        assert running.get(name, 0) >= 1, (name, running)
