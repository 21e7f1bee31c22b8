"""Retention: the realtime tables and rings stay bounded however long the hub runs.

* ``outbox`` rows are the relay's to-do list: once published they are only history, deleted after
  ``outbox_retention_days``;
* ``realtime_dispatch`` rows once acknowledged are only history, deleted after ``dispatch_retention_days``
  (unacknowledged ones stay until acknowledged: they are owed);
* the in-process bus forgets rings nobody used for ``channel_idle_s`` (``MemoryBus.expire_idle``).

Deletes go in batches so a long backlog never holds a long transaction.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.db import utcnow
from dispatch.models import OutboxMessage
from hub.metrics import RETENTION_DELETED
from hub.realtime.pending import DispatchDelivery

BATCH = 5000


async def sweep(
    session_factory: async_sessionmaker[AsyncSession], *, outbox_days: float, dispatch_days: float
) -> dict[str, int]:
    """Delete published outbox rows and acknowledged dispatches past their retention; rows deleted per table."""
    now = utcnow()
    deleted = {"outbox": 0, "realtime_dispatch": 0}
    targets = (
        ("outbox", OutboxMessage, OutboxMessage.id, OutboxMessage.published_at, outbox_days),
        ("realtime_dispatch", DispatchDelivery, DispatchDelivery.outbox_id, DispatchDelivery.acked_at, dispatch_days),
    )
    for name, model, key, stamp, days in targets:
        cutoff = now - timedelta(days=days)
        while True:
            async with session_factory() as session:
                ids = (await session.scalars(select(key).where(stamp < cutoff).limit(BATCH))).all()
                if not ids:
                    break
                await session.execute(delete(model).where(key.in_(ids)))
                await session.commit()
            deleted[name] += len(ids)
            RETENTION_DELETED.labels(name).inc(len(ids))
            await asyncio.sleep(0)  # let live traffic through between batches
    return deleted
