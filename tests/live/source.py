"""A camera reader for the live-view tests until stream/'s own lands: a local H.264 file looped at its rate.

It keeps the C4 shape that the live view uses (``status()``, ``packets()`` from the cached GOP,
``frames(fps)``, ``latest_frame()``): PyAV demuxes the file, ``h264_mp4toannexb`` turns it into Annex-B
with SPS/PPS before each keyframe, and every subscriber starts at the current GOP's keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import av.bitstream

from stream.frames import Frame

FOOTAGE = Path(__file__).resolve().parents[2] / "stream" / "footage" / "vtest.mp4"


class FileReader:
    def __init__(self, camera_id: int, path: Path = FOOTAGE, *, state: str = "online") -> None:
        self.camera_id = camera_id
        self.path = path
        self.state = state
        self.reason = ""
        self._gop: list[av.Packet] = []
        self._subscribers: set[asyncio.Queue[av.Packet | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._latest: Frame | None = None
        self._frames_wanted = 0
        self._frame_event = asyncio.Event()
        self.fps = 0.0
        self._decoding = False

    # the C4 surface
    def status(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "fps": self.fps, "codec": "h264"}

    async def packets(self) -> AsyncIterator[av.Packet]:
        queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(maxsize=256)
        for packet in self._gop:
            queue.put_nowait(packet)
        self._subscribers.add(queue)
        try:
            while (packet := await queue.get()) is not None:
                yield packet
        finally:
            self._subscribers.discard(queue)

    async def frames(self, fps: float) -> AsyncIterator[Frame]:
        self._frames_wanted += 1
        try:
            last = -1
            period = 1.0 / fps
            while True:
                await self._frame_event.wait()
                frame = self._latest
                if frame is not None and frame.index != last:
                    last = frame.index
                    yield frame
                    await asyncio.sleep(period)
                else:
                    self._frame_event.clear()
        finally:
            self._frames_wanted -= 1

    def latest_frame(self) -> Frame | None:
        return self._latest

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    # running
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    async def _run(self) -> None:
        decoder = av.CodecContext.create("h264", "r")
        index = 0
        started = time.monotonic()
        played = 0.0
        while True:
            container = av.open(str(self.path))
            stream = container.streams.video[0]
            bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
            t0 = None
            for raw in container.demux(stream):
                for packet in bsf.filter(raw):
                    if packet.pts is None:
                        continue
                    at = float(packet.pts * packet.time_base)
                    t0 = at if t0 is None else t0
                    delay = started + played + (at - t0) - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    if packet.is_keyframe:
                        self._gop = []
                    self._gop.append(packet)
                    for queue in list(self._subscribers):
                        try:
                            queue.put_nowait(packet)
                        except asyncio.QueueFull:
                            self._subscribers.discard(queue)
                    self._decoding = bool(self._frames_wanted) and (self._decoding or packet.is_keyframe)
                    if self._decoding:
                        for decoded in decoder.decode(packet):
                            image = decoded.to_ndarray(format="bgr24")
                            image.flags.writeable = False
                            self._latest = Frame(self.camera_id, index, time.time(), image)
                            index += 1
                            self._frame_event.set()
                    self.fps = float(stream.average_rate or 0)
            played += float(container.duration or 0) / 1e6
            container.close()


class FilePool:
    """``app.state.streams`` for the tests: one FileReader per camera id, started on first use."""

    def __init__(self, *, no_source: set[int] = frozenset(), **kw: Any) -> None:  # type: ignore[assignment]
        self.readers: dict[int, FileReader] = {}
        self.no_source = no_source
        self.kw = kw

    def status(self, camera_id: int) -> dict[str, Any]:
        if camera_id in self.no_source:
            return {"state": "no_source", "reason": None}
        return self.get(camera_id).status()

    def get(self, camera_id: int) -> FileReader:
        if camera_id in self.no_source:
            raise KeyError(camera_id)
        reader = self.readers.get(camera_id)
        if reader is None:
            reader = self.readers[camera_id] = FileReader(camera_id, **self.kw)
            asyncio.get_running_loop().create_task(reader.start())
        return reader

    async def stop(self) -> None:
        for reader in self.readers.values():
            await reader.stop()
