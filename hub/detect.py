"""``gridhub detect SOURCE`` and the frame sources of ``gridhub worker vision``.

SOURCE is an image file, a video file, a stream URL or a camera id. Images and video files are decoded
here (every frame, then the command ends); stream URLs and cameras go through stream/'s ad-hoc reader
(``open_source``, contract C4) at ``--fps``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from stream.frames import Frame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def is_url(source: str) -> bool:
    return "://" in source


async def file_frames(
    path: Path, camera_id: int = 0, *, fps: float | None = None, loop: bool = False, realtime: bool = False
) -> AsyncIterator[Frame]:
    """Frames of a video file (PyAV), optionally thinned to ``fps``, paced in real time and looped."""
    import av

    def decode() -> list[tuple[float, np.ndarray]]:
        out = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else len(out) / 25.0
                out.append((t, frame.to_ndarray(format="bgr24")))
        return out

    try:
        decoded = await asyncio.to_thread(decode)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable video ({exc})") from None
    index = 0
    started = time.time()
    offset = 0.0
    while True:
        next_t = -1.0
        for t, image in decoded:
            if fps and t < next_t:
                continue
            next_t = t + 1.0 / fps if fps else t
            if realtime:
                await asyncio.sleep(max(0.0, started + offset + t - time.time()))
            image.flags.writeable = False
            yield Frame(camera_id=camera_id, index=index, ts=(started + offset + t) if realtime else t, image=image)
            index += 1
        if not loop or not decoded:
            return
        offset += decoded[-1][0] + 0.1


async def reader_frames(url: str, camera_id: int, fps: float) -> AsyncIterator[Frame]:
    """Frames of a stream through stream/'s reader (never opened here)."""
    from stream.pool import open_source

    reader = open_source(url, camera_id=camera_id)
    try:
        async for frame in reader.frames(fps):
            yield frame
    finally:
        await reader.stop()


async def camera_url(settings: Any, camera_id: int) -> str:
    from hub.db import create_engine, create_session_factory
    from stream.models import Camera

    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session:
            camera = await session.get(Camera, camera_id)
    finally:
        await engine.dispose()
    if camera is None:
        raise ValueError(f"camera {camera_id} not found")
    if not camera.source_url:
        raise ValueError(f"camera {camera_id} has no source URL")
    return camera.source_url


async def detect(
    source: str,
    *,
    backend: str,
    model: str | None,
    fps: float,
    max_frames: int | None,
    min_score: float | None,
    settings: Any,
    out: TextIO = sys.stdout,
) -> int:
    """Print one JSON line per frame; returns the number of frames."""
    from vision.detectors import load_detector

    detector = load_detector(backend, model)
    path = Path(source)
    if not is_url(source) and path.suffix.lower() in IMAGE_SUFFIXES:
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: not a readable image")
        frames: AsyncIterator[Frame] = _one(Frame(0, 0, time.time(), image))
    elif source.isdigit():
        frames = reader_frames(await camera_url(settings, int(source)), int(source), fps)
    elif is_url(source):
        frames = reader_frames(source, 0, fps)
    elif path.is_file():
        frames = file_frames(path)
    else:
        raise ValueError(f"{source}: no such file, URL or camera id")
    count = 0
    async for frame in frames:
        found = await asyncio.to_thread(detector.detect, frame.image, min_score=min_score)
        line = {"frame": frame.index, "ts": round(frame.ts, 3), "detections": [d.as_json() for d in found]}
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        out.flush()
        count += 1
        if max_frames is not None and count >= max_frames:
            break
    return count


async def _one(frame: Frame) -> AsyncIterator[Frame]:
    yield frame
