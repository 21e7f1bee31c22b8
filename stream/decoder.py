"""Decoding on demand: one thread per camera that turns packets into BGR frames while someone needs pixels.

The reader starts a :class:`Decoder` when the first ``frames()`` consumer (or a snapshot) arrives and
stops it when the last one leaves, so a camera nobody looks at costs no decoding. Packets come in
through a bounded queue; when decoding falls behind, the queue is dropped and decoding resumes at the
next keyframe (bounded memory, latest-frame semantics). Every H.264 frame must be decoded (P-frames
refer to earlier ones), but only the frames handed out are converted to BGR, at the rate asked.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

import av

from stream.frames import Frame

log = logging.getLogger("gridhub.stream.decoder")

_RESET = object()
_STOP = object()


class Decoder:
    """Decode packets fed from the reader thread; call ``on_frame`` (from this thread) at ``fps`` at most."""

    def __init__(
        self,
        camera_id: int,
        codec: str,
        on_frame: Callable[[Frame], None],
        on_error: Callable[[str | None], None],
        *,
        fps: float,
        max_queue: int = 240,
    ) -> None:
        self.camera_id = camera_id
        self.codec = codec
        self.on_frame = on_frame
        self.on_error = on_error
        self.fps = fps
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._need_key = False
        self._thread = threading.Thread(target=self._run, name=f"gridhub-decode-{camera_id}", daemon=True)
        self.decoded = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it drops what is queued); does not wait."""
        self._drain()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)

    def reset(self, codec: str) -> None:
        """A new connection: the next packets may use other parameters (or another codec)."""
        self._drain()
        self._put((_RESET, codec))

    def feed(self, packet: av.Packet, received: float) -> None:
        """Queue one packet (reader thread). On overflow drop everything up to the next keyframe."""
        if self._need_key:
            if not packet.is_keyframe:
                return
            self._need_key = False
        try:
            self._queue.put_nowait((packet, received))
        except queue.Full:
            self._drain()
            self._need_key = not packet.is_keyframe
            if packet.is_keyframe:
                self._put((packet, received))

    def _put(self, item: object) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(item)

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _context(self, codec: str) -> av.CodecContext | None:
        try:
            ctx = av.CodecContext.create(codec, "r")
            ctx.thread_type = "AUTO"
            ctx.thread_count = 1
            self.on_error(None)
            return ctx
        except (av.FFmpegError, ValueError) as exc:
            self.on_error(f"cannot decode codec {codec!r}: {exc}")
            return None

    def _run(self) -> None:
        ctx = self._context(self.codec)
        waiting_key = True
        last_emit = time.monotonic()
        errors = 0
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, tuple) and item[0] is _RESET:
                ctx = self._context(item[1])
                waiting_key = True
                self.decoded = 0
                continue
            packet, received = item  # type: ignore[misc]
            if ctx is None:
                continue
            if waiting_key:
                if not packet.is_keyframe:
                    continue
                waiting_key = False
            try:
                frames = ctx.decode(packet)
                errors = 0
            except av.FFmpegError as exc:
                errors += 1
                if errors in (1, 100):
                    log.info("camera %s: decode error %s", self.camera_id, exc)
                if errors >= 100:
                    self.on_error(f"undecodable data: {exc}")
                waiting_key = True
                continue
            for frame in frames:
                self.decoded += 1
                now = time.monotonic()
                interval = 1.0 / max(self.fps, 0.01)
                caught_up = self._queue.empty()
                # 0.85: frames arrive on the source's grid with jitter; a strict limit would skip every other one
                if now - last_emit < 0.85 * interval or not (caught_up or now - last_emit > 2 * interval):
                    continue
                last_emit = now
                image = frame.to_ndarray(format="bgr24")
                image.flags.writeable = False
                self.on_frame(Frame(camera_id=self.camera_id, index=self.decoded, ts=received, image=image))
