"""The recordings index (the segment files themselves, see recorder.py), retention, and clips.

* :meth:`RecordingStore.segments` lists a camera's segments overlapping a time range (finished ones and
  the one being written), each with its wall-clock ``start``/``end``;
* :meth:`RecordingStore.enforce` deletes segments older than the retention and, above the disk quota,
  the oldest first;
* :func:`clip` (contract C4) remuxes the segments covering ``[start, end]`` into one MP4 (no re-encode),
  starting at the keyframe at or before ``start``.

The hub calls :func:`configure` once with its recordings directory; ``clip`` uses that store.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av

#: How long an empty day folder is kept before retention removes it (a recorder opening a segment makes the
#: folder a moment before the file).
EMPTY_DAY_GRACE_S = 300.0

_FINISHED = re.compile(r"^(\d{10,16})-(\d{10,16})\.mp4$")
_PART = re.compile(r"^(\d{10,16})\.part\.mp4$")


class NoRecording(LookupError):
    """Nothing recorded for that camera and time."""


@dataclass(frozen=True, slots=True)
class Segment:
    camera_id: int
    start: float
    end: float
    path: Path
    complete: bool

    @property
    def name(self) -> str:
        return self.path.name


def _as_ts(value: float | datetime) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


class RecordingStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def camera_dir(self, camera_id: int) -> Path:
        return self.root / str(int(camera_id))

    def segments(self, camera_id: int, start: float | datetime, end: float | datetime) -> list[Segment]:
        """Segments of the camera that overlap ``[start, end]``, oldest first."""
        lo, hi = _as_ts(start), _as_ts(end)
        base = self.camera_dir(camera_id)
        if not base.is_dir():
            return []
        out: list[Segment] = []
        now = time.time()
        for day in sorted(base.iterdir()):
            if not day.is_dir() or not _day_overlaps(day.name, lo, hi):
                continue
            for path in day.iterdir():
                seg = _parse(camera_id, path, now)
                if seg is not None and seg.end >= lo and seg.start <= hi:
                    out.append(seg)
        out.sort(key=lambda s: s.start)
        return out

    def find(self, camera_id: int, name: str) -> Segment | None:
        """The segment file called ``name`` (a name from ``segments``), or None."""
        if not (_FINISHED.match(name) or _PART.match(name)):
            return None
        base = self.camera_dir(camera_id)
        if not base.is_dir():
            return None
        for day in base.iterdir():
            path = day / name
            if path.is_file():
                return _parse(camera_id, path, time.time())
        return None

    def enforce(self, *, max_age_s: float, quota_bytes: int) -> int:
        """Delete finished segments older than ``max_age_s``, then the oldest above ``quota_bytes``."""
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - max_age_s
        files: list[tuple[float, int, Path]] = []
        removed = 0
        for path in self.root.glob("*/*/*.mp4"):
            m = _FINISHED.match(path.name)
            if m is None:
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            end = int(m[2]) / 1000
            if end < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
            else:
                files.append((end, size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= quota_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        # empty day folders go, but not one a recorder has just made for the segment it is opening (the file
        # appears with the first packet): a folder must have stood empty for a while
        for day in self.root.glob("*/*"):
            try:
                if day.is_dir() and not any(day.iterdir()) and time.time() - day.stat().st_mtime > EMPTY_DAY_GRACE_S:
                    day.rmdir()
            except OSError:  # filled or removed meanwhile
                continue
        return removed

    def write_clip(self, camera_id: int, start: float, end: float, out: Path) -> Path:
        """Blocking: remux ``[start, end]`` of the camera into ``out`` (MP4, faststart), from the keyframe at
        or before ``start`` (or the first one after it)."""
        segments = self.segments(camera_id, start, end)
        if not segments:
            raise NoRecording(f"camera {camera_id} has no recording between {start:.0f} and {end:.0f}")
        begin = _keyframe_before(segments[0], start)
        out_tb = Fraction(1, 90000)
        written = 0
        with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as dst:
            ostream = None
            t0: float | None = None
            last_dts = -1
            for seg in segments:
                try:
                    src = av.open(str(seg.path))
                except (av.FFmpegError, OSError):
                    continue
                with src:
                    if not src.streams.video:
                        continue
                    vs = src.streams.video[0]
                    tb = vs.time_base
                    if ostream is None:
                        ostream = dst.add_stream_from_template(vs)
                        ostream.time_base = out_tb
                    for packet in src.demux(vs):
                        if packet.dts is None or packet.pts is None:
                            continue
                        t = seg.start + float(packet.dts * tb)
                        if t > end:
                            break
                        if t < begin - 1e-3 or (written == 0 and not packet.is_keyframe):
                            continue
                        if t0 is None:
                            t0 = t
                        dts = round((t - t0) / out_tb)
                        if dts <= last_dts:
                            continue
                        pts = dts + round(float((packet.pts - packet.dts) * tb) / out_tb)
                        packet.dts, packet.pts, packet.time_base = dts, pts, out_tb
                        packet.stream = ostream
                        dst.mux(packet)
                        last_dts = dts
                        written += 1
        if written == 0:
            out.unlink(missing_ok=True)
            raise NoRecording(f"camera {camera_id} has no picture between {start:.0f} and {end:.0f}")
        return out


def _keyframe_before(seg: Segment, at: float) -> float:
    """Wall time of the segment's last keyframe at or before ``at`` (its start when ``at`` precedes it)."""
    best = seg.start
    try:
        with av.open(str(seg.path)) as src:
            vs = src.streams.video[0]
            for packet in src.demux(vs):
                if packet.dts is None:
                    continue
                t = seg.start + float(packet.dts * vs.time_base)
                if t > at:
                    break
                if packet.is_keyframe:
                    best = t
    except (av.FFmpegError, OSError, IndexError):
        return seg.start
    return best


def _day_overlaps(day: str, lo: float, hi: float) -> bool:
    try:
        start = datetime.strptime(day, "%Y-%m-%d").timestamp()
    except ValueError:
        return False
    # folders are UTC days; timestamp() above read them as local: allow a day of slack either side
    return start - 2 * 86400 <= hi and start + 2 * 86400 >= lo


def _parse(camera_id: int, path: Path, now: float) -> Segment | None:
    m = _FINISHED.match(path.name)
    if m is not None:
        return Segment(camera_id, int(m[1]) / 1000, int(m[2]) / 1000, path, True)
    m = _PART.match(path.name)
    if m is not None:
        try:
            end = min(now, path.stat().st_mtime)
        except FileNotFoundError:
            return None
        return Segment(camera_id, int(m[1]) / 1000, max(end, int(m[1]) / 1000), path, False)
    return None


_store: RecordingStore | None = None


def configure(root: Path) -> RecordingStore:
    """Set the hub's store (called by the hub at start); ``clip`` reads from it."""
    global _store
    _store = RecordingStore(root)
    return _store


def store() -> RecordingStore | None:
    return _store


async def clip(camera_id: int, start: float | datetime, end: float | datetime) -> Path:
    """An MP4 of the camera between ``start`` and ``end`` remuxed from its segments (contract C4).

    The file is new (in a temporary directory): the caller moves or deletes it. Raises NoRecording where
    nothing covers the time, and RuntimeError where this process records nothing.
    """
    if _store is None:
        raise RuntimeError("recording is not configured in this process")
    lo, hi = _as_ts(start), _as_ts(end)
    if hi <= lo:
        raise ValueError("end must be after start")
    folder = Path(tempfile.mkdtemp(prefix="gridhub-clip-"))
    out = folder / f"camera{camera_id}-{int(lo)}-{int(hi)}.mp4"
    return await asyncio.to_thread(_store.write_clip, camera_id, lo, hi, out)
