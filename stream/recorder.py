"""Continuous recording of one camera: its packets remuxed (never re-encoded) into MP4 segments.

A :class:`Recorder` is a sink of the camera's reader: it runs in the reader thread, so recording costs
no event-loop time and no decoding. Each segment starts at a keyframe and lasts about ``segment_s``.
Segments are fragmented MP4 (``frag_keyframe+empty_moov+default_base_moof``): playable by a browser's
``<video>``, readable while being written, and intact up to the last fragment if the hub dies.

Files (the recordings index is the directory itself, see recordings.py)::

    <root>/<camera_id>/<YYYY-MM-DD>/<start_ms>.part.mp4          the segment being written
    <root>/<camera_id>/<YYYY-MM-DD>/<start_ms>-<end_ms>.mp4      a finished segment
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from stream.reader import VideoInfo

log = logging.getLogger("gridhub.stream.recorder")

RECORDABLE = ("h264", "hevc")
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


def segment_dir(root: Path, camera_id: int, ts: float) -> Path:
    return root / str(camera_id) / datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


class Recorder:
    """Writes one camera's segments; ``on_packet``/``on_disconnect`` are called from its reader thread."""

    def __init__(self, camera_id: int, root: Path, *, segment_s: float = 30.0) -> None:
        self.camera_id = camera_id
        self.root = root
        self.segment_s = segment_s
        self._out: Any = None
        self._stream: Any = None
        self._path: Path | None = None
        self._start_ts = 0.0
        self._last_ts = 0.0
        self._pts0 = 0
        self._last_dts: int | None = None
        self._tb: Fraction | None = None
        self.segments_written = 0
        self.skipped: str | None = None
        self.failed = 0
        #: The reader thread writes; the hub may close the segment from another thread at shutdown.
        self._lock = threading.Lock()

    def on_packet(self, packet: av.Packet, info: VideoInfo, received: float) -> None:
        with self._lock:
            self._write(packet, info, received)

    def _write(self, packet: av.Packet, info: VideoInfo, received: float) -> None:
        if info.codec not in RECORDABLE:
            self.skipped = f"codec {info.codec} is not recorded (H.264/H.265 only)"
            return
        key = packet.is_keyframe
        if self._out is None:
            if not key:
                return
            self._open(info, received)
        elif key and self._media_age(packet, info) >= self.segment_s - 0.05:
            self._close()
            self._open(info, received)
        pts = packet.pts
        dts = packet.dts if packet.dts is not None else pts
        if pts is None or dts is None:
            return
        if self._last_dts is None:
            self._pts0 = dts
        rel_dts, rel_pts = dts - self._pts0, pts - self._pts0
        if rel_pts < 0 or (self._last_dts is not None and rel_dts <= self._last_dts):
            return  # timestamps went backwards (a source's glitch): drop rather than corrupt the file
        copy = av.Packet(bytes(packet))
        copy.pts, copy.dts = rel_pts, rel_dts
        copy.time_base = info.time_base
        copy.is_keyframe = key
        copy.stream = self._stream
        try:
            self._out.mux(copy)
            self._last_dts = rel_dts
            self._last_ts = received
        except av.FFmpegError as exc:
            self.failed += 1
            log.warning("camera %s: recording error %s; starting a new segment", self.camera_id, exc)
            self._close()

    def _media_age(self, packet: av.Packet, info: VideoInfo) -> float:
        """Seconds of media in the current segment up to ``packet`` (its timestamps, not arrival times)."""
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is None or self._last_dts is None:
            return 0.0
        return float((dts - self._pts0) * info.time_base)

    def on_disconnect(self) -> None:
        with self._lock:
            self._close()

    def _open(self, info: VideoInfo, ts: float) -> None:
        folder = segment_dir(self.root, self.camera_id, ts)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{int(ts * 1000)}.part.mp4"
        try:
            out = av.open(str(path), "w", format="mp4", options={"movflags": MOVFLAGS})
            stream = out.add_mux_stream(info.codec, width=info.width or None, height=info.height or None)
            stream.time_base = info.time_base
        except (av.FFmpegError, OSError, ValueError) as exc:
            self.failed += 1
            log.warning("camera %s: cannot start a segment: %s", self.camera_id, exc)
            return
        self._out, self._stream, self._path = out, stream, path
        self._start_ts = self._last_ts = ts
        self._last_dts = None

    def _close(self) -> None:
        out, path = self._out, self._path
        self._out = self._stream = self._path = None
        if out is None or path is None:
            return
        try:
            out.close()
        except (av.FFmpegError, OSError) as exc:
            log.warning("camera %s: closing a segment: %s", self.camera_id, exc)
        if self._last_dts is None:  # nothing written
            path.unlink(missing_ok=True)
            return
        end = max(self._last_ts, self._start_ts + 0.001)
        final = path.with_name(f"{int(self._start_ts * 1000)}-{int(end * 1000)}.mp4")
        try:
            path.rename(final)
            self.segments_written += 1
        except OSError as exc:
            log.warning("camera %s: finishing a segment: %s", self.camera_id, exc)
