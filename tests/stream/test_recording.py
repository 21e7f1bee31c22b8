"""Recording from a real RTSP camera: remuxed segments a browser can play, the index, clips, retention."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import av
import pytest

from stream.reader import CameraReader
from stream.recorder import Recorder
from stream.recordings import NoRecording, RecordingStore
from tests.streams_helpers import RtspServer


def probe(path: Path) -> tuple[int, float, tuple[int, int], bool]:
    """(decoded frames, duration s, size, first packet is a keyframe) of an MP4."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        first_key = None
        frames = 0
        last_pts = 0
        for packet in c.demux(vs):
            if packet.pts is None:
                continue
            if first_key is None:
                first_key = packet.is_keyframe
            for _ in packet.decode():
                frames += 1
            last_pts = max(last_pts, packet.pts)
        duration = float(last_pts * vs.time_base)
        return frames, duration, (vs.codec_context.width, vs.codec_context.height), bool(first_key)


@pytest.fixture(scope="module")
async def recorded(rtsp: RtspServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[RecordingStore, float, float]:
    root = tmp_path_factory.mktemp("recordings")
    reader = CameraReader(5, rtsp.url("cam2"), backoff_max_s=1.0)
    recorder = Recorder(5, root, segment_s=2.0)
    reader.add_sink(recorder)
    reader.start()
    t0 = time.time()
    await asyncio.sleep(8.5)
    await reader.stop()
    recorder.on_disconnect()
    return RecordingStore(root), t0, time.time()


async def test_segments_are_remuxed_playable_mp4(recorded) -> None:
    store, t0, t1 = recorded
    segments = store.segments(5, t0 - 10, t1 + 10)
    assert len(segments) >= 3, segments
    assert all(s.complete for s in segments)
    for a, b in itertools.pairwise(segments):
        assert a.end <= b.start + 0.05  # consecutive, not overlapping
    for seg in segments[:-1]:
        frames, duration, size, first_key = probe(seg.path)
        assert size == (768, 576) and first_key
        assert 1.5 <= seg.end - seg.start <= 3.5
        assert frames >= 15  # ~10 fps for ~2 s
        assert abs(duration - (seg.end - seg.start)) < 0.6, (duration, seg)
    assert store.segments(5, t1 + 100, t1 + 200) == []
    assert store.segments(6, t0, t1) == []


async def test_clip_is_remuxed_from_the_keyframe_before_start(recorded, tmp_path: Path) -> None:
    store, t0, t1 = recorded
    segments = store.segments(5, t0, t1)
    start = segments[0].start + 1.05  # mid-segment, after its first keyframe
    end = segments[1].end - 0.5  # across a segment boundary
    out = store.write_clip(5, start, end, tmp_path / "clip.mp4")
    frames, duration, size, first_key = probe(out)
    assert first_key and size == (768, 576)
    assert (end - start) - 0.2 <= duration <= (end - start) + 1.2, duration  # from the keyframe at/before start
    assert frames >= 10 * (end - start) - 5
    with pytest.raises(NoRecording):
        store.write_clip(5, t1 + 100, t1 + 110, tmp_path / "none.mp4")


async def test_retention_by_age_and_quota(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    now = time.time()
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    folder = tmp_path / "9" / day
    folder.mkdir(parents=True)
    files = []
    for i, age in enumerate((7200, 3000, 2000, 1000)):
        start = int((now - age) * 1000)
        path = folder / f"{start}-{start + 30_000}.mp4"
        path.write_bytes(b"x" * 1000 * (i + 1))
        files.append(path)
    part = folder / f"{int(now * 1000)}.part.mp4"
    part.write_bytes(b"x" * 5000)
    removed = store.enforce(max_age_s=3600, quota_bytes=10**9)
    assert removed == 1 and not files[0].exists() and files[1].exists()
    removed = store.enforce(max_age_s=3600, quota_bytes=7000)  # 2000+3000+4000 = 9000: oldest goes
    assert removed == 1 and not files[1].exists() and files[2].exists() and files[3].exists()
    assert part.exists()  # the segment being written is never removed
    os.utime(part)


async def test_retention_leaves_a_day_folder_a_recorder_has_just_made(tmp_path: Path) -> None:
    """A recorder opening a segment makes the day's folder a moment before the file: retention running in
    between must not remove it (the segment's first write then failed with ENOENT); a folder long empty goes."""
    store = RecordingStore(tmp_path)
    fresh = tmp_path / "3" / "2026-11-29"
    stale = tmp_path / "3" / "2026-10-01"
    fresh.mkdir(parents=True)
    stale.mkdir(parents=True)
    old = time.time() - 3600
    os.utime(stale, (old, old))
    store.enforce(max_age_s=3600, quota_bytes=10**9)
    assert fresh.is_dir() and not stale.exists()
