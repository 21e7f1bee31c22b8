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

from hub import tasks
from hub.realtime import Realtime
from hub.settings import Settings
from stream import recordings
from stream.pool import ReaderPool, StreamOptions
from stream.reader import CameraReader, PacketSink
from stream.recorder import Recorder

log = logging.getLogger("gridhub.streams")

CAMERAS_CHANNEL = "cameras"
RETENTION_EVERY_S = 60.0


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
        self.store = recordings.RecordingStore(settings.resolved_recording_dir)
        self.pool = ReaderPool(
            stream_options(settings),
            session_factory=session_factory,
            on_status=self._on_status,
            sink_factory=self._recorder if settings.recording_enabled else None,
        )
        self._bg: set[asyncio.Task[Any]] = set()
        self._retention: asyncio.Task[None] | None = None

    def _recorder(self, reader: CameraReader) -> PacketSink:
        return Recorder(reader.camera_id, self.store.root, segment_s=self.settings.recording_segment_s)

    async def start(self) -> None:
        recordings.configure(self.store.root)
        if self.settings.streams_enabled:
            await self.pool.start()
            if self.settings.recording_enabled:
                self._retention = tasks.supervise("stream-retention", self._enforce_retention)

    async def _enforce_retention(self) -> None:
        while True:
            removed = await asyncio.to_thread(
                self.store.enforce,
                max_age_s=self.settings.recording_retention_hours * 3600,
                quota_bytes=int(self.settings.recording_quota_gb * 1024**3),
            )
            if removed:
                log.info("recordings: %d old segments removed", removed)
            await asyncio.sleep(RETENTION_EVERY_S)

    async def stop(self) -> None:
        await tasks.stop(self._retention)
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
