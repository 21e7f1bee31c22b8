"""Revocation (issue 6 item 1, contract C2): a logout, deactivation, role or jurisdiction change closes that
user's sockets on every hub within 2 s, and an old token is refused when it connects again.

On one hub with the in-process bus (SQLite), and on two hubs sharing Redis and PostgreSQL; the logout
through the real app (``hub.app.create_app``) the same way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dispatch.db import Base
from dispatch.models import User
from tests.conftest import create_pg_database, drop_pg_database
from tests.county import PASSWORD, insert_county
from tests.realtime.conftest import make_settings
from tests.realtime.helpers import InProcessHub, Raw, RedisProc, token
from tests.realtime.hubapp import build_app

REVOKED_WITHIN_S = 2.0

CHANGES: dict[str, dict[str, Any]] = {
    "logout": {"token_generation": User.token_generation + 1},
    "deactivation": {"is_active": False},
    "role": {"role": "dispatcher"},
    "jurisdiction": {"jurisdiction_code": "G2"},
}


async def close_code(client: Raw, timeout: float) -> int | None:
    """The close code the hub sends within ``timeout`` (frames before it are skipped); fails if still open."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            await asyncio.wait_for(client.ws.recv(), max(0.01, deadline - time.monotonic()))
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None
    except TimeoutError:
        pytest.fail(f"the socket was still open after {timeout} s")


async def still_open(client: Raw) -> bool:
    await client.send({"op": "ping"})
    return (await client.until(lambda m: m.get("type") == "pong", 3))["type"] == "pong"


async def change(engine: AsyncEngine, user_id: int, values: dict[str, Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(**values))


@pytest.fixture(params=["inproc-sqlite", "redis-postgres"])
async def hubs(
    request: pytest.FixtureRequest, tmp_path: Path, redis_proc: RedisProc
) -> AsyncIterator[tuple[list[Any], list[InProcessHub]]]:
    """One hub on the in-process bus, or two hubs on one Redis and one PostgreSQL database."""
    if request.param == "inproc-sqlite":
        apps = [build_app(make_settings(tmp_path))]
        url = ""
    else:
        import hub.realtime.pending  # noqa: F401  (its table)

        url = await create_pg_database()
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        await engine.dispose()
        apps = [
            build_app(make_settings(tmp_path / n, redis_url=redis_proc.url, database_url=url), create_tables=False)
            for n in ("a", "b")
        ]
    try:
        async with InProcessHub(apps[0]) as a:
            if len(apps) == 1:
                yield apps, [a]
            else:
                async with InProcessHub(apps[1]) as b:
                    yield apps, [a, b]
    finally:
        if url:
            await drop_pg_database(url)


@pytest.mark.parametrize("what", list(CHANGES))
async def test_account_change_closes_the_users_sockets_on_every_hub(
    hubs: tuple[list[Any], list[InProcessHub]], what: str
) -> None:
    apps, servers = hubs
    engine = apps[0].state.session_factory.kw["bind"]
    mine = [await Raw.connect(s.url, token(10)) for s in servers]
    bystander = await Raw.connect(servers[-1].url, token(11))
    for c in [*mine, bystander]:
        assert (await c.subscribe("events"))["type"] == "subscribed"

    await change(engine, 10, CHANGES[what])
    started = time.monotonic()
    await apps[0].state.realtime.revoke_user(10)
    codes = await asyncio.gather(*(close_code(c, REVOKED_WITHIN_S + 1) for c in mine))
    assert codes == [4001] * len(mine)
    assert time.monotonic() - started < REVOKED_WITHIN_S
    assert await still_open(bystander), "another user's socket stays open"

    # The old token is refused on connect, on every hub.
    for s in servers:
        again = await Raw.connect(s.url, token(10))
        assert await close_code(again, 3) == 4001

    # A revocation for an account that did not change closes nothing.
    await apps[-1].state.realtime.revoke_user(11)
    await asyncio.sleep(0.5)
    assert await still_open(bystander)
    await bystander.close()


async def test_changed_account_is_closed_by_the_periodic_recheck_without_a_revocation(tmp_path: Path) -> None:
    app = build_app(make_settings(tmp_path, ws_account_recheck_s=0.3))
    async with InProcessHub(app) as server:
        client = await Raw.connect(server.url, token(12))
        assert (await client.subscribe("events"))["type"] == "subscribed"
        await change(app.state.session_factory.kw["bind"], 12, {"is_active": False})
        assert await close_code(client, 3) == 4001


@pytest.fixture(params=["sqlite-inproc", "postgres-redis"])
async def real_hubs(
    request: pytest.FixtureRequest, tmp_path: Path, redis_proc: RedisProc
) -> AsyncIterator[list[InProcessHub]]:
    """The real app: one hub on SQLite and the in-process bus, or two on PostgreSQL and Redis."""
    from hub.app import create_app
    from hub.db import create_session_factory
    from hub.migrations import upgrade
    from hub.settings import Settings

    url = await create_pg_database() if request.param == "postgres-redis" else ""
    for n in ("a", "b"):
        (tmp_path / n).mkdir()
    redis_url = redis_proc.url if url else ""
    settings = [
        Settings(data_dir=tmp_path / n, database_url=url, redis_url=redis_url, secret_key="revoke-" + "z" * 32)
        for n in (("a", "b") if url else ("a",))
    ]
    await asyncio.to_thread(upgrade, settings[0].resolved_database_url)
    engine = create_async_engine(settings[0].resolved_database_url)
    async with create_session_factory(engine)() as session:
        await insert_county(session)
    await engine.dispose()
    try:
        async with InProcessHub(create_app(settings[0])) as a:
            if len(settings) == 1:
                yield [a]
            else:
                async with InProcessHub(create_app(settings[1])) as b:
                    yield [a, b]
    finally:
        if url:
            await drop_pg_database(url)


async def test_logout_closes_the_users_sockets_on_every_hub(real_hubs: list[InProcessHub]) -> None:
    first = real_hubs[0]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{first.port}", timeout=10) as http:
        r = await http.post("/api/v1/auth/login", json={"username": "t1_worker", "password": PASSWORD})
        assert r.status_code == 200, r.text
        tok = r.json()["access_token"]
        r = await http.post("/api/v1/auth/login", json={"username": "t1_dispatcher", "password": PASSWORD})
        other = r.json()["access_token"]
        sockets = [await Raw.connect(h.url, tok) for h in real_hubs]
        bystander = await Raw.connect(real_hubs[-1].url, other)
        for c in [*sockets, bystander]:
            assert (await c.subscribe("events"))["type"] == "subscribed"

        started = time.monotonic()
        r = await http.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 204, r.text
        assert await asyncio.gather(*(close_code(c, REVOKED_WITHIN_S + 1) for c in sockets)) == [4001] * len(sockets)
        assert time.monotonic() - started < REVOKED_WITHIN_S
        assert await still_open(bystander)
        for h in real_hubs:
            assert await close_code(await Raw.connect(h.url, tok), 3) == 4001
        await bystander.close()
