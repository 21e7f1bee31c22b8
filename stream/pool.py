"""The hub's camera readers: one :class:`~stream.reader.CameraReader` per enabled camera with a source.

The hub's lifespan builds a :class:`ReaderPool`, ``await start()`` (loads the registry and starts the
readers) and ``await stop()``; it lives on ``app.state.streams``. Registry edits call ``configure`` or
``remove``. Status transitions go to ``on_status(camera_id, status, meta)`` (the hub pushes them on the
``cameras`` channel). :func:`open_source` is an ad-hoc reader outside the pool (``gridhub detect SOURCE``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stream.reader import CameraReader, PacketSink

log = logging.getLogger("gridhub.stream.pool")


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How readers connect (built by the hub from its Settings)."""

    rtsp_transport: str = "tcp"
    open_timeout_s: float = 8.0
    read_timeout_s: float = 8.0
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0

    def reader_kwargs(self) -> dict[str, Any]:
        return {
            "rtsp_transport": self.rtsp_transport,
            "open_timeout_s": self.open_timeout_s,
            "read_timeout_s": self.read_timeout_s,
            "backoff_min_s": self.backoff_min_s,
            "backoff_max_s": self.backoff_max_s,
        }


@dataclass(slots=True)
class CameraEntry:
    camera_id: int
    url: str
    enabled: bool = True
    #: What status pushes carry besides the status: name and the jurisdiction codes (county … grid).
    meta: dict[str, Any] = field(default_factory=dict)


StatusCallback = Callable[[int, dict[str, Any], dict[str, Any]], None]
SinkFactory = Callable[[CameraReader], PacketSink | None]


def offline_status(state: str, reason: str | None = None) -> dict[str, Any]:
    return {
        "state": state,
        "reason": reason,
        "fps": None,
        "width": None,
        "height": None,
        "codec": None,
        "last_frame_ts": None,
        "since": None,
    }


class ReaderPool:
    def __init__(
        self,
        options: StreamOptions | None = None,
        *,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
        on_status: StatusCallback | None = None,
        sink_factory: SinkFactory | None = None,
    ) -> None:
        self.options = options or StreamOptions()
        self.session_factory = session_factory
        self.on_status = on_status
        self.sink_factory = sink_factory
        self.entries: dict[int, CameraEntry] = {}
        self.readers: dict[int, CameraReader] = {}
        self.sinks: dict[int, PacketSink] = {}
        self.started = False

    async def start(self) -> None:
        """Load every camera of the registry and start the readers of enabled cameras with a source."""
        self.started = True
        if self.session_factory is not None:
            for entry in await load_entries(self.session_factory):
                await self.configure(entry, notify=False)
        log.info("streams: %d cameras, %d readers", len(self.entries), len(self.readers))

    async def stop(self) -> None:
        self.started = False
        readers = list(self.readers.items())
        self.readers.clear()
        await asyncio.gather(*(self._stop_reader(cid, r) for cid, r in readers), return_exceptions=True)

    async def _stop_reader(self, camera_id: int, reader: CameraReader) -> None:
        await reader.stop()
        sink = self.sinks.pop(camera_id, None)
        if sink is not None:
            reader.remove_sink(sink)
            await asyncio.to_thread(sink.on_disconnect)

    def get(self, camera_id: int) -> CameraReader:
        """The camera's reader; KeyError when the camera is unknown, disabled or has no source."""
        return self.readers[camera_id]

    def __contains__(self, camera_id: int) -> bool:
        return camera_id in self.readers

    def status(self, camera_id: int) -> dict[str, Any]:
        """The camera's true status (``no_source``/disabled cameras included)."""
        reader = self.readers.get(camera_id)
        if reader is not None:
            return reader.status()
        entry = self.entries.get(camera_id)
        if entry is None or not entry.url.strip():
            return offline_status("no_source")
        if not entry.enabled:
            return offline_status("offline", "disabled")
        return offline_status("offline", "streams are not running on this hub")

    async def configure(self, entry: CameraEntry, *, notify: bool = True) -> None:
        """Add or update a camera: its reader restarts when its source changed, stops when disabled."""
        old = self.entries.get(entry.camera_id)
        self.entries[entry.camera_id] = entry
        reader = self.readers.get(entry.camera_id)
        wanted = entry.enabled and bool(entry.url.strip()) and self.started
        if reader is not None and (not wanted or reader.url != entry.url):
            self.readers.pop(entry.camera_id, None)
            await self._stop_reader(entry.camera_id, reader)
            reader = None
        if wanted and reader is None:
            reader = CameraReader(
                entry.camera_id, entry.url, on_status=self._reader_status, **self.options.reader_kwargs()
            )
            if self.sink_factory is not None:
                sink = self.sink_factory(reader)
                if sink is not None:
                    self.sinks[entry.camera_id] = sink
                    reader.add_sink(sink)
            self.readers[entry.camera_id] = reader
            reader.start()
        elif notify and (old is None or old.enabled != entry.enabled or old.url != entry.url):
            self._emit(entry.camera_id)

    async def remove(self, camera_id: int) -> None:
        self.entries.pop(camera_id, None)
        reader = self.readers.pop(camera_id, None)
        if reader is not None:
            await self._stop_reader(camera_id, reader)

    def _reader_status(self, reader: CameraReader) -> None:
        if self.readers.get(reader.camera_id) is reader:
            self._emit(reader.camera_id)

    def _emit(self, camera_id: int) -> None:
        if self.on_status is None:
            return
        entry = self.entries.get(camera_id)
        try:
            self.on_status(camera_id, self.status(camera_id), entry.meta if entry else {})
        except Exception:
            log.exception("status push of camera %s", camera_id)


async def load_entries(session_factory: async_sessionmaker[AsyncSession]) -> list[CameraEntry]:
    """Every camera of the registry as a pool entry (with its jurisdiction codes for status pushes)."""
    from dispatch.models import Jurisdiction
    from stream.models import Camera

    async with session_factory() as session:
        rows = await session.execute(
            select(Camera, Jurisdiction.path).outerjoin(Jurisdiction, Camera.grid_code == Jurisdiction.code)
        )
        return [entry_of(camera, path) for camera, path in rows]


def entry_of(camera: Any, jurisdiction_path: str | None) -> CameraEntry:
    codes = [c for c in (jurisdiction_path or "").strip("/").split("/") if c]
    names = ("county_code", "town_code", "village_code", "grid_code")
    meta: dict[str, Any] = {"name": camera.name, **dict(zip(names, codes, strict=False))}
    return CameraEntry(camera.id, camera.source_url or "", bool(getattr(camera, "enabled", True)), meta)


def open_source(url: str, *, camera_id: int = 0, options: StreamOptions | None = None) -> CameraReader:
    """A started reader of ``url`` outside the pool (call from the event loop; ``await reader.stop()``
    when done, or use it as ``async with open_source(url) as reader``)."""
    reader = CameraReader(camera_id, url, **(options or StreamOptions()).reader_kwargs())
    reader.start()
    return reader


def footage_path() -> Path:
    """The bundled demo clip (OpenCV's vtest, H.264)."""
    return Path(__file__).resolve().parent / "footage" / "vtest.mp4"
