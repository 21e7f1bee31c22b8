"""A served hub: camera status pushed on the ``cameras`` channel of /ws (scoped by jurisdiction), and
lookback over HTTP (recordings list, segments with Range, clips, the event's nearby cameras)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets

from stream import recordings
from tests.live.hub import GRID_T1, LiveHub, live_hub
from tests.streams_helpers import FOOTAGE, free_port


@pytest.fixture(scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveHub]:
    async with live_hub(tmp_path_factory.mktemp("hub-streams"), recording_segment_s=2.0) as h:
        for user in ("admin", "t1_dispatcher", "t2_dispatcher", "t1_worker"):
            await h.login(user)
        yield h


class Listener:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg.get("type") == "ping":
                await self.ws.send(json.dumps({"op": "pong"}))
            elif msg.get("channel") == "cameras" and "offset" in msg:
                self.messages.append(msg)

    def states(self, camera_id: int) -> list[tuple[str, str | None]]:
        return [
            (m["data"]["status"]["state"], m["data"]["status"]["reason"])
            for m in self.messages
            if m["data"]["camera_id"] == camera_id
        ]


async def listen(hub: LiveHub, username: str) -> Listener:
    ws = await websockets.connect(hub.url.replace("http", "ws") + f"/ws?token={hub.tokens[username]}")
    await ws.send(json.dumps({"op": "subscribe", "channel": "cameras"}))
    while True:
        msg = json.loads(await ws.recv())
        if msg.get("type") == "subscribed":
            return Listener(ws)


async def until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_status_changes_reach_the_cameras_jurisdiction_only(hub: LiveHub, tmp_path: Path) -> None:
    t1, t2 = await listen(hub, "t1_dispatcher"), await listen(hub, "t2_dispatcher")
    admin = hub.auth("admin")
    try:
        r = await hub.client.post(
            "/api/v1/cameras",
            json={"name": "推送测试", "lat": 30.0, "lon": 120.0, "grid_code": GRID_T1, "source_url": str(FOOTAGE)},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        camera_id = r.json()["id"]
        await until(lambda: ("online", None) in t1.states(camera_id))
        online = next(m for m in t1.messages if m["data"]["status"]["state"] == "online")
        assert online["type"] == "camera.status" and online["data"]["grid_code"] == GRID_T1
        assert online["data"]["status"]["codec"] == "h264"

        url = f"rtsp://viewer:hunter2@127.0.0.1:{free_port()}/gone"
        r = await hub.client.patch(f"/api/v1/cameras/{camera_id}", json={"source_url": url}, headers=admin)
        assert r.status_code == 200
        await until(lambda: any(s == "offline" for s, _ in t1.states(camera_id)))
        reason = next(r for s, r in t1.states(camera_id) if s == "offline")
        assert "refused" in reason and "hunter2" not in json.dumps(t1.messages)
        await asyncio.sleep(0.5)
        assert t2.states(camera_id) == []  # another town's dispatcher hears nothing of it
        await hub.client.delete(f"/api/v1/cameras/{camera_id}", headers=admin)
    finally:
        for listener in (t1, t2):
            listener.task.cancel()
            await listener.ws.close()


async def test_lookback_lists_segments_that_play_with_range_and_clips(hub: LiveHub) -> None:
    camera = hub.cameras["t1"]
    await asyncio.sleep(5.0)  # the hub records its cameras from the start: 2 s segments
    t1 = hub.auth("t1_dispatcher")
    r = await hub.client.get(f"/api/v1/cameras/{camera}/recordings", headers=t1)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    done = [i for i in items if i["complete"]]
    assert len(done) >= 1 and items[-1]["url"].startswith(f"/api/v1/cameras/{camera}/recordings/")
    seg = done[0]
    start, end = datetime.fromisoformat(seg["start"]), datetime.fromisoformat(seg["end"])
    assert 1.0 <= (end - start).total_seconds() <= 4.0

    # a <video> tag: ?token= and byte ranges
    url = seg["url"] + f"?token={hub.tokens['t1_dispatcher']}"
    whole = await hub.client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    part = await hub.client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100 and part.content == whole.content[:100]
    assert whole.headers.get("accept-ranges") == "bytes"
    assert (await hub.client.get(seg["url"], headers=hub.auth("t2_dispatcher"))).status_code == 404
    assert (await hub.client.get(seg["url"])).status_code == 401
    bad = await hub.client.get(f"/api/v1/cameras/{camera}/recordings/..%2F..%2Fgridhub.db", headers=t1)
    assert bad.status_code in (404, 422)

    # narrower ranges select fewer segments; nonsense ranges are 422
    later = await hub.client.get(
        f"/api/v1/cameras/{camera}/recordings", params={"start": seg["end"], "end": items[-1]["end"]}, headers=t1
    )
    assert seg["url"] not in [i["url"] for i in later.json()["items"]] or len(later.json()["items"]) <= len(items)
    r = await hub.client.get(
        f"/api/v1/cameras/{camera}/recordings", params={"start": seg["end"], "end": seg["start"]}, headers=t1
    )
    assert r.status_code == 422

    # a clip across the recorded time, remuxed
    clip_start = start + timedelta(seconds=0.5)
    clip_end = datetime.fromisoformat(done[-1]["end"])
    r = await hub.client.get(
        f"/api/v1/cameras/{camera}/clip.mp4",
        params={"start": clip_start.isoformat(), "end": clip_end.isoformat()},
        headers=t1,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4" and r.content[4:8] == b"ftyp"
    r = await hub.client.get(
        f"/api/v1/cameras/{camera}/clip.mp4",
        params={"start": "2001-01-01T00:00:00Z", "end": "2001-01-01T00:01:00Z"},
        headers=t1,
    )
    assert r.status_code == 404

    # contract C4: clip() for vision's evidence
    path = await recordings.clip(camera, clip_start, clip_end)
    try:
        assert path.stat().st_size > 1000
    finally:
        path.unlink()


async def test_event_nearby_cameras_link_their_lookback(hub: LiveHub) -> None:
    worker = await hub.login("t1_worker")
    r = await hub.client.post(
        "/api/v1/events",
        json={"title": "路口拥堵", "description": "人民路口", "category_code": "010101", "grid_code": GRID_T1},
        headers={"Authorization": f"Bearer {worker}"},
    )
    assert r.status_code == 201, r.text
    event = r.json()
    r = await hub.client.get(f"/api/v1/events/{event['id']}/nearby", headers=hub.auth("t1_dispatcher"))
    assert r.status_code == 200, r.text
    cams = {c["id"]: c for c in r.json()["cameras"]}
    assert hub.cameras["t1"] in cams
    lookback = cams[hub.cameras["t1"]]["lookback"]
    assert lookback["recordings_url"].startswith(f"/api/v1/cameras/{hub.cameras['t1']}/recordings?start=")
    r = await hub.client.get(lookback["recordings_url"], headers=hub.auth("t1_dispatcher"))
    assert r.status_code == 200
