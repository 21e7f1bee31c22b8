"""The outbox relay: publishes the rows workflow transactions wrote, exactly once per row.

* **One relay at a time**: with Redis, a lease (``SET NX PX``, renewed while relaying) elects one hub;
  the in-process bus has a single process anyway.
* **Exactly once**: rows are read in id order where ``published_at IS NULL``, published, then marked in
  one transaction (which also records pending dispatches). A crash between publishing and marking
  republishes the rows; the bus recognises each outbox id it already appended (per-channel set of
  relayed ids in the Lua script) and returns the original offset instead of appending again. A row that
  commits late (lower id, later commit) is simply picked up by the next pass.
* **Latency**: a pass runs every ``relay_poll_s`` and at once after ``notify()`` (cheap, callable from
  any thread or coroutine, e.g. right after the service commits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.db import utcnow
from dispatch.models import OutboxMessage
from hub import tasks
from hub.metrics import RELAY_PUBLISHED
from hub.realtime.bus import Bus, BusUnavailable, Publication, frame_head, frame_tail
from hub.realtime.pending import PendingStore, dispatch_user
from hub.tasks import supervise

log = logging.getLogger("gridhub.realtime.relay")


class OutboxRelay:
    def __init__(
        self,
        bus: Bus,
        session_factory: async_sessionmaker[AsyncSession],
        pending: PendingStore,
        *,
        poll_s: float = 0.2,
        batch: int = 500,
        lease_s: float = 5.0,
    ) -> None:
        self.bus = bus
        self.session_factory = session_factory
        self.pending = pending
        self.poll_s = poll_s
        self.batch = batch
        self.lease_s = lease_s
        self.token = secrets.token_hex(8)
        self.leader = False
        self.published = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._lease_at = 0.0

    def notify(self) -> None:
        """Run a pass now (safe from any thread; a no-op before start)."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = supervise("outbox-relay", self._run)

    async def stop(self) -> None:
        await tasks.stop(self._task)
        if self.leader:
            with contextlib.suppress(Exception):
                await self.bus.resign(self.token)

    async def _lead(self) -> bool:
        now = asyncio.get_running_loop().time()
        if self.leader and now - self._lease_at < self.lease_s / 3:
            return True
        self.leader = await self.bus.lead(self.token, self.lease_s)
        if self.leader:
            self._lease_at = now
        return self.leader

    async def _run(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()
            try:
                if not await self._lead():
                    continue
                while await self.relay_once() >= self.batch:
                    pass
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # bus or database away: keep trying, never crash the hub
                self.leader = False
                failures += 1
                if failures == 1 or failures % 50 == 0:
                    level = logging.WARNING if isinstance(exc, BusUnavailable) else logging.ERROR
                    log.log(level, "outbox relay: %s (failure %d)", exc, failures, exc_info=failures == 1)
                await asyncio.sleep(min(2.0, self.poll_s * failures))

    async def relay_once(self) -> int:
        """Publish one batch of unpublished rows; the number of rows handled."""
        async with self.session_factory() as session:
            rows = (
                await session.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.channel,
                        OutboxMessage.type,
                        OutboxMessage.data,
                        OutboxMessage.created_at,
                    )
                    .where(OutboxMessage.published_at.is_(None))
                    .order_by(OutboxMessage.id)
                    .limit(self.batch)
                )
            ).all()
            if not rows:
                return 0
            items = [
                Publication(
                    channel=row.channel,
                    type=row.type,
                    data=row.data if isinstance(row.data, dict) else {"value": row.data},
                    outbox_id=row.id,
                    ts=int(row.created_at.timestamp() * 1000) if row.created_at else None,
                )
                for row in rows
            ]
            offsets = await self.bus.publish_many(items)
            owed = []
            for item, offset in zip(items, offsets, strict=True):
                user_id = dispatch_user(item.channel)
                if user_id is not None:
                    frame = frame_head(item.channel, offset) + frame_tail(item.type, item.data, item.ts or 0)
                    owed.append((item.outbox_id, user_id, offset, frame))
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row in rows]))
                .values(published_at=utcnow())
            )
            if owed:
                self.pending.record(session, owed)
            await session.commit()
            self.published += len(rows)
            RELAY_PUBLISHED.inc(len(rows))
            return len(rows)
