"""MJPEG fallback: the live picture as JPEGs, for when WebRTC cannot play, over HTTP
(``multipart/x-mixed-replace``) or as binary WebSocket messages (a browser opens only six HTTP/1.1
connections per host, so a wall of 16 needs the WebSocket).

Each (camera, fps, quality) has at most one :class:`JpegFeed`: it takes decoded frames from the
camera's shared reader at that rate, encodes each once (in a worker thread) and hands the latest JPEG
to every viewer of that feed. A slow viewer skips to the newest picture; the feed stops, and with it the
decoding it asked for, when its last viewer leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import cv2
import numpy as np

from stream.frames import Frame

log = logging.getLogger("gridhub.live")

BOUNDARY = "gridhubframe"
CONTENT_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
    return head + jpeg + b"\r\n"


class JpegFeed:
    """One encoder for all viewers of a camera at one rate and quality."""

    def __init__(self, frames: AsyncIterator[Frame], quality: int, latest: Frame | None = None) -> None:
        self._frames = frames
        self.quality = quality
        self.viewers = 0
        self.jpeg: bytes | None = None
        self.seq = 0
        self.ended = False
        self._changed = asyncio.Condition()
        self._seed = latest
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _publish(self, frame: Frame) -> None:
        jpeg = await asyncio.to_thread(encode_jpeg, frame.image, self.quality)
        async with self._changed:
            self.jpeg, self.seq = jpeg, self.seq + 1
            self._changed.notify_all()

    async def _run(self) -> None:
        try:
            if self._seed is not None:  # the first picture at once, not after the next decoded frame
                await self._publish(self._seed)
            async with contextlib.aclosing(self._frames) as frames:  # type: ignore[type-var]
                async for frame in frames:
                    await self._publish(frame)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("MJPEG feed failed")
        finally:
            async with self._changed:
                self.ended = True
                self._changed.notify_all()

    async def pictures(self) -> AsyncIterator[bytes]:
        """Each new JPEG once; skips those a slow viewer missed. Ends when the source ends."""
        seen = 0
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda seen=seen: self.seq != seen or self.ended)
                if self.seq == seen:
                    return
                seen, jpeg = self.seq, self.jpeg
            assert jpeg is not None
            yield jpeg

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class MjpegFeeds:
    """The JPEG feeds of one hub, shared per (camera, fps, quality), with a cap of viewers per camera."""

    def __init__(self, *, max_per_camera: int = 32) -> None:
        self.max_per_camera = max_per_camera
        self.feeds: dict[tuple[int, int, int], JpegFeed] = {}

    def count(self, camera_id: int) -> int:
        return sum(f.viewers for (c, _, _), f in self.feeds.items() if c == camera_id)

    def full(self, camera_id: int) -> bool:
        return self.count(camera_id) >= self.max_per_camera

    async def stream(
        self, camera_id: int, fps: int, quality: int, open_frames: Callable[[], AsyncIterator[Frame]], latest: Any
    ) -> AsyncIterator[bytes]:
        """multipart parts for one viewer (HTTP)."""
        async with contextlib.aclosing(self.pictures(camera_id, fps, quality, open_frames, latest)) as pictures:
            async for jpeg in pictures:
                yield part(jpeg)

    async def pictures(
        self, camera_id: int, fps: int, quality: int, open_frames: Callable[[], AsyncIterator[Frame]], latest: Any
    ) -> AsyncIterator[bytes]:
        """JPEGs for one viewer; join (or start) the shared feed, leave it on exit."""
        key = (camera_id, fps, quality)
        feed = self.feeds.get(key)
        if feed is None or feed.ended:
            feed = self.feeds[key] = JpegFeed(open_frames(), quality, latest)
        feed.viewers += 1
        try:
            async for jpeg in feed.pictures():
                yield jpeg
        finally:
            feed.viewers -= 1
            if feed.viewers == 0 and self.feeds.get(key) is feed:
                del self.feeds[key]
                await feed.stop()

    async def stop(self) -> None:
        for feed in list(self.feeds.values()):
            await feed.stop()
        self.feeds.clear()

    def stats(self) -> dict[str, Any]:
        return {"feeds": len(self.feeds), "viewers": sum(f.viewers for f in self.feeds.values())}
