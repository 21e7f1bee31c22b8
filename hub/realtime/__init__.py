"""Realtime delivery (DESIGN section 6): the bus, the outbox relay and the ``/ws`` endpoint.

PLACEHOLDER INTERFACE — being built out (issue 3). ``create_app`` uses exactly this surface:
``Realtime(settings, session_factory)``, ``await start()``, ``await stop()``, ``router``, ``await ready()``.
"""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.settings import Settings


class Realtime:
    def __init__(self, settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.router = APIRouter()

    async def start(self) -> None:
        """Connect the bus, start the outbox relay and the per-process fan-out."""

    async def stop(self) -> None:
        """Close client connections with 1001 and stop background tasks."""

    async def ready(self) -> bool:
        """Whether the bus answers (for /readyz)."""
        return True
