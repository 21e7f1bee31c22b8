"""A minimal hub for the realtime tests: the Realtime router on FastAPI, driven by GRIDHUB_* settings, with
the accounts of tests/realtime/helpers.py in its database (every /ws token is checked against its account).

Used in-process (``build_app``) and as a subprocess (``python -m uvicorn --factory
tests.realtime.hubapp:create_app``) until the tests can run hub.app's own factory.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

import dispatch.models  # noqa: F401  (tables)
import hub.realtime.pending  # noqa: F401
import stream.models  # noqa: F401
from dispatch.db import Base
from hub.db import create_engine, create_session_factory
from hub.realtime import Realtime
from hub.settings import Settings
from tests.realtime.helpers import seed_accounts


def build_app(settings: Settings, *, create_tables: bool = True, **realtime_kwargs: object) -> FastAPI:
    engine = create_engine(settings)
    session_factory = create_session_factory(engine)
    realtime = Realtime(settings, session_factory, **realtime_kwargs)  # type: ignore[arg-type]

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        if create_tables:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)
        await seed_accounts(engine)
        await realtime.start()
        try:
            yield
        finally:
            await realtime.stop()
            await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    app.include_router(realtime.router)
    app.state.realtime = realtime
    app.state.session_factory = session_factory

    @app.get("/readyz")
    async def readyz() -> dict[str, object]:
        return {"bus": await realtime.ready(), **realtime.stats()}

    @app.post("/_notify")
    async def notify() -> dict[str, bool]:
        realtime.notify()
        return {"ok": True}

    return app


def create_app() -> FastAPI:
    return build_app(Settings())
