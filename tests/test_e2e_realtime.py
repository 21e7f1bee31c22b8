"""End to end: workflow actions over HTTP reach the right screens and phones over /ws.

The real app (``create_app``) served by uvicorn, on SQLite + in-process bus and on PostgreSQL + Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from hub.wsclient import Client, connect
from tests.conftest import create_pg_database, drop_pg_database
from tests.county import PASSWORD, USERS, insert_county
from tests.realtime.helpers import InProcessHub, RedisProc

GRID1 = "330100001001001"


@dataclass
class Live:
    http: httpx.AsyncClient
    ws_url: str
    tokens: dict[str, str]
    ids: dict[str, int]

    def h(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def act(self, user: str, event: dict[str, Any], action: str, **body: Any) -> dict[str, Any]:
        r = await self.http.post(
            f"/api/v1/events/{event['id']}/{action}", json={"version": event["version"], **body}, headers=self.h(user)
        )
        assert r.status_code == 200, r.text
        return r.json()

    async def report(self, user: str = "t1_worker", grid: str = GRID1) -> dict[str, Any]:
        body = {"title": "占道经营", "category_code": "010101", "grid_code": grid}
        r = await self.http.post("/api/v1/events", json=body, headers=self.h(user))
        assert r.status_code == 201, r.text
        return r.json()

    def client(self, user: str, **kw: Any) -> Client:
        return connect(self.ws_url, self.tokens[user], backoff_min=0.05, backoff_max=0.5, **kw)


@pytest.fixture(scope="module", params=["sqlite-inproc", "postgres-redis"])
async def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    from hub.app import create_app
    from hub.db import create_session_factory
    from hub.migrations import upgrade
    from hub.settings import Settings

    redis = None
    url = ""
    if request.param == "postgres-redis":
        redis = RedisProc()
        redis.start()
        url = await create_pg_database()
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("live"),
        database_url=url,
        redis_url=redis.url if redis else "",
        secret_key="e2e-secret-" + "y" * 32,
        dispatch_redeliver_s=1.0,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_async_engine(settings.resolved_database_url)
    async with create_session_factory(engine)() as session:
        await insert_county(session)
    await engine.dispose()
    app = create_app(settings)
    try:
        async with InProcessHub(app) as hub:
            base = f"http://127.0.0.1:{hub.port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                tokens, ids = {}, {}
                for user in USERS:
                    r = await http.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
                    tokens[user] = r.json()["access_token"]
                    ids[user] = (
                        await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens[user]}"})
                    ).json()["id"]
                yield Live(http=http, ws_url=hub.url, tokens=tokens, ids=ids)
    finally:
        if redis is not None:
            redis.kill()
        if url:
            await drop_pg_database(url)


async def _next_on(client: Client, channel: str, event_id: int, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        msg = await client.next(max(0.01, deadline - time.monotonic()))
        if msg.get("channel") == channel and msg.get("data", {}).get("event_id") == event_id:
            return msg


async def test_report_reaches_own_town_screens_only(live: Live) -> None:
    async with live.client("t1_dispatcher") as mine, live.client("t2_dispatcher") as other:
        await mine.subscribe("events")
        await other.subscribe("events")
        await asyncio.sleep(0.2)
        started = time.monotonic()
        ev = await live.report()
        msg = await _next_on(mine, "events", ev["id"])
        assert msg["type"] == "event.report" and msg["data"]["state"] == "pending"
        assert time.monotonic() - started < 2.0, "on screen within a fraction of a second (bounded loosely for CI)"
        accepted = await live.act("t1_dispatcher", ev, "accept")
        msg = await _next_on(mine, "events", ev["id"])
        assert msg["data"]["state"] == "accepted" and msg["data"]["version"] == accepted["version"]
        with pytest.raises(TimeoutError):
            await _next_on(other, "events", ev["id"], timeout=0.7)


async def test_dispatch_to_an_offline_responder_arrives_when_it_connects(live: Live) -> None:
    worker = "t1_worker2"
    ev = await live.report()
    ev = await live.act("t1_dispatcher", ev, "accept")
    ev = await live.act("t1_dispatcher", ev, "assign", assignee_id=live.ids[worker])  # responder offline
    channel = f"dispatch:{live.ids[worker]}"
    async with live.client(worker) as phone:
        await phone.subscribe(channel)
        msg = await _next_on(phone, channel, ev["id"])
        assert msg["type"] == "dispatch.assigned" and msg["data"]["assignee_id"] == live.ids[worker]
        # Urged while online: pushed at once.
        await live.act("t1_dispatcher", ev, "urge")
        msg = await _next_on(phone, channel, ev["id"])
        assert msg["type"] == "dispatch.urged"
    # Acknowledged (the client acks as it hands messages out): a new connection gets nothing old.
    await asyncio.sleep(0.3)
    async with live.client(worker) as phone:
        await phone.subscribe(channel)
        with pytest.raises(TimeoutError):
            await _next_on(phone, channel, ev["id"], timeout=1.5)


async def test_unacknowledged_dispatch_is_sent_again(live: Live) -> None:
    worker = "t1_worker"
    channel = f"dispatch:{live.ids[worker]}"
    ev = await live.report()
    ev = await live.act("t1_dispatcher", ev, "accept")
    async with live.client(worker, auto_ack=False) as phone:
        await phone.subscribe(channel)
        await asyncio.sleep(0.2)
        await live.act("t1_dispatcher", ev, "assign", assignee_id=live.ids[worker])
        first = await _next_on(phone, channel, ev["id"])
    async with live.client(worker) as phone:  # the phone lost its connection before acknowledging
        await phone.subscribe(channel)
        again = await _next_on(phone, channel, ev["id"])
        assert again["offset"] == first["offset"]
