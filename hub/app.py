"""The app factory: builds every collaborator in one ordered list and hands them to the routes.

Nothing starts at import: ``create_app(settings)`` makes the engine, session factory, taxonomy and
realtime hub; the lifespan starts the realtime parts after the database is reachable and stops them in
reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dispatch import passwords
from dispatch.taxonomy import load_taxonomy
from hub import gcwatch, tasks
from hub.audit_keeper import keep_audit
from hub.db import create_engine, create_session_factory, keep_sqlite_statistics
from hub.demo_activity import DemoActivity
from hub.demo_phones import DemoPhones
from hub.docs import install_docs
from hub.errors import install_error_handlers
from hub.httpmetrics import HttpMetrics
from hub.limits import BodySizeLimit
from hub.logs import redact_url
from hub.openapi import document_common_errors
from hub.overview_feed import OverviewFeed, load_safety_weights
from hub.ratelimit import Limit, LoginLimiter
from hub.realtime import Realtime
from hub.routes import (
    audit,
    auth,
    cameras,
    events,
    health,
    jurisdictions,
    live,
    me,
    media,
    nearby,
    overview,
    pages,
    stats,
    users,
    vision,
)
from hub.settings import Settings, get_settings
from hub.streams import Streams
from hub.tasks import stop as stop_tasks
from hub.tasks import supervise
from hub.vision import build_runner, pool_frames
from stream.ice import use_host_addresses
from stream.mjpeg import MjpegFeeds
from stream.webrtc import LiveView

log = logging.getLogger("gridhub")

API_DESCRIPTION = """
gridhub: the realtime hub of a county command centre (基层治理四平台).

Log in with `POST /api/v1/auth/login`, then send `Authorization: Bearer <access_token>`.
Errors are JSON: `{"error": code, "message": text, ...details}`. Workflow actions refused by the
state table answer 409 with `allowed`; a stale `version` answers 409 with `current_version`;
an event outside your jurisdiction answers 404.
"""


SHUTDOWN_STEP_S = 10.0


async def _shutdown_step(name: str, step: Awaitable[None]) -> None:
    """One part of the shutdown, bounded: a part that hangs is logged and left, so the rest still stops."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(step, SHUTDOWN_STEP_S)
    except TimeoutError:
        log.error("shutdown: %s did not stop within %.0f s; going on without it", name, SHUTDOWN_STEP_S)
    except Exception:
        log.exception("shutdown: %s failed", name)
    else:
        if (took := time.monotonic() - started) > 2.0:
            log.warning("shutdown: %s took %.1f s", name, took)


def create_app(settings: Settings | None = None, *, freeze_gc_after_start: bool = False) -> FastAPI:
    """The hub. ``freeze_gc_after_start`` (the CLI's server process, not a test's): once started, every object
    alive then (modules, models, caches: ~200,000 of them) leaves the garbage collector's full collections
    (:func:`hub.gcwatch.freeze_startup`)."""
    settings = settings or get_settings()
    engine = create_engine(settings)
    session_factory = create_session_factory(engine)
    taxonomy = load_taxonomy(settings.config_dir)
    realtime = Realtime(settings, session_factory)
    passwords.configure(settings.argon2_concurrency)
    login_limiter = LoginLimiter(
        [Limit("address", settings.login_rate_per_address), Limit("username", settings.login_rate_per_username)],
        window_s=settings.login_rate_window_s,
        redis_url=settings.redis_url,
    )
    use_host_addresses(settings.live_ice_hosts)
    live_view = LiveView(
        max_per_camera=settings.live_max_viewers_per_camera,
        max_total=settings.live_max_viewers,
        connect_timeout_s=settings.live_connect_timeout_s,
        ice_servers=settings.live_ice_servers,
        resolve_mdns=settings.live_resolve_mdns,
    )
    mjpeg = MjpegFeeds(max_per_camera=settings.mjpeg_max_viewers_per_camera)
    demo = DemoActivity(session_factory, taxonomy, realtime.notify) if settings.demo_activity else None
    phones = (
        DemoPhones(session_factory, ws_url=settings.demo_phones_url, signing_key=settings.signing_key)
        if settings.demo_phones_url
        else None
    )
    overview_feed = OverviewFeed(
        session_factory, realtime, zone=settings.timezone, weights=load_safety_weights(settings.config_dir)
    )
    streams = Streams(settings, session_factory, realtime)
    runner = build_runner(
        settings,
        session_factory=session_factory,
        taxonomy=taxonomy,
        publish=realtime.publish,
        notify=realtime.notify,
        frames_for=pool_frames(lambda: getattr(app.state, "streams", None), settings.vision_detect_fps),
    )

    static = pages.static_files()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gcwatch.install()
        log.info("static files ready: %d", await static.warm())
        await realtime.start()
        audit_task = supervise("audit", lambda: keep_audit(session_factory, settings.audit_retention_days))
        stats_task = (
            supervise("sqlite-statistics", lambda: keep_sqlite_statistics(engine)) if settings.is_sqlite else None
        )
        await overview_feed.start()
        demo_task = tasks.supervise("demo-activity", demo.run) if demo is not None else None
        phones_task = tasks.supervise("demo-phones", phones.run) if phones is not None else None
        await streams.start()
        if settings.vision_enabled:
            await runner.start()
        log.info(
            "gridhub ready: database %s, bus %s",
            engine.url.render_as_string(),
            redact_url(settings.redis_url) if settings.redis_url else "in-process",
        )
        if freeze_gc_after_start:
            gcwatch.freeze_startup()
        try:
            yield
        finally:
            if settings.vision_enabled:
                await _shutdown_step("vision", runner.stop())
            await _shutdown_step("live view", live_view.stop())
            await _shutdown_step("mjpeg", mjpeg.stop())
            await _shutdown_step("streams", streams.stop())
            await _shutdown_step("demo activity", tasks.stop(demo_task, phones_task))
            await _shutdown_step("overview feed", overview_feed.stop())
            await _shutdown_step("realtime", realtime.stop())
            await _shutdown_step("audit", stop_tasks(audit_task, stats_task))
            await _shutdown_step("login limiter", login_limiter.close())
            await _shutdown_step("database", engine.dispose())
            gcwatch.uninstall()

    app = FastAPI(
        title="gridhub", version="0.1.0", description=API_DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    install_docs(app)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.taxonomy = taxonomy
    app.state.realtime = realtime
    app.state.login_limiter = login_limiter
    app.state.live = live_view
    app.state.mjpeg = mjpeg
    app.state.overview_feed = overview_feed
    app.state.demo_activity = demo
    app.state.streams = streams.pool
    app.state.streams_hub = streams
    app.state.vision = runner
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetrics)
    modules = (
        health,
        auth,
        me,
        audit,
        jurisdictions,
        users,
        media,
        events,
        nearby,
        cameras,
        live,
        stats,
        overview,
        vision,
    )
    for module in modules:
        app.include_router(module.router)
    app.include_router(realtime.router)
    app.include_router(pages.router)
    app.mount("/static", static, name="static")
    document_common_errors(app)
    return app
