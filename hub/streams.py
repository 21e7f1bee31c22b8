"""The hub's side of the cameras: builds the ReaderPool from Settings and pushes status changes live.

Every status transition of a camera (``connecting`` → ``online`` → ``offline`` …) is published on the
``cameras`` channel with the camera's jurisdiction codes, so the fan-out delivers it only to users whose
jurisdiction contains the camera (as ``events``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.realtime import Realtime
from hub.settings import Settings
from stream.pool import ReaderPool, StreamOptions

log = logging.getLogger("gridhub.streams")

CAMERAS_CHANNEL = "cameras"


def stream_options(settings: Settings) -> StreamOptions:
    return StreamOptions(
        rtsp_transport=settings.rtsp_transport,
        open_timeout_s=settings.stream_open_timeout_s,
        read_timeout_s=settings.stream_read_timeout_s,
        backoff_max_s=settings.stream_backoff_max_s,
    )


class Streams:
    """The pool plus what the hub adds around it (status push); ``app.state.streams`` is the pool."""

    def __init__(
        self, settings: Settings, session_factory: async_sessionmaker[AsyncSession], realtime: Realtime
    ) -> None:
        self.settings = settings
        self.realtime = realtime
        self.pool = ReaderPool(stream_options(settings), session_factory=session_factory, on_status=self._on_status)
        self._bg: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        if self.settings.streams_enabled:
            await self.pool.start()

    async def stop(self) -> None:
        await self.pool.stop()
        for task in list(self._bg):
            task.cancel()

    def _on_status(self, camera_id: int, status: dict[str, Any], meta: dict[str, Any]) -> None:
        data = {"camera_id": camera_id, **meta, "status": status}
        task = asyncio.get_running_loop().create_task(self._publish(data))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _publish(self, data: dict[str, Any]) -> None:
        try:
            await self.realtime.publish(CAMERAS_CHANNEL, "camera.status", data)
        except Exception:
            log.warning("camera %s: status push failed", data.get("camera_id"), exc_info=True)
