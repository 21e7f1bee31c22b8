"""The per-camera detection loop (Frigate-style): frames → motion gate → detector → tracker → rules → sink.

``run_camera`` is a plain coroutine over any async iterator of ``stream.frames.Frame`` and the stages it is
given, so it runs the same on a camera reader (``CameraReader.frames(fps)``), on a file decoded for
``gridhub detect`` and in tests on the bundled footage. It never opens a camera itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from stream.frames import Frame
from vision.detectors.base import Detection, Detector, FrameError, as_bgr
from vision.motion import MotionGate, region_of
from vision.rules import Firing, RuleSet
from vision.tracking import Track, Tracker

log = logging.getLogger("gridhub.vision")


class Sink(Protocol):
    """Where a camera's results go: every detection frame, and every rule that fired."""

    async def detections(self, frame: Frame, detections: list[Detection], tracks: list[Track]) -> None: ...

    async def fired(self, frame: Frame, firing: Firing, tracks: list[Track]) -> None: ...


@dataclass
class Stages:
    """What one camera's loop is made of. ``recheck_s``: how often tracked objects that stopped moving are
    looked at again (so a person standing still keeps being tracked and its dwell time grows)."""

    detector: Detector
    tracker: Tracker
    rules: RuleSet
    gate: MotionGate | None = None
    classes: frozenset[str] | None = None
    recheck_s: float = 1.0


@dataclass
class CameraStats:
    frames: int = 0
    detected: int = 0
    gated: int = 0
    bad_frames: int = 0
    firings: int = 0
    detect_s: float = 0.0
    last_error: str | None = None
    tracks: list[Track] = field(default_factory=list)


def detect_region(detector: Detector, image: np.ndarray, region: tuple[float, float, float, float]) -> list[Detection]:
    """Detections in ``region`` of the image, boxes in full-frame pixels."""
    x1, y1, x2, y2 = (round(v) for v in region)
    height, width = image.shape[:2]
    if (x1, y1, x2, y2) == (0, 0, width, height):
        return detector.detect(image)
    found = detector.detect(image[y1:y2, x1:x2])
    return [
        Detection(d.label, d.score, (d.box[0] + x1, d.box[1] + y1, d.box[2] + x1, d.box[3] + y1), d.class_id)
        for d in found
    ]


class CameraLoop:
    """The state of one camera between frames; ``step`` handles one frame."""

    def __init__(self, stages: Stages, sink: Sink) -> None:
        self.stages = stages
        self.sink = sink
        self.stats = CameraStats()
        self.last_detect_ts = float("-inf")
        self._warned: set[str] = set()

    async def step(self, frame: Frame) -> list[Firing]:
        s, stats = self.stages, self.stats
        stats.frames += 1
        try:
            image = as_bgr(frame.image)
        except FrameError as exc:
            stats.bad_frames += 1
            stats.last_error = str(exc)
            if str(exc) not in self._warned:  # once per kind of problem, not once per frame
                self._warned.add(str(exc))
                log.warning("camera %s: frame %s skipped: %s", frame.camera_id, frame.index, exc)
            return []
        height, width = image.shape[:2]
        region: tuple[float, float, float, float] = (0.0, 0.0, float(width), float(height))
        if s.gate is not None:
            motion = s.gate.update(image)
            recheck = bool(stats.tracks) and frame.ts - self.last_detect_ts >= s.recheck_s
            if not motion.boxes and not recheck:
                stats.gated += 1
                # Nothing moved: the objects are where they were; rules still see them (dwell time grows).
                return await self._rules(frame, stats.tracks, width, height)
            boxes = motion.boxes + [t.box for t in stats.tracks]
            region = region_of(boxes, width, height)
        started = time.perf_counter()
        detections = await asyncio.to_thread(detect_region, s.detector, image, region)
        stats.detect_s += time.perf_counter() - started
        stats.detected += 1
        self.last_detect_ts = frame.ts
        if s.classes is not None:
            detections = [d for d in detections if d.label in s.classes]
        tracks = s.tracker.update(detections, frame.ts)
        stats.tracks = tracks
        await self.sink.detections(frame, detections, tracks)
        return await self._rules(frame, tracks, width, height)

    async def _rules(self, frame: Frame, tracks: list[Track], width: int, height: int) -> list[Firing]:
        firings = self.stages.rules.evaluate(tracks, frame.ts, width, height)
        for firing in firings:
            self.stats.firings += 1
            await self.sink.fired(frame, firing, tracks)
        return firings


async def run_camera(frames: AsyncIterator[Frame], stages: Stages, sink: Sink) -> CameraStats:
    """Run the stages over every frame until the iterator ends (camera gone) or the task is cancelled."""
    loop = CameraLoop(stages, sink)
    async for frame in frames:
        await loop.step(frame)
    return loop.stats
