"""Camera registry over HTTP (SQLite and PostgreSQL): CRUD, CSV import, scoping, true status, snapshots."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from dispatch.audit import AuditEntry
from tests.conftest import Api
from tests.streams_helpers import FOOTAGE, free_port

GRID_T1 = "330100001001001"
GRID_T2 = "330100002001001"


@pytest.fixture
async def made(api: Api) -> AsyncIterator[list[int]]:
    """Camera ids created by the test, deleted afterwards (their readers stop)."""
    ids: list[int] = []
    yield ids
    for camera_id in ids:
        await api.client.delete(f"/api/v1/cameras/{camera_id}", headers=api.auth("admin"))


async def create(api: Api, made: list[int], **fields: Any) -> dict[str, Any]:
    grid = api.grids[fields.pop("grid", GRID_T1)]
    body = {"name": "人民路口", "lat": grid.lat, "lon": grid.lon, **fields}
    r = await api.post("admin", "/api/v1/cameras", body)
    assert r.status_code == 201, r.text
    made.append(r.json()["id"])
    return r.json()


async def wait_status(api: Api, camera_id: int, states: set[str], timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = await api.get("admin", f"/api/v1/cameras/{camera_id}")
        assert r.status_code == 200, r.text
        if r.json()["status"] in states:
            return r.json()
        assert time.monotonic() < deadline, r.json()
        await asyncio.sleep(0.1)


async def test_crud_with_true_status_and_masked_credentials(api: Api, made: list[int]) -> None:
    cam = await create(api, made, source_url=str(FOOTAGE), tags=["路口", "demo"])
    assert cam["grid_code"] == GRID_T1 and cam["tags"] == ["路口", "demo"] and cam["enabled"] is True
    online = await wait_status(api, cam["id"], {"online"})
    stream = online["stream"]
    assert (stream["width"], stream["height"], stream["codec"]) == (768, 576, "h264")
    assert stream["reason"] is None and time.time() - stream["last_frame_ts"] < 3

    dead = free_port()
    secret_url = f"rtsp://admin:Pa55word@127.0.0.1:{dead}/Streaming/Channels/101"
    r = await api.client.patch(
        f"/api/v1/cameras/{cam['id']}", json={"source_url": secret_url, "name": "新名字"}, headers=api.auth("admin")
    )
    assert r.status_code == 200, r.text
    assert (
        "Pa55word" not in r.text
        and r.json()["source_url"] == f"rtsp://admin:***@127.0.0.1:{dead}/Streaming/Channels/101"
    )
    offline = await wait_status(api, cam["id"], {"offline", "error"})
    assert "refused" in offline["stream"]["reason"] and "Pa55word" not in str(offline)
    # sending back the masked URL (a form round trip) keeps the stored password
    r = await api.client.patch(
        f"/api/v1/cameras/{cam['id']}", json={"source_url": offline["source_url"]}, headers=api.auth("admin")
    )
    assert r.status_code == 200
    listed = await api.get("admin", "/api/v1/cameras", params={"q": "新名字"})
    assert [c["id"] for c in listed.json()["items"]] == [cam["id"]]
    assert "Pa55word" not in listed.text

    r = await api.client.patch(f"/api/v1/cameras/{cam['id']}", json={"enabled": False}, headers=api.auth("admin"))
    assert r.json()["enabled"] is False and r.json()["status"] == "offline"
    assert r.json()["stream"]["reason"] == "disabled"
    by_tag = await api.get("admin", "/api/v1/cameras", params={"tag": "demo"})
    assert [c["id"] for c in by_tag.json()["items"]] == [cam["id"]]

    r = await api.client.delete(f"/api/v1/cameras/{cam['id']}", headers=api.auth("admin"))
    assert r.status_code == 204
    assert (await api.get("admin", f"/api/v1/cameras/{cam['id']}")).status_code == 404
    made.remove(cam["id"])

    # every change is in the audit trail (C1), credentials masked
    app = api.client._transport.app  # type: ignore[attr-defined]
    async with app.state.session_factory() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.target == f"camera:{cam['id']}").order_by(AuditEntry.seq)
            )
        )
    kinds = [r.kind for r in rows]
    assert kinds[0] == "camera.create" and kinds[-1] == "camera.delete" and kinds.count("camera.update") == 3
    assert all(r.actor_name == "admin" for r in rows)
    assert "Pa55word" not in str([r.detail for r in rows])


async def test_no_source_and_jurisdiction_scope(api: Api, made: list[int]) -> None:
    t1 = await create(api, made, name="无源", source_url="")
    t2 = await create(api, made, name="东门", grid=GRID_T2)
    assert t1["status"] == "no_source" and t1["stream"]["state"] == "no_source"
    assert (await api.get("t1_dispatcher", f"/api/v1/cameras/{t1['id']}")).status_code == 200
    assert (await api.get("t1_dispatcher", f"/api/v1/cameras/{t2['id']}")).status_code == 404
    listed = await api.get("t1_dispatcher", "/api/v1/cameras", params={"page_size": 5000})
    ids = {c["id"] for c in listed.json()["items"]}
    assert t1["id"] in ids and t2["id"] not in ids
    # admins only
    r = await api.post("t1_dispatcher", "/api/v1/cameras", {"name": "x", "lat": 30.0, "lon": 120.0})
    assert r.status_code == 403
    r = await api.client.patch(f"/api/v1/cameras/{t1['id']}", json={"enabled": False}, headers=api.auth("leader"))
    assert r.status_code == 403
    r = await api.client.delete(f"/api/v1/cameras/{t1['id']}", headers=api.auth("t1_dispatcher"))
    assert r.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "lat": 30.0, "lon": 120.0, "source_url": "concat:/etc/passwd|/etc/hosts"},
        {"name": "x", "lat": 30.0, "lon": 120.0, "source_url": "ftp://10.0.0.1/cam"},
        {"name": "x", "lat": 30.0, "lon": 120.0, "source_url": "relative/file.mp4"},
        {"name": "x", "lat": 30.0, "lon": 120.0, "source_url": "wvp://10.0.0.1/only-device"},
        {"name": "x", "lat": 91, "lon": 120.0},
        {"name": "", "lat": 30.0, "lon": 120.0},
        {"name": "x", "lat": 30.0, "lon": 120.0, "tags": ["a" * 33]},
        {"name": "x", "lat": 30.0, "lon": 120.0, "grid_code": "330100001"},
    ],
)
async def test_bad_cameras_are_refused_with_422(api: Api, body: dict[str, Any]) -> None:
    r = await api.post("admin", "/api/v1/cameras", body)
    # a grid code that names no grid of yours is well-formed but fits no data: 409 unsuitable
    assert r.status_code == (409 if "grid_code" in body else 422), r.text
    assert r.json()["error"]


async def test_shell_metacharacters_are_data(api: Api, made: list[int], tmp_path) -> None:
    marker = tmp_path / "pwned"
    url = f"rtsp://127.0.0.1:{free_port()}/x;touch {marker};$(touch {marker})`touch {marker}`"
    cam = await create(api, made, source_url=url)
    status = await wait_status(api, cam["id"], {"offline", "error"})
    assert status["stream"]["reason"]
    assert not marker.exists()


async def test_csv_import_reports_rejected_rows(api: Api, made: list[int]) -> None:
    g1, g2 = api.grids[GRID_T1], api.grids[GRID_T2]
    text = (
        "name,lat,lon,source_url,grid_code,tags,enabled\n"
        f"人民路口,{g1.lat},{g1.lon},,{GRID_T1},路口;高点,true\n"
        f"东门,{g2.lat},{g2.lon},rtsp://u:p@10.9.9.9/main,,,false\n"
        f"坏坐标,abc,{g1.lon},,,,\n"
        f"坏源,{g1.lat},{g1.lon},concat:/etc/passwd,,,\n"
        f"未知网格,{g1.lat},{g1.lon},,999999,,\n"
        f",{g1.lat},{g1.lon},,,,\n"
        "远方,10.0,10.0,,,,\n"
    )
    r = await api.client.post(
        "/api/v1/cameras/import",
        content=text.encode(),
        headers={**api.auth("admin"), "Content-Type": "text/csv; charset=utf-8"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    made.extend(report["ids"])
    assert report["created"] == 2
    assert [row["line"] for row in report["rejected"]] == [4, 5, 6, 7, 8]
    assert all(row["error"] for row in report["rejected"])
    first = (await api.get("admin", f"/api/v1/cameras/{report['ids'][0]}")).json()
    second = (await api.get("admin", f"/api/v1/cameras/{report['ids'][1]}")).json()
    assert first["tags"] == ["路口", "高点"] and first["status"] == "no_source"
    assert second["enabled"] is False and second["source_url"] == "rtsp://u:***@10.9.9.9/main"
    assert second["grid_code"] == GRID_T2

    r = await api.client.post(
        "/api/v1/cameras/import", content=b"name,lat\nx,1\n", headers={**api.auth("admin"), "Content-Type": "text/csv"}
    )
    assert r.status_code == 422 and "lon" in r.json()["message"]
    r = await api.client.post("/api/v1/cameras/import", json={"name": "x"}, headers=api.auth("admin"))
    assert r.status_code == 415
    r = await api.client.post(
        "/api/v1/cameras/import", content=b"\xff\xfe", headers={**api.auth("t1_dispatcher"), "Content-Type": "text/csv"}
    )
    assert r.status_code == 403


async def test_snapshot_online_and_503_with_reason(api: Api, made: list[int]) -> None:
    live = await create(api, made, source_url=str(FOOTAGE))
    empty = await create(api, made, name="无源", source_url="")
    dead = await create(api, made, name="断线", source_url=f"rtsp://127.0.0.1:{free_port()}/x")
    await wait_status(api, live["id"], {"online"})
    r = await api.get("t1_dispatcher", f"/api/v1/cameras/{live['id']}/snapshot.jpg")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (576, 768, 3) and image.std() > 10  # a real picture, not a flat one
    # <img> tags send the token in the query
    r = await api.client.get(
        f"/api/v1/cameras/{live['id']}/snapshot.jpg", params={"token": api.tokens["t1_dispatcher"]}
    )
    assert r.status_code == 200
    assert (await api.get("t2_dispatcher", f"/api/v1/cameras/{live['id']}/snapshot.jpg")).status_code == 404
    assert (await api.client.get(f"/api/v1/cameras/{live['id']}/snapshot.jpg")).status_code == 401

    r = await api.get("admin", f"/api/v1/cameras/{empty['id']}/snapshot.jpg")
    assert r.status_code == 503 and r.json()["state"] == "no_source"
    await wait_status(api, dead["id"], {"offline"})
    r = await api.get("admin", f"/api/v1/cameras/{dead['id']}/snapshot.jpg")
    assert r.status_code == 503 and r.json()["state"] == "offline" and "refused" in r.json()["reason"]
