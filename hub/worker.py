"""``gridhub worker vision``: a detection worker taking cameras from the shared pool (Redis leases).

It needs PostgreSQL (or the hub's database) and Redis: candidate events are written through the dispatch
service (their outbox rows are relayed by the hubs), detection frames are published on the Redis bus.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import uuid
from collections.abc import AsyncIterator

from hub.settings import Settings
from stream.frames import Frame

log = logging.getLogger("gridhub.worker")


async def run_vision_worker(settings: Settings, *, worker_id: str | None = None) -> None:
    from dispatch.taxonomy import load_taxonomy
    from hub.db import create_engine, create_session_factory
    from hub.detect import camera_url, reader_frames
    from hub.realtime.bus_redis import RedisBus
    from hub.vision import build_runner

    if not settings.redis_url:
        raise SystemExit("gridhub worker vision needs GRIDHUB_REDIS_URL (workers share cameras through Redis)")
    worker_id = worker_id or f"vision-{uuid.uuid4().hex[:8]}"
    engine = create_engine(settings)
    session_factory = create_session_factory(engine)
    bus = RedisBus(settings.redis_url, maxlen=settings.stream_maxlen, idle_ttl_s=settings.stream_idle_ttl_s)
    await bus.start()

    async def frames_for(camera_id: int) -> AsyncIterator[Frame]:
        url = await camera_url(settings, camera_id)
        async for frame in reader_frames(url, camera_id, settings.vision_detect_fps):
            yield frame

    runner = build_runner(
        settings,
        session_factory=session_factory,
        taxonomy=load_taxonomy(settings.config_dir),
        publish=bus.publish,
        notify=lambda: None,  # the hubs' relays poll the outbox
        frames_for=frames_for,
        worker_id=worker_id,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner.start()
    log.info("vision worker %s started", worker_id)
    try:
        await stop.wait()
    finally:
        await runner.stop()
        await bus.close()
        await engine.dispose()
        log.info("vision worker %s stopped", worker_id)
