"""Everything that grows has a bound: ring memory, idle channels, published outbox rows, acked dispatches."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, update

from dispatch.db import utcnow
from dispatch.models import OutboxMessage
from hub.realtime.bus import EVENTS, MemoryBus, Publication
from hub.realtime.pending import DispatchDelivery
from tests.realtime.conftest import make_settings
from tests.realtime.helpers import InProcessHub, add_outbox, event_data
from tests.realtime.hubapp import build_app


async def test_a_ring_is_bounded_by_memory_not_only_by_length() -> None:
    bus = MemoryBus(maxlen=100_000, max_bytes=1024 * 1024)
    note = "x" * 1000
    first = None
    for start in range(0, 20_000, 500):
        offsets = await bus.publish_many(
            [Publication(EVENTS, "event.assign", event_data(i, note=note)) for i in range(start, start + 500)]
        )
        first = first or offsets[0]
    ring = bus.rings[EVENTS]
    assert ring.bytes <= 1024 * 1024
    assert 100 < len(ring.messages) < 1000  # ~3.6 KB a message: a few hundred fit, not 20,000
    assert (await bus.history(EVENTS, first, 100_000)).reset  # what was dropped is answered with reset
    latest = ring.latest
    assert [m.offset for m in (await bus.history(EVENTS, latest - 3, 100)).messages] == [
        latest - 2,
        latest - 1,
        latest,
    ]


async def test_idle_channels_are_forgotten() -> None:
    bus = MemoryBus(idle_s=60)
    for n in range(1000):  # any authorised name makes a ring: a reader subscribing to ever new ones
        await bus.history(f"detections:cam{n}", None, 0)
    await bus.publish(f"dispatch:{7}", "x", {})
    await bus.watch("dispatch:8")
    await bus.history("dispatch:8", None, 0)
    await bus.publish(EVENTS, "x", {})
    assert len(bus.rings) == 1003
    assert bus.expire_idle() == 0  # not idle yet
    later = asyncio.get_running_loop().time() + 61  # time.monotonic and the loop clock agree on Linux
    assert bus.expire_idle(later) == 1001
    assert set(bus.rings) == {EVENTS, "dispatch:8"}  # watched and the events channel stay


async def test_retention_deletes_old_published_outbox_rows_and_acked_dispatches(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = build_app(make_settings(tmp_path, outbox_retention_days=1, dispatch_retention_days=1))
    realtime = app.state.realtime
    engine = app.state.session_factory.kw["bind"]
    async with InProcessHub(app):
        rows = [("dispatch:10", "event.assigned", event_data(i, assignee=10)) for i in range(4)]
        await add_outbox(engine, *rows, ("events", "event.assign", event_data(9)))
        realtime.notify()
        for _ in range(100):
            async with app.state.session_factory() as session:
                if await session.scalar(select(func.count()).select_from(DispatchDelivery)) == 4:
                    break
            await asyncio.sleep(0.05)
        async with app.state.session_factory() as session:
            offsets = (await session.scalars(select(DispatchDelivery.offset).order_by(DispatchDelivery.offset))).all()
        for offset in offsets[:3]:
            assert await realtime.pending.ack(10, offset)
        await add_outbox(engine, ("events", "event.assign", event_data(10)))  # not yet published: kept
        old = utcnow() - timedelta(days=2)
        async with app.state.session_factory() as session:
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.published_at.is_not(None)).values(published_at=old)
            )
            await session.execute(
                update(DispatchDelivery).where(DispatchDelivery.offset.in_(offsets[:2])).values(acked_at=old)
            )
            await session.commit()
        deleted = await realtime.retain()
        assert deleted["outbox"] == 5 and deleted["realtime_dispatch"] == 2
        async with app.state.session_factory() as session:
            left = (await session.scalars(select(DispatchDelivery.offset).order_by(DispatchDelivery.offset))).all()
            assert left == offsets[2:]  # acked yesterday, and the one still owed
            assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        assert [m.offset for m in await realtime.pending.unacked(10)] == [offsets[3]]
