"""Shared fixtures: a gridhub app per database backend (SQLite file, real PostgreSQL) with a tiny county.

The API tests are parametrised over ``backend``: the same test runs against both engines.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.county import PASSWORD, USERS, Grid, insert_county

PG_ADMIN_URL = os.environ.get("GRIDHUB_TEST_PG_ADMIN", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


async def create_pg_database() -> str:
    """A fresh, uniquely named PostgreSQL database; returns its async URL."""
    name = f"gridhub_test_{uuid.uuid4().hex[:10]}"
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@dataclass
class Api:
    """An HTTP client on a running app, with one token per test user."""

    client: httpx.AsyncClient
    grids: dict[str, Grid]
    backend: str
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    #: The app under test (its settings, session factory, taxonomy, …) for tests that look at the database.
    app: Any = None

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    async def get(self, username: str, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, headers=self.auth(username), **kw)

    async def post(self, username: str, url: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.post(url, headers=self.auth(username), json=json, **kw)

    async def report(self, username: str = "t1_worker", **fields: Any) -> dict[str, Any]:
        body = {"title": "人民路暴露垃圾", "description": "路边一堆垃圾", "category_code": "010101"}
        body.setdefault("grid_code", "330100001001001")
        body.update(fields)
        r = await self.post(username, "/api/v1/events", body)
        assert r.status_code == 201, r.text
        return r.json()

    async def act(self, username: str, event: dict[str, Any], action: str, expect: int = 200, **body: Any) -> Any:
        r = await self.post(username, f"/api/v1/events/{event['id']}/{action}", {"version": event["version"], **body})
        assert r.status_code == expect, f"{action}: {r.status_code} {r.text}"
        return r.json()

    async def view(self, username: str, view: str, **params: Any) -> list[int]:
        r = await self.get(username, "/api/v1/events", params={"view": view, "page_size": 200, **params})
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["items"]]


@asynccontextmanager
async def running_api(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """A fresh app on a fresh database of ``backend`` with the tiny county, one logged-in token per user."""
    from hub.app import create_app
    from hub.db import create_engine, create_session_factory
    from hub.migrations import upgrade
    from hub.settings import Settings

    data_dir: Path = tmp_path_factory.mktemp(f"gridhub-{backend}")
    url = await create_pg_database() if backend == "postgres" else ""
    # Every test of the session logs in from the one ASGI client address: no per-address limit here
    # (tests/test_login_security.py tests the limits on apps of its own).
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="test-secret-" + "x" * 32,
        redis_url="",
        login_rate_per_address=0,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings)
    async with create_session_factory(engine)() as session:
        grids = await insert_county(session)
    await engine.dispose()

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gridhub.test") as client:
            api = Api(client=client, grids=grids, backend=backend, app=app)
            for username in USERS:
                r = await client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
                assert r.status_code == 200, r.text
                api.tokens[username] = r.json()["access_token"]
                me = await client.get("/api/v1/auth/me", headers=api.auth(username))
                api.user_ids[username] = me.json()["id"]
            yield api
    if url:
        await drop_pg_database(url)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """The session's app per engine, shared by the API tests (each test makes its own events)."""
    async with running_api(request.param, tmp_path_factory) as api:
        yield api
