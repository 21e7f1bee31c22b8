"""Runs the detection loops of the cameras this process holds (inside ``gridhub serve`` or a worker).

Every ``tick_s`` the runner re-reads the rules when they changed, asks its assigner which cameras it
may run (all, or its Redis leases) and starts or stops per-camera loops. A camera loop that ends (the
camera dropped) or fails restarts with back-off; the other cameras go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.taxonomy import Taxonomy
from stream.frames import Frame
from vision import store
from vision.detectors import Detector, load_detector
from vision.leases import Assigner
from vision.motion import MotionGate
from vision.pipeline import CameraLoop, Stages
from vision.reporting import CameraSink, EventReporter
from vision.rules import RuleIn, RuleSet
from vision.tracking import Tracker

log = logging.getLogger("gridhub.vision")

FramesFor = Callable[[int], AsyncIterator[Frame]]


@dataclass
class VisionConfig:
    """What the hub's Settings (or a worker's) say about detection."""

    backend: str = "fastestdet"
    model: str = ""
    #: camera id → (backend, model): cameras that need another model than the worker's.
    camera_models: dict[int, tuple[str, str]] = field(default_factory=dict)
    detect_fps: float = 5.0
    motion_gating: bool = True
    tick_s: float = 1.0
    timezone: str = "Asia/Shanghai"
    config_dir: Path | None = None
    backoff_max_s: float = 30.0


class VisionRunner:
    def __init__(
        self,
        *,
        config: VisionConfig,
        session_factory: async_sessionmaker[AsyncSession],
        taxonomy: Taxonomy,
        reporter: EventReporter,
        frames_for: FramesFor,
        assigner: Assigner,
    ) -> None:
        self.config = config
        self.session_factory = session_factory
        self.taxonomy = taxonomy
        self.reporter = reporter
        self.frames_for = frames_for
        self.assigner = assigner
        self.rules: dict[int, dict[int, RuleIn]] = {}
        self.loops: dict[int, CameraLoop] = {}
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.detectors: dict[tuple[str, str], Detector] = {}
        self._stamp: Any = None
        self._task: asyncio.Task[None] | None = None
        self.processed: dict[int, int] = {}  # camera → frames processed by this process (tests, stats)
        self.skipped: dict[int, int] = {}  # camera → frames skipped while the lease was unproven

    async def start(self) -> None:
        if self.config.config_dir is not None:
            async with self.session_factory() as db_session:
                count = await store.sync_config(db_session, self.config.config_dir, self.taxonomy)
            if count:
                log.info("vision: %d rules from %s", count, self.config.config_dir / store.CONFIG_FILE)
        await self.reporter.start()
        self._task = asyncio.create_task(self._manage(), name="vision-runner")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.gather(*(self._stop_camera(c) for c in list(self.tasks)), return_exceptions=True)
        await self.assigner.close()
        await self.reporter.stop()

    async def _manage(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("vision: tick failed")
            await asyncio.sleep(self.config.tick_s)

    async def tick(self) -> set[int]:
        async with self.session_factory() as db_session:
            stamp = await store.rules_stamp(db_session)
            if stamp != self._stamp:
                self.rules = await store.rules_by_camera(db_session)
                self._stamp = stamp
                for camera_id, loop in self.loops.items():
                    specs = self.rules.get(camera_id, {})
                    loop.stages.rules.replace(specs)
                    loop.sink.rules = specs  # type: ignore[attr-defined]
        wanted = {c for c, specs in self.rules.items() if any(s.enabled for s in specs.values())}
        try:
            owned = await self.assigner.assign(wanted)
        except Exception as exc:
            log.warning("vision: camera leases unavailable (%s): stopping every camera until they are back", exc)
            owned = set()
        for camera_id in list(self.tasks):
            if camera_id not in owned:
                await self._stop_camera(camera_id)
        for camera_id in owned:
            if camera_id in self.tasks and not self.tasks[camera_id].done():
                continue
            self.tasks[camera_id] = asyncio.create_task(self._camera(camera_id), name=f"vision-camera-{camera_id}")
        return owned

    async def _stop_camera(self, camera_id: int) -> None:
        task = self.tasks.pop(camera_id, None)
        self.loops.pop(camera_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def detector(self, camera_id: int) -> Detector:
        key = self.config.camera_models.get(camera_id, (self.config.backend, self.config.model))
        if key not in self.detectors:
            self.detectors[key] = load_detector(key[0], key[1] or None)
        return self.detectors[key]

    def stages(self, camera_id: int) -> Stages:
        rules = RuleSet(self.config.timezone)
        specs = self.rules.get(camera_id, {})
        rules.replace(specs)
        return Stages(
            detector=self.detector(camera_id),
            tracker=Tracker(fps=self.config.detect_fps),
            rules=rules,
            gate=MotionGate() if self.config.motion_gating else None,
            classes=rules.classes or None,
        )

    async def _camera(self, camera_id: int) -> None:
        backoff = 0.5
        while True:
            frames: AsyncIterator[Frame] | None = None
            try:
                specs = self.rules.get(camera_id, {})
                loop = CameraLoop(self.stages(camera_id), CameraSink(self.reporter, specs))
                self.loops[camera_id] = loop
                frames = self.frames_for(camera_id)
                async for frame in frames:
                    if not self.assigner.valid(camera_id):
                        # The lease is not proven right now (renewal late or lost): skip the frame rather than
                        # risk processing the camera twice; the next tick renews it or stops this task.
                        self.skipped[camera_id] = self.skipped.get(camera_id, 0) + 1
                        continue
                    await loop.step(frame)
                    self.processed[camera_id] = self.processed.get(camera_id, 0) + 1
                    backoff = 0.5
                log.warning("vision: camera %s stopped sending frames; retrying in %.1f s", camera_id, backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("vision: camera %s failed (%s); retrying in %.1f s", camera_id, exc, backoff)
            finally:
                if frames is not None and hasattr(frames, "aclose"):
                    with contextlib.suppress(Exception):
                        await frames.aclose()  # type: ignore[attr-defined]
            await asyncio.sleep(backoff)
            backoff = min(self.config.backoff_max_s, backoff * 2)
