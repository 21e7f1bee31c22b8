"""Realtime delivery (DESIGN section 6): the bus, the outbox relay and the ``/ws`` endpoint.

What lives where:

* ``bus.py`` the Bus interface, the message/frame format, the in-process engine;
  ``bus_redis.py`` the Redis Streams + pub/sub engine (offsets, epochs, gap filling, relay lease);
* ``relay.py`` publishes outbox rows exactly once; ``pending.py`` the durable record of unacknowledged
  dispatches (table ``realtime_dispatch``);
* ``accounts.py`` whether a token's account still stands (checked on connect and on revocation);
* ``channels.py`` who may subscribe to what; ``fanout.py`` this process's subscriptions and delivery
  loop; ``session.py`` one client's bounded queue; ``endpoint.py`` the ``/ws`` protocol.

The app factory uses ``Realtime(settings, session_factory)``, ``await start()``, ``await stop()``,
``router``, ``await ready()`` and ``notify()`` (after a workflow commit: relay now). Domain code may
``await publish(channel, type, data)`` for aggregates (``screen:``) and detections that do not go through
the outbox. ``await revoke_user(user_id)`` (contract C2) makes every hub re-check that user's sockets now:
call it after committing a logout, a deactivation or a role or jurisdiction change.

Its settings (``GRIDHUB_WS_*``, ``GRIDHUB_DISPATCH_*``, ``GRIDHUB_RELAY_*``) are documented in hub/settings.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import tasks
from hub.realtime import retention
from hub.realtime.accounts import AccountChecker
from hub.realtime.bus import CONTROL, Bus, BusUnavailable, MemoryBus
from hub.realtime.endpoint import websocket_endpoint
from hub.realtime.fanout import Fanout
from hub.realtime.pending import PendingStore
from hub.realtime.relay import OutboxRelay
from hub.settings import Settings
from hub.tasks import supervise

__all__ = ["Realtime"]

log = logging.getLogger("gridhub.realtime")


class Realtime:
    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        fast_path: bool = True,
        relay: bool = True,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.fast_path = fast_path
        self.send_timeout_s = settings.ws_send_timeout_s
        self.bus: Bus
        if settings.redis_url:
            from hub.realtime.bus_redis import RedisBus

            self.bus = RedisBus(
                settings.redis_url, maxlen=settings.stream_maxlen, idle_ttl_s=settings.stream_idle_ttl_s
            )
        else:
            self.bus = MemoryBus(
                maxlen=settings.stream_maxlen, max_bytes=settings.stream_max_bytes, idle_s=settings.channel_idle_s
            )
        self.pending = PendingStore(session_factory, limit=settings.dispatch_pending_max)
        self.accounts = AccountChecker(session_factory)
        self.fanout = Fanout(
            self.bus,
            self.pending,
            heartbeat_s=settings.ws_heartbeat_s,
            redeliver_s=settings.dispatch_redeliver_s,
            replay_max=settings.ws_replay_max,
            accounts=self.accounts,
            recheck_s=settings.ws_account_recheck_s,
        )
        self.relay: OutboxRelay | None = (
            OutboxRelay(
                self.bus,
                session_factory,
                self.pending,
                poll_s=settings.relay_poll_s,
                lease_s=settings.relay_lease_s,
            )
            if relay
            else None
        )
        self.router = APIRouter()

        async def ws(websocket: WebSocket) -> None:
            await websocket_endpoint(self, websocket)

        self.router.add_api_websocket_route("/ws", ws, name="ws")

    @property
    def secret(self) -> str:
        return self.settings.signing_key

    async def start(self) -> None:
        """Connect the bus, start the outbox relay and the per-process fan-out."""
        await self.bus.start()
        await self.fanout.start()
        if self.relay is not None:
            await self.relay.start()
        self._retention = supervise("realtime-retention", self._retention_loop)

    async def retain(self) -> dict[str, int]:
        """One retention pass: old published outbox rows and acknowledged dispatches, idle bus rings."""
        s = self.settings
        deleted = await retention.sweep(
            self.session_factory, outbox_days=s.outbox_retention_days, dispatch_days=s.dispatch_retention_days
        )
        if isinstance(self.bus, MemoryBus):
            deleted["rings"] = self.bus.expire_idle()
        return deleted

    async def _retention_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.retention_sweep_s)
            await self.retain()

    async def stop(self) -> None:
        """Close client connections with 1001 and stop background tasks."""
        await tasks.stop(getattr(self, "_retention", None))
        if self.relay is not None:
            await self.relay.stop()
        await self.fanout.stop()
        await self.bus.close()

    async def ready(self) -> bool:
        """Whether the bus answers (for /readyz)."""
        return await self.bus.ready()

    def notify(self) -> None:
        """Relay the outbox now (call after a workflow commit; cheap, safe from any thread)."""
        if self.relay is not None:
            self.relay.notify()

    async def publish(self, channel: str, type_: str, data: dict[str, Any]) -> int:
        """Publish directly (aggregates, detections); workflow changes go through the outbox instead."""
        return await self.bus.publish(channel, type_, data)

    async def revoke_user(self, user_id: int) -> None:
        """Make every hub re-check ``user_id``'s sockets now (contract C2), closing with 4001 those whose
        account no longer matches their token (logged out, deactivated, role or jurisdiction changed).

        Call after the change is committed. Published on the bus; where the bus does not answer, this hub
        re-checks its own sockets and the others catch up when their bus reconnects (they re-check all).
        """
        try:
            await self.bus.publish(CONTROL, "revoke", {"user_id": int(user_id)})
        except BusUnavailable:
            log.warning("bus unavailable: revocation of user %s applied on this hub only for now", user_id)
            await self.fanout.recheck(int(user_id), fail_closed=True)

    def stats(self) -> dict[str, Any]:
        return {
            "clients": len(self.fanout.sessions),
            "channels": len(self.fanout.channels),
            "delivered": self.fanout.delivered,
            "relayed": self.relay.published if self.relay else 0,
            "relay_leader": bool(self.relay and self.relay.leader),
        }
