"""Pending dispatches: the durable record of what each responder was sent and has not acknowledged.

The outbox row is the durable source of every dispatch. When the relay publishes a ``dispatch:{user}``
row it records, in the same database transaction that marks the row published, one
``realtime_dispatch`` row: the outbox id, the user, the offset the bus gave it and the exact frame sent.
An ``ack`` sets ``acked_at``. On every (re)subscription to ``dispatch:{user}`` the hub sends all of that
user's unacknowledged rows, wherever they were first sent and whatever happened to Redis meanwhile (a
Redis restarted without persistence loses the streams, not this table).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, Text, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.db import Base, Timestamp, utcnow
from hub.realtime.bus import Message

log = logging.getLogger("gridhub.realtime.pending")


class DispatchDelivery(Base):
    """One dispatch message owed to a user until acknowledged."""

    __tablename__ = "realtime_dispatch"

    outbox_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    frame: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    acked_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_realtime_dispatch_user_unacked", "user_id", "acked_at", "offset"),)


def dispatch_user(channel: str) -> int | None:
    """The user id of a ``dispatch:{id}`` channel, else None."""
    if not channel.startswith("dispatch:"):
        return None
    try:
        return int(channel[9:])
    except ValueError:
        return None


class PendingStore:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        limit: int = 1000,
        batch_window_s: float = 0.02,
        batch_max: int = 200,
    ) -> None:
        self.session_factory = session_factory
        self.limit = limit
        self.batch_window_s = batch_window_s
        self.batch_max = batch_max
        self._waiting: list[tuple[int, int, asyncio.Future[tuple[list[Message], set[int]]]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def record(session: AsyncSession, rows: list[tuple[int, int, int, bytes]]) -> None:
        """Add (outbox id, user, offset, frame) rows inside the relay's transaction."""
        for outbox_id, user_id, offset, frame in rows:
            session.add(DispatchDelivery(outbox_id=outbox_id, user_id=user_id, offset=offset, frame=frame.decode()))

    async def unacked(self, user_id: int) -> list[Message]:
        async with self.session_factory() as session:
            result = await session.execute(
                select(DispatchDelivery.frame)
                .where(DispatchDelivery.user_id == user_id, DispatchDelivery.acked_at.is_(None))
                .order_by(DispatchDelivery.offset)
                .limit(self.limit)
            )
            return [Message.from_frame(frame.encode()) for frame in result.scalars()]

    async def state(self, user_id: int, after: int) -> tuple[list[Message], set[int]]:
        """The user's unacknowledged dispatches, and every recorded offset above ``after``.

        Subscriptions arrive in bursts (a hub restart reconnects thousands of phones at once): the
        requests of a few milliseconds share one query instead of a session and a round trip each.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[list[Message], set[int]]] = loop.create_future()
        self._waiting.append((user_id, after, future))
        if len(self._waiting) >= self.batch_max:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.batch_window_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting = self._waiting, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._load(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _load(self, batch: list[tuple[int, int, asyncio.Future[tuple[list[Message], set[int]]]]]) -> None:
        after_of: dict[int, int] = {}
        for user_id, after, _ in batch:
            after_of[user_id] = min(after, after_of.get(user_id, after))
        wanted = or_(
            *(
                and_(
                    DispatchDelivery.user_id == user_id,
                    or_(DispatchDelivery.acked_at.is_(None), DispatchDelivery.offset > after),
                )
                for user_id, after in after_of.items()
            )
        )
        try:
            async with self.session_factory() as session:
                result = await session.execute(
                    select(
                        DispatchDelivery.user_id,
                        DispatchDelivery.offset,
                        DispatchDelivery.frame,
                        DispatchDelivery.acked_at,
                    )
                    .where(wanted)
                    .order_by(DispatchDelivery.user_id, DispatchDelivery.offset)
                )
                rows = result.all()
        except Exception as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        by_user: dict[int, list[tuple[int, str, object]]] = {}
        for user_id, offset, frame, acked_at in rows:
            by_user.setdefault(user_id, []).append((offset, frame, acked_at))
        for user_id, after, future in batch:
            owed: list[Message] = []
            known: set[int] = set()
            for offset, frame, acked_at in by_user.get(user_id, ()):
                if offset > after:
                    known.add(offset)
                if acked_at is None and len(owed) < self.limit:
                    owed.append(Message.from_frame(frame.encode()))
            if not future.done():
                future.set_result((owed, known))

    async def ack(self, user_id: int, offset: int, *, retries: int = 5) -> bool:
        """Mark acknowledged; retried briefly since a live message can overtake its relay commit."""
        for attempt in range(retries + 1):
            try:
                async with self.session_factory() as session:
                    result = await session.execute(
                        update(DispatchDelivery)
                        .where(
                            DispatchDelivery.user_id == user_id,
                            DispatchDelivery.offset == offset,
                            DispatchDelivery.acked_at.is_(None),
                        )
                        .values(acked_at=utcnow())
                    )
                    await session.commit()
                    if result.rowcount:
                        return True
            except Exception:  # the database is busy or away: the dispatch stays pending (safe side)
                log.exception("ack of dispatch:%s @%s failed", user_id, offset)
            if attempt < retries:
                await asyncio.sleep(0.2 * (attempt + 1))
        return False
