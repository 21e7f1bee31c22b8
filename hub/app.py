"""The app factory: builds every collaborator in one ordered list and hands them to the routes.

Nothing starts at import: ``create_app(settings)`` makes the engine, session factory, taxonomy and
realtime hub; the lifespan starts the realtime parts after the database is reachable and stops them in
reverse order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dispatch.taxonomy import load_taxonomy
from hub import gcwatch
from hub.db import create_engine, create_session_factory
from hub.errors import install_error_handlers
from hub.limits import BodySizeLimit
from hub.overview_feed import OverviewFeed, load_safety_weights
from hub.realtime import Realtime
from hub.routes import auth, cameras, events, health, jurisdictions, overview, stats, users
from hub.settings import Settings, get_settings

log = logging.getLogger("gridhub")

API_DESCRIPTION = """
gridhub: the realtime hub of a county command centre (基层治理四平台).

Log in with `POST /api/v1/auth/login`, then send `Authorization: Bearer <access_token>`.
Errors are JSON: `{"error": code, "message": text, ...details}`. Workflow actions refused by the
state table answer 409 with `allowed`; a stale `version` answers 409 with `current_version`;
an event outside your jurisdiction answers 404.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = create_engine(settings)
    session_factory = create_session_factory(engine)
    taxonomy = load_taxonomy(settings.config_dir)
    realtime = Realtime(settings, session_factory)
    overview_feed = OverviewFeed(
        session_factory, realtime, zone=settings.timezone, weights=load_safety_weights(settings.config_dir)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gcwatch.install()
        await realtime.start()
        await overview_feed.start()
        log.info(
            "gridhub ready: database %s, bus %s", engine.url.render_as_string(), settings.redis_url or "in-process"
        )
        try:
            yield
        finally:
            await overview_feed.stop()
            await realtime.stop()
            await engine.dispose()
            gcwatch.uninstall()

    app = FastAPI(title="gridhub", version="0.1.0", description=API_DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.taxonomy = taxonomy
    app.state.realtime = realtime
    app.state.overview_feed = overview_feed
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    for module in (health, auth, jurisdictions, users, events, cameras, stats, overview):
        app.include_router(module.router)
    app.include_router(realtime.router)
    return app
