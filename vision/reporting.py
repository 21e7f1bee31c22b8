"""Candidate events: a firing becomes an event in 待受理 with its snapshot, rule and (later) clip.

Reports go through ``dispatch.service.report_event`` as the worker's service account (source
``detection``), exactly like any other report: timeline row and ``events`` outbox message in the same
transaction. The snapshot is stored through ``dispatch.media`` (contract C6); the clip around the moment
is asked of the recorder (contract C4 ``clip``) once the moment is over, and attached when it exists.
Every detection frame is published on ``detections:{camera}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch import media, service
from dispatch.errors import DomainError
from dispatch.models import Source, User
from dispatch.schemas import ReportIn
from dispatch.taxonomy import Taxonomy
from stream.frames import Frame
from stream.models import Camera
from vision.account import service_account
from vision.annotate import annotate, jpeg
from vision.detectors.base import Detection
from vision.models import VisionCandidate
from vision.rules import KIND_ZH, Firing, RuleIn
from vision.tracking import Track

log = logging.getLogger("gridhub.vision")

Publish = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
ClipFn = Callable[[int, datetime, datetime], Awaitable[Path | None]]


def detections_message(
    frame: Frame, detections: list[Detection], tracks: list[Track], worker: str | None = None
) -> dict[str, Any]:
    return {
        "camera_id": frame.camera_id,
        "worker": worker,
        "frame": frame.index,
        "ts": frame.ts,
        "width": frame.width,
        "height": frame.height,
        "detections": [d.as_json() for d in detections],
        "tracks": [t.as_json() for t in tracks],
    }


@dataclass
class Candidate:
    camera_id: int
    firing: Firing
    snapshot: bytes
    frame_ts: float


class EventReporter:
    """Reports candidates one at a time from a bounded queue (the detection loop never waits on the database)."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        taxonomy: Taxonomy,
        data_dir: Path,
        publish: Publish | None = None,
        notify: Callable[[], None] = lambda: None,
        clip: ClipFn | None = None,
        clip_before_s: float = 10.0,
        clip_after_s: float = 10.0,
        queue_size: int = 100,
        worker: str | None = None,
        zone: ZoneInfo | None = None,
    ) -> None:
        """``zone``: the site's, in which the description states when the rule fired (None: this server's)."""
        self.worker = worker
        self.zone = zone
        self.session_factory = session_factory
        self.taxonomy = taxonomy
        self.data_dir = Path(data_dir)
        self.publish = publish
        self.notify = notify
        self.clip = clip
        self.clip_before_s = clip_before_s
        self.clip_after_s = clip_after_s
        self.queue: asyncio.Queue[Candidate] = asyncio.Queue(queue_size)
        self.reported = 0
        self.dropped = 0
        self.failed = 0
        self.published = 0
        self._task: asyncio.Task[None] | None = None
        self._clips: set[asyncio.Task[None]] = set()
        self._account_id: int | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="vision-reporter")

    async def stop(self) -> None:
        for task in [self._task, *self._clips]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = None

    async def drain(self) -> None:
        """Wait until every queued candidate has been reported (tests, shutdown)."""
        await self.queue.join()

    async def publish_detections(self, frame: Frame, detections: list[Detection], tracks: list[Track]) -> None:
        if self.publish is None:
            return
        try:
            await self.publish(
                f"detections:{frame.camera_id}",
                "detections",
                detections_message(frame, detections, tracks, self.worker),
            )
            self.published += 1
        except Exception as exc:  # the bus is away: the detections of this frame are lost, the loop goes on
            log.warning("camera %s: detections not published: %s", frame.camera_id, exc)

    async def submit(self, frame: Frame, firing: Firing, tracks: list[Track], rule: RuleIn | None) -> None:
        image = await asyncio.to_thread(lambda: jpeg(annotate(frame.image, tracks, firing.tracks, rule)))
        try:
            self.queue.put_nowait(Candidate(frame.camera_id, firing, image, frame.ts))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("camera %s: candidate of rule %s dropped: queue full", frame.camera_id, firing.rule_name)

    async def _run(self) -> None:
        while True:
            candidate = await self.queue.get()
            try:
                await self.report(candidate)
            except Exception:
                self.failed += 1
                log.exception(
                    "camera %s: candidate of rule %s not reported", candidate.camera_id, candidate.firing.rule_name
                )
            finally:
                self.queue.task_done()

    async def report(self, candidate: Candidate) -> int | None:
        firing = candidate.firing
        async with self.session_factory() as db_session:
            if self._account_id is None:
                self._account_id = (await service_account(db_session)).id
            actor = await db_session.get(User, self._account_id)
            assert actor is not None
            camera = await db_session.get(Camera, candidate.camera_id)
            if camera is None:
                log.warning("camera %s is gone: candidate of rule %s dropped", candidate.camera_id, firing.rule_name)
                return None
            when = datetime.fromtimestamp(firing.ts, UTC).astimezone(self.zone)
            data = ReportIn(
                title=f"{camera.name}: {firing.rule_name}"[:200],
                description=(
                    f"视频智能发现:摄像头「{camera.name}」(#{camera.id})于 {when.strftime('%Y-%m-%d %H:%M:%S')} "
                    f"触发规则「{firing.rule_name}」({KIND_ZH.get(firing.kind, firing.kind)}):{firing.summary};"
                    f"最高置信度 {firing.score:.2f},目标编号 {[t.track_id for t in firing.tracks]}"
                )[:5000],
                category_code=firing.category_code,
                urgency=firing.urgency,
                source=Source.DETECTION,
                grid_code=camera.grid_code,
                lat=camera.lat,
                lon=camera.lon,
                address=camera.name[:200],
                camera_id=camera.id,
            )
            try:
                event = await service.report_event(
                    db_session=db_session, taxonomy=self.taxonomy, actor=actor, data=data
                )
            except DomainError as exc:
                self.failed += 1
                log.warning("camera %s: rule %s could not report: %s", camera.id, firing.rule_name, exc.message)
                return None
            event_id = event.id
            await media.store(
                db_session,
                data_dir=self.data_dir,
                event_id=event_id,
                kind="snapshot",
                content_type="image/jpeg",
                data=candidate.snapshot,
                created_by=actor.id,
            )
            db_session.add(
                VisionCandidate(
                    event_id=event_id,
                    rule_id=firing.rule_id if firing.rule_id > 0 else None,
                    rule_name=firing.rule_name,
                    camera_id=camera.id,
                    score=firing.score,
                    tracks=[t.as_json() for t in firing.tracks],
                )
            )
            await db_session.commit()
        self.reported += 1
        self.notify()
        if self.clip is not None:
            task = asyncio.create_task(self._attach_clip(event_id, candidate.camera_id, firing.ts, actor.id))
            self._clips.add(task)
            task.add_done_callback(self._clips.discard)
        return event_id

    async def _attach_clip(self, event_id: int, camera_id: int, ts: float, actor_id: int) -> None:
        """Once the moment is over, ask the recorder for the clip around it; attach it when it has one."""
        assert self.clip is not None
        await asyncio.sleep(max(0.0, ts + self.clip_after_s - time.time()) + 1.0)
        start = datetime.fromtimestamp(ts - self.clip_before_s, UTC)
        end = datetime.fromtimestamp(ts + self.clip_after_s, UTC)
        try:
            path = await self.clip(camera_id, start, end)
        except Exception as exc:  # no recording for that time: the event keeps its snapshot only
            log.info("camera %s: no clip for event %s: %s", camera_id, event_id, exc)
            return
        if path is None or not Path(path).is_file():
            return
        try:
            async with self.session_factory() as db_session:
                await media.store(
                    db_session,
                    data_dir=self.data_dir,
                    event_id=event_id,
                    kind="clip",
                    content_type="video/mp4",
                    source=Path(path),
                    created_by=actor_id,
                )
                await db_session.commit()
        finally:  # the recorder hands over a new file in a temporary folder: ours to delete
            Path(path).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                Path(path).parent.rmdir()
        self.notify()


class CameraSink:
    """The sink of one camera's loop: detection frames to the bus, firings to the reporter."""

    def __init__(self, reporter: EventReporter, rules: dict[int, RuleIn] | None = None) -> None:
        self.reporter = reporter
        self.rules = rules if rules is not None else {}

    async def detections(self, frame: Frame, detections: list[Detection], tracks: list[Track]) -> None:
        await self.reporter.publish_detections(frame, detections, tracks)

    async def fired(self, frame: Frame, firing: Firing, tracks: list[Track]) -> None:
        await self.reporter.submit(frame, firing, tracks, self.rules.get(firing.rule_id))
