"""Composes detection: the vision runner of this process, wired to the bus, the outbox relay and the readers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.taxonomy import Taxonomy
from hub.settings import Settings
from stream.frames import Frame
from vision.leases import Assigner, LocalAssigner, RedisLeases
from vision.reporting import ClipFn, EventReporter, Publish
from vision.runner import FramesFor, VisionConfig, VisionRunner


def vision_config(settings: Settings) -> VisionConfig:
    return VisionConfig(
        backend=settings.vision_backend,
        model=settings.vision_model,
        camera_models=dict(settings.vision_camera_models),
        detect_fps=settings.vision_detect_fps,
        motion_gating=settings.vision_motion_gating,
        tick_s=min(1.0, settings.vision_lease_ttl_s / 3),
        timezone=settings.timezone,
        config_dir=settings.config_dir,
    )


def assigner_for(settings: Settings, worker_id: str | None = None) -> Assigner:
    if settings.redis_url:
        return RedisLeases(settings.redis_url, worker_id=worker_id, ttl_s=settings.vision_lease_ttl_s)
    return LocalAssigner()


def clip_function() -> ClipFn | None:
    """The recorder's ``clip(camera_id, start, end)`` (contract C4) where this install has it."""
    try:
        from stream.recordings import clip  # type: ignore[import-not-found]
    except ImportError:
        return None
    return clip  # type: ignore[no-any-return]


def pool_frames(get_pool: Callable[[], Any], fps: float) -> FramesFor:
    """Frames of the hub's shared reader of a camera (``app.state.streams``)."""

    async def frames(camera_id: int) -> AsyncIterator[Frame]:
        pool = get_pool()
        if pool is None:
            raise RuntimeError("camera readers are not running in this process")
        async for frame in pool.get(camera_id).frames(fps):
            yield frame

    return frames


def build_runner(
    settings: Settings,
    *,
    session_factory: async_sessionmaker[AsyncSession],
    taxonomy: Taxonomy,
    publish: Publish,
    notify: Callable[[], None],
    frames_for: FramesFor,
    worker_id: str | None = None,
) -> VisionRunner:
    assigner = assigner_for(settings, worker_id)
    reporter = EventReporter(
        session_factory=session_factory,
        taxonomy=taxonomy,
        data_dir=settings.data_dir,
        publish=publish,
        notify=notify,
        clip=clip_function(),
        worker=assigner.worker_id,
        zone=ZoneInfo(settings.timezone),
    )
    return VisionRunner(
        config=vision_config(settings),
        session_factory=session_factory,
        taxonomy=taxonomy,
        reporter=reporter,
        frames_for=frames_for,
        assigner=assigner,
    )
