"""周边资源 around any point (GET /api/v1/nearby), on SQLite and PostgreSQL: nearest first with distances,
bounded lists with their totals, and the visibility rules of the event's nearby search (issue 9)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from dispatch.geo import haversine_m
from dispatch.models import User
from tests.conftest import Api
from tests.county import USERS

#: A spot of town 1 (grid 330100001001002) that no other test reports at.
SPOT = (30.0137, 120.0123)
TOWN1 = "330100001"


@pytest.fixture
async def placed(api: Api) -> AsyncIterator[list[str]]:
    """Responders the test moved, put back at their grid's centre afterwards (where tests/county.py puts them)."""
    users: list[str] = []
    yield users
    for user in users:
        home = api.grids[USERS[user][1]]
        await place(api, user, home.lat, home.lon)


@pytest.fixture
async def cameras(api: Api) -> AsyncIterator[list[int]]:
    """Camera ids the test made, deleted afterwards (the session's app is shared)."""
    ids: list[int] = []
    yield ids
    for camera_id in ids:
        await api.client.delete(f"/api/v1/cameras/{camera_id}", headers=api.auth("admin"))


async def add_camera(api: Api, made: list[int], name: str, lat: float, lon: float) -> int:
    r = await api.post("admin", "/api/v1/cameras", {"name": name, "lat": lat, "lon": lon})
    assert r.status_code == 201, r.text
    made.append(r.json()["id"])
    return r.json()["id"]


async def search(api: Api, user: str, lat: float, lon: float, **params: Any) -> dict[str, Any]:
    r = await api.get(user, "/api/v1/nearby", params={"lat": lat, "lon": lon, **params})
    assert r.status_code == 200, r.text
    return r.json()


async def place(api: Api, user: str, lat: float, lon: float) -> None:
    r = await api.client.put("/api/v1/me/position", json={"lat": lat, "lon": lon}, headers=api.auth(user))
    assert r.status_code == 204, r.text


async def test_everything_around_a_point_nearest_first(api: Api, cameras: list[int], placed: list[str]) -> None:
    lat, lon = SPOT
    near = await add_camera(api, cameras, "幸福路口", lat + 0.0005, lon)  # ~56 m north
    far = await add_camera(api, cameras, "人民路口", lat - 0.002, lon)  # ~222 m south
    placed.append("t1_worker2")
    await place(api, "t1_worker2", lat, lon + 0.001)  # ~96 m east
    event = await api.report("t1_dispatcher", grid_code=None, lat=lat + 0.0001, lon=lon + 0.0001)

    body = await search(api, "t1_dispatcher", lat, lon, radius_m=500)
    assert body["kinds"] == ["cameras", "responders", "centres", "events"]
    assert (body["lat"], body["lon"], body["radius_m"]) == (lat, lon, 500)
    cams = body["cameras"]["items"]
    ids = [c["id"] for c in cams]
    assert ids.index(near) < ids.index(far) and body["cameras"]["total"] == len(cams)
    first = cams[ids.index(near)]
    assert first["name"] == "幸福路口" and first["status"] == "no_source"
    assert abs(first["distance_m"] - haversine_m(lat, lon, lat + 0.0005, lon)) < 0.2
    people = {p["id"]: p for p in body["responders"]["items"]}
    assert people[api.user_ids["t1_worker2"]]["distance_m"] == pytest.approx(96, abs=2)
    events = {e["id"]: e for e in body["events"]["items"]}
    assert events[event["id"]]["state"] == "pending" and events[event["id"]]["distance_m"] < 20
    for kind in ("cameras", "responders", "centres", "events"):
        distances = [x["distance_m"] for x in body[kind]["items"]]
        assert distances == sorted(distances) and all(d <= 500 for d in distances), kind

    assert (await search(api, "t1_dispatcher", lat, lon))["radius_m"] == 1000, "the default radius"
    centres = (await search(api, "t1_dispatcher", lat, lon, radius_m=3000, kinds="centres"))["centres"]["items"]
    assert {TOWN1, "330100001001"} <= {c["code"] for c in centres}


async def test_kinds_choose_the_lists(api: Api) -> None:
    lat, lon = SPOT
    body = await search(api, "t1_dispatcher", lat, lon, kinds="events,cameras")
    assert body["kinds"] == ["cameras", "events"]
    assert body["responders"] is None and body["centres"] is None
    assert isinstance(body["cameras"]["items"], list) and isinstance(body["events"]["total"], int)


async def test_each_list_is_bounded_and_says_its_total(api: Api, cameras: list[int]) -> None:
    lat, lon = SPOT
    rows = "".join(f"路口{i},{lat + i * 0.00001},{lon}\n" for i in range(55))
    r = await api.client.post(
        "/api/v1/cameras/import",
        content=("name,lat,lon\n" + rows).encode(),
        headers={**api.auth("admin"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 200 and r.json()["created"] == 55, r.text
    cameras.extend(r.json()["ids"])
    found = (await search(api, "county_dispatcher", lat, lon, radius_m=100, kinds="cameras"))["cameras"]
    assert len(found["items"]) == 50 and found["total"] >= 55
    assert [c["name"] for c in found["items"][:3]] == ["路口0", "路口1", "路口2"]


async def test_nothing_of_another_town(api: Api, cameras: list[int], placed: list[str]) -> None:
    lat, lon = SPOT
    await add_camera(api, cameras, "幸福路口", lat, lon)
    placed.append("t1_worker2")
    await place(api, "t1_worker2", lat, lon)
    await api.report("t1_dispatcher", grid_code=None, lat=lat, lon=lon)

    mine = await search(api, "t1_dispatcher", lat, lon, radius_m=20_000)
    assert mine["cameras"]["total"] and mine["responders"]["total"] and mine["events"]["total"]

    other = await search(api, "t2_dispatcher", lat, lon, radius_m=20_000)
    assert all(not c["grid_code"].startswith(TOWN1) for c in other["cameras"]["items"])
    assert all(not p["jurisdiction_code"].startswith(TOWN1) for p in other["responders"]["items"])
    assert all(not c["code"].startswith(TOWN1) for c in other["centres"]["items"])
    assert all(not (e["grid_code"] or "").startswith(TOWN1) for e in other["events"]["items"])
    assert {c["code"] for c in other["centres"]["items"]} >= {"330100", "330100002"}, "their own tree and above"

    close = await search(api, "t2_dispatcher", lat, lon, radius_m=300)  # inside town 1 only
    assert all(close[kind]["total"] == 0 for kind in ("cameras", "responders", "events"))


async def test_phones_only_to_those_who_dispatch(api: Api, placed: list[str]) -> None:
    lat, lon = SPOT
    placed.extend(["t1_worker2", "t1_worker"])
    async with api.app.state.session_factory() as session:
        await session.execute(update(User).where(User.id == api.user_ids["t1_worker2"]).values(phone="13800000002"))
        await session.commit()
    await place(api, "t1_worker2", lat, lon)
    await place(api, "t1_worker", lat, lon + 0.0005)

    def phones(body: dict[str, Any]) -> dict[int, str | None]:
        return {p["id"]: p["phone"] for p in body["responders"]["items"]}

    dispatcher = phones(await search(api, "t1_dispatcher", lat, lon, kinds="responders"))
    assert dispatcher[api.user_ids["t1_worker2"]] == "13800000002"
    assert phones(await search(api, "admin", lat, lon, kinds="responders"))[api.user_ids["t1_worker2"]]
    worker = phones(await search(api, "t1_worker", lat, lon, kinds="responders"))
    assert worker and all(phone is None for phone in worker.values()), "a grid worker gets no phones"
    leader = phones(await search(api, "t1_leader", lat, lon, kinds="responders"))
    assert api.user_ids["t1_worker2"] in leader and all(phone is None for phone in leader.values())


@pytest.mark.parametrize(
    "params",
    [
        {"lat": 91, "lon": 120},
        {"lat": -90.5, "lon": 120},
        {"lat": 30, "lon": 180.01},
        {"lat": "nan", "lon": 120},
        {"lat": 30, "lon": "inf"},
        {"lat": 30, "lon": "-Infinity"},
        {"lat": "1e999", "lon": 120},
        {"lat": 30, "lon": 120, "radius_m": 0},
        {"lat": 30, "lon": 120, "radius_m": 20_001},
        {"lat": 30, "lon": 120, "radius_m": "nan"},
        {"lat": 30, "lon": 120, "kinds": "cameras,tanks"},
        {"lat": 30, "lon": 120, "kinds": ""},
        {"lat": 30, "lon": 120, "kinds": "cameras,"},
        {"lat": "北纬30", "lon": 120},
        {"lon": 120},
    ],
)
async def test_bad_input_is_422_with_a_message(api: Api, params: dict[str, Any]) -> None:
    r = await api.get("t1_dispatcher", "/api/v1/nearby", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["message"]


async def test_unknown_kind_is_named(api: Api) -> None:
    r = await api.get("t1_dispatcher", "/api/v1/nearby", params={"lat": 30, "lon": 120, "kinds": "cameras,tanks"})
    assert r.status_code == 422 and "'tanks'" in r.json()["message"] and "responders" in r.json()["message"]


async def test_login_required(api: Api) -> None:
    assert (await api.client.get("/api/v1/nearby", params={"lat": 30, "lon": 120})).status_code == 401
