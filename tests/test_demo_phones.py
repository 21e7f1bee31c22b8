"""The demo's phones: grid workers connected to the hub's own /ws, walking their grids, losing coverage."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch.models import Role, User
from tests.county import insert_county
from tests.realtime.helpers import InProcessHub


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[Any, InProcessHub, httpx.AsyncClient]]:
    from hub.app import create_app
    from hub.db import create_session_factory
    from hub.migrations import upgrade
    from hub.security import issue_token
    from hub.settings import Settings

    settings = Settings(data_dir=tmp_path, database_url="", redis_url="", secret_key="phones-secret-" + "p" * 32)
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_async_engine(settings.resolved_database_url)
    async with create_session_factory(engine)() as session:
        await insert_county(session)
        leader = (await session.scalars(select(User).where(User.username == "leader"))).one()
        token = issue_token(leader, secret=settings.signing_key, ttl_minutes=60)
    await engine.dispose()
    app = create_app(settings)
    app.state.overview_feed.refresh_s = 0.5  # positions are drawn from documents this young (15 s on a hub)
    async with (
        InProcessHub(app) as server,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as http,
    ):
        yield app, server, http


async def forces(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/api/v1/screens/overview")
    assert r.status_code == 200, r.text
    return r.json()["forces"]


async def wait_for(check: Any, timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_phones_come_online_walk_their_grids_and_drop_out(hub: tuple) -> None:
    from hub.demo_phones import DemoPhones

    app, server, http = hub
    async with app.state.session_factory() as session:
        responders = (await session.scalars(select(User).where(User.role == Role.RESPONDER))).all()
        # one of them is a login the demo prints: a person trying the demo opens that phone, not the simulation
        responders[0].username = "grid_worker_001"
        await session.commit()
        person = responders.pop(0).id
        homes = {u.id: (u.jurisdiction.center_lat, u.jurisdiction.center_lon) for u in responders}
    assert (await forces(http))["online"] == 0
    phones = DemoPhones(
        app.state.session_factory, ws_url=server.url, signing_key=app.state.settings.signing_key, share=1.0,
        switch_on_s=(0.0, 0.3), online_s=(2.5, 2.5), offline_s=(1.5, 1.5), step_every_s=(0.2, 0.3),
        rnd=random.Random(3),
    )  # fmt: skip
    task = asyncio.create_task(phones.run())
    try:
        # every grid worker's phone is a live connection the big screen counts, with a position in its grid
        everyone = await wait_for(lambda: _online_is(http, len(responders), positions=True))
        first = {p["id"]: (p["lat"], p["lon"]) for p in everyone["positions"]}
        assert set(first) == set(homes) and person not in first
        for uid, (lat, lon) in first.items():
            assert abs(lat - homes[uid][0]) < 0.01 and abs(lon - homes[uid][1]) < 0.01
        # they move while online
        await wait_for(lambda: _moved(http, first))
        # and lose coverage for a while: the count drops, then comes back
        await wait_for(lambda: _online_is(http, 0))
        await wait_for(lambda: _online_is(http, len(responders)))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await wait_for(lambda: _online_is(http, 0))


async def _online_is(http: httpx.AsyncClient, n: int, *, positions: bool = False) -> dict[str, Any] | None:
    f = await forces(http)
    return f if f["online"] == n and (not positions or len(f["positions"]) == n) else None


async def _moved(http: httpx.AsyncClient, before: dict[int, tuple[float, float]]) -> bool:
    now = {p["id"]: (p["lat"], p["lon"]) for p in (await forces(http))["positions"]}
    return any(now.get(uid) != at for uid, at in before.items())
