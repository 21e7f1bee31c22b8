"""The Redis engine with a real, private redis-server: the bus contract, two hubs, a hub SIGKILLed
mid-stream, Redis restarted under running hubs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch.models import OutboxMessage
from hub.realtime.bus import Publication
from hub.realtime.bus_redis import RedisBus
from hub.wsclient import connect
from tests.conftest import create_pg_database, drop_pg_database
from tests.realtime.conftest import make_settings
from tests.realtime.helpers import SECRET, HubProc, InProcessHub, Raw, RedisProc, add_outbox, event_data, token
from tests.realtime.hubapp import build_app

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
async def pg_url() -> AsyncIterator[str]:
    from hub.migrations import upgrade

    url = await create_pg_database()
    # The real schema: some tests run the real app (create_app), whose background tasks use every table.
    await asyncio.to_thread(upgrade, url)
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def flushed(redis_proc: RedisProc, pg_url: str) -> AsyncIterator[None]:
    r = aioredis.Redis.from_url(redis_proc.url)
    await r.flushall()
    await r.aclose()
    engine = create_async_engine(pg_url)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE outbox, realtime_dispatch"))
    await engine.dispose()
    yield


async def wait_for(pred: Any, timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_bus_contract(redis_proc: RedisProc, flushed: None) -> None:
    bus = RedisBus(redis_proc.url, maxlen=100)
    got: list[Any] = []
    bus.sink = got.append
    await bus.start()
    try:
        await bus.watch("events")
        offsets = await bus.publish_many([Publication("events", "t", {"i": i}, outbox_id=i) for i in range(5)])
        assert offsets == list(range(offsets[0], offsets[0] + 5))
        # a row relayed again (crash between publish and mark) is not appended again
        again = await bus.publish_many([Publication("events", "t", {"i": 3}, outbox_id=3)])
        assert again == [offsets[3]]
        await wait_for(lambda: asyncio.sleep(0, len(got) == 5), 3, "live delivery")
        assert [m.offset for m in got] == offsets and got[0].data == {"i": 0}
        h = await bus.history("events", offsets[1], 1000)
        assert [m.data["i"] for m in h.messages] == [2, 3, 4] and h.latest == offsets[-1] and not h.reset
        assert (await bus.history("events", offsets[-1] + 10, 1000)).reset
        assert (await bus.history("events", h.epoch - 1, 1000)).reset  # an older epoch
        # trimmed: more than MAXLEN later, an old offset is a reset
        await bus.publish_many([Publication("events", "t", {"i": i}) for i in range(400)])
        assert (await bus.history("events", offsets[0], 10_000)).reset
        # transient channels: latest wins, no history
        await bus.publish("screen:overview", "tile", {"v": 1})
        await bus.publish("screen:overview", "tile", {"v": 2})
        latest = await bus.latest_transient("screen:overview")
        assert latest is not None and latest.data == {"v": 2}
    finally:
        await bus.close()


async def test_idle_channels_expire_and_come_back_in_a_new_epoch(redis_proc: RedisProc, flushed: None) -> None:
    """Item 16: a channel nobody publishes to or subscribes to leaves Redis after the idle TTL; when it is used
    again, its offsets start a new, higher epoch, so an old offset is a reset and not a silent gap."""
    bus = RedisBus(redis_proc.url, maxlen=100, idle_ttl_s=2)
    await bus.start()
    try:
        assert bus.redis is not None
        first = await bus.publish_many([Publication("dispatch:77", "t", {"i": i}, outbox_id=i) for i in range(3)])
        await bus.history("dispatch:88", None, 10)  # subscribed to, never published: its counter too
        keys = sorted(k.decode() for k in await bus.redis.keys("gridhub:*"))
        assert keys == sorted(
            [*(f"gridhub:{{dispatch:77}}:{k}" for k in "cesx"), *(f"gridhub:{{dispatch:88}}:{k}" for k in "ce")]
        ), keys
        for key in keys:
            assert 0 < await bus.redis.ttl(key) <= 2, key
        await asyncio.sleep(1.2)
        await bus.history("dispatch:77", first[-1], 10)  # a subscribe keeps it alive
        await asyncio.sleep(1.2)
        assert await bus.redis.exists("gridhub:{dispatch:77}:c")
        assert not await bus.redis.exists("gridhub:{dispatch:88}:c")
        await asyncio.sleep(2.2)
        assert await bus.redis.keys("gridhub:*") == []
        again = await bus.history("dispatch:77", first[-1], 10)
        assert again.reset and again.epoch > first[-1]
        assert (await bus.publish_many([Publication("dispatch:77", "t", {"i": 9})]))[0] > first[-1]
    finally:
        await bus.close()

    forever = RedisBus(redis_proc.url, maxlen=100, idle_ttl_s=0)
    await forever.start()
    try:
        assert forever.redis is not None
        await forever.publish_many([Publication("dispatch:99", "t", {})])
        assert await forever.redis.ttl("gridhub:{dispatch:99}:s") == -1
    finally:
        await forever.close()


async def test_two_hubs_deliver_to_clients_on_either(
    tmp_path: Path, redis_proc: RedisProc, pg_url: str, flushed: None
) -> None:
    apps = [
        build_app(make_settings(tmp_path / n, redis_url=redis_proc.url, database_url=pg_url), create_tables=False)
        for n in ("a", "b")
    ]
    async with InProcessHub(apps[0]) as a, InProcessHub(apps[1]) as b:
        ca = await Raw.connect(a.url, token(2))
        cb = await Raw.connect(b.url, token(10))
        sa = await ca.subscribe("events")
        sb = await cb.subscribe("events")
        assert sa["offset"] == sb["offset"]  # one log, whichever hub answers
        await cb.subscribe("dispatch:10")
        leaders = [app.state.realtime.relay.leader for app in apps]
        await add_outbox(
            apps[0].state.session_factory.kw["bind"],
            ("events", "event.assign", event_data(1)),
            ("events", "event.assign", event_data(2, "G2")),
            ("dispatch:10", "event.assigned", event_data(1, assignee=10)),
        )
        ma = [m for m in await ca.drain(1.0) if "data" in m]
        mb = [m for m in await cb.drain(0.3) if "data" in m]
        assert [m["data"]["event_id"] for m in ma] == [1, 2]
        # (the unacknowledged dispatch may be re-sent meanwhile: same offset)
        assert sorted({(m["channel"], m["data"]["event_id"], m["offset"]) for m in mb})[0][:2] == ("dispatch:10", 1)
        assert sorted({(m["channel"], m["data"]["event_id"]) for m in mb}) == [("dispatch:10", 1), ("events", 1)]
        assert sorted(leaders) == [False, True] or sum(app.state.realtime.relay.leader for app in apps) == 1
        for c in (ca, cb):
            await c.close()


async def test_hub_sigkilled_mid_stream_loses_no_dispatch(
    tmp_path: Path, redis_proc: RedisProc, pg_url: str, flushed: None
) -> None:
    env = {
        "GRIDHUB_DATABASE_URL": pg_url,
        "GRIDHUB_REDIS_URL": redis_proc.url,
        "GRIDHUB_SECRET_KEY": SECRET,
        "GRIDHUB_DATA_DIR": str(tmp_path),
        "GRIDHUB_RELAY_POLL_S": "0.05",
        "GRIDHUB_DISPATCH_REDELIVER_S": "1",
        "GRIDHUB_RELAY_LEASE_S": "1",
    }
    # the real app factory (hub/app.py), as `gridhub serve` runs it
    a, b = HubProc(env, factory="hub.app:create_app"), HubProc(env, factory="hub.app:create_app")
    a.start()
    await a.wait_ready()
    b.start()  # b stands by; a holds the relay lease
    await b.wait_ready()
    engine = create_async_engine(pg_url)
    received: dict[int, int] = {}
    try:
        async with connect(a.url, token(10), backoff_min=0.05, backoff_max=0.5) as client:
            await client.subscribe("dispatch:10")
            await client.subscribe("events")

            async def reader() -> None:
                async for msg in client:
                    if msg.get("channel") == "dispatch:10":
                        received[msg["data"]["event_id"]] = received.get(msg["data"]["event_id"], 0) + 1

            task = asyncio.create_task(reader())
            n = 60
            for i in range(n):
                await add_outbox(engine, ("dispatch:10", "event.assigned", event_data(i, assignee=10)))
                if i == 20:
                    a.kill()  # the relay leader and the client's hub, mid-stream
                if i == 35:
                    a.start()  # back on the same port: the client reconnects to it
                await asyncio.sleep(0.05)
            await wait_for(lambda: asyncio.sleep(0, len(received) == n), 20, "every dispatch")
            task.cancel()
        assert sorted(received) == list(range(n))
        # exactly once: every row published, each appended to the stream once
        async with engine.connect() as conn:
            left = await conn.scalar(select(func.count()).where(OutboxMessage.published_at.is_(None)))
        assert left == 0
        r = aioredis.Redis.from_url(redis_proc.url)
        assert await r.xlen("gridhub:{dispatch:10}:s") == n
        await r.aclose()
    finally:
        a.kill()
        b.kill()
        await engine.dispose()


async def test_redis_restart_hubs_recover_and_dispatches_survive(
    tmp_path: Path, redis_proc: RedisProc, pg_url: str, flushed: None
) -> None:
    app = build_app(
        make_settings(tmp_path, redis_url=redis_proc.url, database_url=pg_url, dispatch_redeliver_s=30),
        create_tables=False,
    )
    async with InProcessHub(app) as hub:
        engine = app.state.session_factory.kw["bind"]
        responder = connect(hub.url, token(10), auto_ack=False, backoff_min=0.05, backoff_max=0.5)
        watcher = connect(hub.url, token(2), backoff_min=0.05, backoff_max=0.5)
        await responder.start()
        await watcher.start()
        await responder.subscribe("dispatch:10")
        await watcher.subscribe("events")
        await add_outbox(
            engine,
            ("dispatch:10", "event.assigned", event_data(1, assignee=10)),
            ("events", "event.assign", event_data(1)),
        )
        assert (await responder.next(5))["data"]["event_id"] == 1  # received, not acknowledged
        assert (await watcher.next(5))["data"]["event_id"] == 1

        redis_proc.restart()  # all data gone (no persistence)
        await add_outbox(
            engine,
            ("dispatch:10", "event.assigned", event_data(2, assignee=10)),
            ("events", "event.assign", event_data(2)),
        )
        # the hub reconnects by itself; its relay publishes what waited in the outbox
        got = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and 2 not in got:
            msg = await responder.next(15)
            if "data" in msg:
                got.append(msg["data"]["event_id"])
        assert 2 in got
        # the events log lost continuity: the watcher is told to reload (or sees event 2 itself)
        msg = await watcher.next(15)
        assert msg.get("type") == "reset" or msg["data"]["event_id"] == 2, msg
        await responder.close()
        await watcher.close()

        # reconnecting: every unacknowledged dispatch, from before and after the restart
        c = await Raw.connect(hub.url, token(10))
        await c.subscribe("dispatch:10")
        owed = sorted(m["data"]["event_id"] for m in await c.drain(0.5) if "data" in m)
        assert owed == [1, 2]
        await c.close()
        assert await app.state.realtime.ready()
