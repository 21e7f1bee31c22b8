"""Frames of the bundled footage (stream/footage/vtest.mp4: pedestrians, 768×576, 10 fps) for vision tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from stream.frames import Frame

FOOTAGE = Path(__file__).resolve().parents[2] / "stream" / "footage" / "vtest.mp4"
FOOTAGE_FPS = 10.0


@lru_cache(maxsize=1)
def decoded(limit: int = 300) -> tuple[np.ndarray, ...]:
    """Every frame of the clip (decoded once per test session), read-only like a reader's frames."""
    cap = cv2.VideoCapture(str(FOOTAGE))
    frames = []
    while len(frames) < limit:
        ok, image = cap.read()
        if not ok:
            break
        image.flags.writeable = False
        frames.append(image)
    cap.release()
    assert frames, f"could not decode {FOOTAGE}"
    return tuple(frames)


def frames(camera_id: int, *, fps: float = 5.0, start_ts: float = 1_800_000_000.0, limit: int = 300) -> Iterator[Frame]:
    """The clip at ``fps`` (every n-th frame), timestamps in footage time from ``start_ts``."""
    step = max(1, round(FOOTAGE_FPS / fps))
    for index, image in enumerate(decoded()[:limit]):
        if index % step == 0:
            yield Frame(camera_id=camera_id, index=index, ts=start_ts + index / FOOTAGE_FPS, image=image)


async def aframes(camera_id: int, **kw: object) -> AsyncIterator[Frame]:
    for frame in frames(camera_id, **kw):  # type: ignore[arg-type]
        yield frame
