"""End to end on real footage: frame → rule → candidate event in 待受理 with snapshot → /ws messages.

The real app (create_app) served by uvicorn, on SQLite + in-process bus and on PostgreSQL + Redis. The
bundled pedestrian footage (vtest) goes through the same CameraLoop the runner builds for a camera; the
app's own reporter reports through the dispatch service as the ``vision`` service account.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from hub.wsclient import Client, connect
from tests.conftest import create_pg_database, drop_pg_database
from tests.county import PASSWORD, USERS, insert_county
from tests.realtime.helpers import InProcessHub, Raw, RedisProc
from tests.vision.footage import frames
from vision.models import VisionCandidate
from vision.pipeline import CameraLoop
from vision.reporting import CameraSink

GRID1 = "330100001001001"
ZONE = [[0.3, 0.2], [0.9, 0.2], [0.9, 0.8], [0.3, 0.8]]


@dataclass
class Live:
    app: Any
    http: httpx.AsyncClient
    ws_url: str
    tokens: dict[str, str]

    def h(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def client(self, user: str) -> Client:
        return connect(self.ws_url, self.tokens[user], backoff_min=0.05, backoff_max=0.5)


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
        data_dir=tmp_path_factory.mktemp("vision-live"),
        database_url=url,
        redis_url=redis.url if redis else "",
        secret_key="vision-secret-" + "v" * 32,
        vision_enabled=False,  # the test drives the app's runner pieces over the footage itself
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_async_engine(settings.resolved_database_url)
    async with create_session_factory(engine)() as session:
        await insert_county(session)
    await engine.dispose()
    app = create_app(settings)
    try:
        async with InProcessHub(app) as hub:
            await app.state.vision.reporter.start()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{hub.port}", timeout=20) as http:
                tokens = {}
                for user in USERS:
                    r = await http.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
                    tokens[user] = r.json()["access_token"]
                yield Live(app=app, http=http, ws_url=hub.url, tokens=tokens)
            await app.state.vision.reporter.stop()
    finally:
        if redis is not None:
            redis.kill()
        if url:
            await drop_pg_database(url)


async def _camera(live: Live, name: str) -> int:
    body = {"name": name, "lat": 30.005, "lon": 120.005, "grid_code": GRID1}
    r = await live.http.post("/api/v1/cameras", json=body, headers=live.h("admin"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _rule(live: Live, camera_id: int, **body: Any) -> dict[str, Any]:
    r = await live.http.post(f"/api/v1/cameras/{camera_id}/rules", json=body, headers=live.h("admin"))
    assert r.status_code == 201, r.text
    return r.json()


async def _collect(client: Client, into: list[dict[str, Any]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            into.append(await client.next(0.2))


async def test_loitering_and_crowd_rules_each_raise_one_event(live: Live) -> None:
    camera_id = await _camera(live, "人民广场东")
    loiter = await _rule(live, camera_id, name="广场逗留", kind="loitering", zone=ZONE, dwell_s=5, min_score=0.6)
    crowd = await _rule(live, camera_id, name="广场聚集", kind="crowd", max_count=4, dwell_s=2, urgency="urgent")
    runner = live.app.state.vision
    await runner.tick()  # loads the rules exactly as a running hub does
    specs = runner.rules[camera_id]
    assert set(specs) == {loiter["id"], crowd["id"]}

    messages: list[dict[str, Any]] = []
    stop = asyncio.Event()
    async with live.client("t1_dispatcher") as console:
        await console.subscribe("events")
        await console.subscribe(f"detections:{camera_id}")
        await asyncio.sleep(0.3)
        collector = asyncio.create_task(_collect(console, messages, stop))
        loop = CameraLoop(runner.stages(camera_id), CameraSink(runner.reporter, specs))
        for frame in frames(camera_id, fps=5):  # the whole 30 s clip at 5 detection fps
            await loop.step(frame)
        await runner.reporter.drain()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(m.get("type") == "event.report" for m in messages) < 2:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        stop.set()
        await collector

    # The camera's detections are for consoles of its own area only (town 2's dispatcher is refused).
    for user, expected in (("t2_dispatcher", "error"), ("county_dispatcher", "subscribed"), ("admin", "subscribed")):
        raw = await Raw.connect(live.ws_url, live.tokens[user])
        reply = await raw.subscribe(f"detections:{camera_id}")
        await raw.close()
        assert reply["type"] == expected, (user, reply)
        if expected == "error":
            assert reply["code"] == "forbidden" and "outside your area" in reply["message"]

    # The detector found people: every detection frame was pushed with boxes, labels and track ids.
    det = [m for m in messages if m.get("channel") == f"detections:{camera_id}"]
    assert len(det) == loop.stats.detected > 100
    people = [d for m in det for d in m["data"]["detections"] if d["label"] == "person"]
    assert len(people) > 300, "pedestrians walk through the whole clip"
    assert any(t["track_id"] >= 0 for m in det for t in m["data"]["tracks"])

    # Exactly one candidate event per rule (cooldowns and per-track dedupe), both in 待受理.
    async with live.app.state.session_factory() as db:
        candidates = list(await db.scalars(select(VisionCandidate).where(VisionCandidate.camera_id == camera_id)))
    assert sorted(c.rule_id for c in candidates) == sorted([loiter["id"], crowd["id"]]), candidates
    assert loop.stats.firings == 2
    reported = [m for m in messages if m.get("channel") == "events" and m.get("type") == "event.report"]
    assert sorted(m["data"]["event_id"] for m in reported) == sorted(c.event_id for c in candidates)

    for candidate in candidates:
        r = await live.http.get(f"/api/v1/events/{candidate.event_id}", headers=live.h("t1_dispatcher"))
        assert r.status_code == 200, r.text
        event = r.json()
        assert event["state"] == "pending" and event["source"] == "detection" and event["camera_id"] == camera_id
        assert candidate.rule_name in event["title"]
        expected = {"广场逗留": ("080101", "normal"), "广场聚集": ("050301", "urgent")}[candidate.rule_name]
        assert (event["category_code"], event["urgency"]) == expected
        snaps = [m for m in event["media"] if m["kind"] == "snapshot"]
        assert len(snaps) == 1
        # The <img> tag way (?token=): a JPEG for those who may open the event …
        img = await live.http.get(snaps[0]["url"], params={"token": live.tokens["t1_dispatcher"]})
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
        assert img.content[:2] == b"\xff\xd8" and len(img.content) == snaps[0]["size"]
        # … and nothing for a dispatcher of the other town, nor without a token.
        other = await live.http.get(snaps[0]["url"], headers=live.h("t2_dispatcher"))
        assert other.status_code == 404
        assert (await live.http.get(snaps[0]["url"])).status_code == 401

    # The dispatchers' decisions are the ground truth of the precision report.
    by_rule = {c.rule_id: c.event_id for c in candidates}
    for rule_id, action in ((loiter["id"], "accept"), (crowd["id"], "reject")):
        event = (await live.http.get(f"/api/v1/events/{by_rule[rule_id]}", headers=live.h("t1_dispatcher"))).json()
        body = {"version": event["version"], **({"reason": "误报"} if action == "reject" else {})}
        r = await live.http.post(f"/api/v1/events/{event['id']}/{action}", json=body, headers=live.h("t1_dispatcher"))
        assert r.status_code == 200, r.text
    r = await live.http.get("/api/v1/vision/precision", headers=live.h("t1_dispatcher"))
    assert r.status_code == 200, r.text
    report = {row["rule_id"]: row for row in r.json()["rules"] if row["camera_id"] == camera_id}
    assert report[loiter["id"]]["precision"] == 1.0 and report[loiter["id"]]["accepted"] == 1
    assert report[crowd["id"]]["precision"] == 0.0 and report[crowd["id"]]["rejected"] == 1
    assert (await live.http.get("/api/v1/vision/precision", headers=live.h("t1_worker"))).status_code == 403
