"""Hostile input found by fuzzing (schemathesis and by hand) gets a JSON 4xx, never a 5xx, on both engines.

Each case here answered 500 once: ids past the 32/64-bit columns, NaN/Infinity echoed in a 422, NUL that
PostgreSQL refuses in text and JSONB, lone surrogates no engine stores, times with no UTC equivalent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.conftest import Api

GRID = "330100001001001"
NUL, SURROGATE = "a\x00b", "a\ud800b"


async def _raw(api: Api, username: str, url: str, body: Any) -> httpx.Response:
    """POST ``body`` as JSON the way a hostile client may: NaN/Infinity literals, escaped NUL and surrogates."""
    return await api.client.post(
        url,
        content=json.dumps(body, allow_nan=True).encode(),
        headers={**api.auth(username), "Content-Type": "application/json"},
    )


def _refused(r: httpx.Response, status: int = 422) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] and r.json()["message"]


async def _unchanged(api: Api, event: dict[str, Any]) -> None:
    now = (await api.get("county_dispatcher", f"/api/v1/events/{event['id']}")).json()
    assert now["version"] == event["version"] and now["state"] == event["state"]
    assert len(now["timeline"]) == len(event["timeline"])


async def _in_progress(api: Api) -> dict[str, Any]:
    ev = await api.report()
    ev = await api.act("t1_dispatcher", ev, "accept")
    ev = await api.act("t1_dispatcher", ev, "assign", assignee_id=api.user_ids["t1_worker"])
    return await api.act("t1_worker", ev, "sign")


async def test_huge_integers_are_422(api: Api) -> None:
    for page in (2**31, 2**63, 10**30):
        _refused(await api.get("admin", "/api/v1/cameras", params={"page": page}))
        _refused(await api.get("t1_dispatcher", "/api/v1/events", params={"view": "pending", "page": page}))
    _refused(await api.get("t1_dispatcher", f"/api/v1/events/{2**63}"))
    report = {"title": "人民路暴露垃圾", "category_code": "010101", "grid_code": GRID}
    for camera_id in (2**31, 2**63, 0):
        _refused(await _raw(api, "t1_worker", "/api/v1/events", {**report, "camera_id": camera_id}))
    ev = await api.act("t1_dispatcher", await api.report(), "accept")
    for assignee_id in (2**31, 2**40, 2**63, -1):
        for action in ("assign", "transfer"):
            body = {"version": ev["version"], "assignee_id": assignee_id}
            _refused(await _raw(api, "t1_dispatcher", f"/api/v1/events/{ev['id']}/{action}", body))
    await _unchanged(api, ev)


async def test_nan_and_infinity_are_422(api: Api) -> None:
    report = {"title": "人民路暴露垃圾", "category_code": "010101", "grid_code": GRID}
    for bad in (float("nan"), float("inf"), float("-inf")):
        _refused(await _raw(api, "t1_worker", "/api/v1/events", {**report, "lat": bad, "lon": 120.0}))
        _refused(await _raw(api, "t1_worker", "/api/v1/events", {**report, "lat": 30.0, "lon": bad}))
        camera = {"name": "路口", "lat": bad, "lon": 120.0}
        _refused(await _raw(api, "admin", "/api/v1/cameras", camera))
    r = await api.client.post(
        "/api/v1/events",
        content=b'{"title": "xx", "category_code": "010101", "lat": 1e999, "lon": NaN}',
        headers={**api.auth("t1_worker"), "Content-Type": "application/json"},
    )
    _refused(r)
    assert {e["input"] for e in r.json()["errors"]} <= {"inf", "nan"}
    ev = await api.act("t1_dispatcher", await api.report(), "accept")
    for hours in (float("nan"), float("inf")):
        body = {"version": ev["version"], "assignee_id": api.user_ids["t1_worker"], "deadline_hours": hours}
        _refused(await _raw(api, "t1_dispatcher", f"/api/v1/events/{ev['id']}/assign", body))
    for radius in ("nan", "inf", "-inf", "1e999"):
        _refused(await api.get("t1_dispatcher", f"/api/v1/events/{ev['id']}/nearby", params={"radius_m": radius}))
    await _unchanged(api, ev)


async def test_nul_and_lone_surrogates_in_text_are_422(api: Api) -> None:
    report = {"title": "人民路暴露垃圾", "category_code": "010101", "grid_code": GRID}
    for bad in (NUL, SURROGATE):
        for field in ("title", "description", "address", "grid_code", "category_code"):
            _refused(await _raw(api, "t1_worker", "/api/v1/events", {**report, field: bad}))
        for attachment in ({"url": bad}, {"url": "/media/a.jpg", "name": bad}):
            _refused(await _raw(api, "t1_worker", "/api/v1/events", {**report, "attachments": [attachment]}))
        _refused(await _raw(api, "t1_worker", "/api/v1/events", {**report, "urgency": bad}))
    ev = await api.report()
    url = f"/api/v1/events/{ev['id']}"
    for bad in (NUL, SURROGATE):
        for action, body in (
            ("accept", {"note": bad}),
            ("accept", {"category_code": bad}),
            ("reject", {"reason": bad}),
            ("tag", {"tags": ["ok", bad]}),
            ("comment", {"note": bad}),
            ("comment", {"note": "ok", "attachments": [{"url": bad}]}),
        ):
            _refused(await _raw(api, "t1_dispatcher", f"{url}/{action}", {"version": ev["version"], **body}))
        _refused(await _raw(api, "admin", "/api/v1/cameras", {"name": bad, "lat": 30.0, "lon": 120.0}))
        camera = {"name": "路口", "lat": 30.0, "lon": 120.0, "source_url": bad}
        _refused(await _raw(api, "admin", "/api/v1/cameras", camera))
        r = await api.client.post("/api/v1/auth/login", content=json.dumps({"username": bad, "password": "x"}))
        _refused(r)
    for params in ({"q": NUL}, {"category_code": NUL}):
        _refused(await api.get("t1_dispatcher", "/api/v1/events", params={"view": "pending", **params}))
    _refused(await api.get("t1_dispatcher", "/api/v1/stats/events", params={"jurisdiction": NUL}))
    await _unchanged(api, ev)
    # Ordinary non-ASCII text (CJK, emoji: surrogate pairs in JSON escapes) is still taken.
    ev = await _raw(api, "t1_worker", "/api/v1/events", {**report, "title": "井盖缺失 \U0001f6a7"})
    assert ev.status_code == 201 and ev.json()["title"] == "井盖缺失 \U0001f6a7"


async def test_times_without_a_utc_equivalent_are_422(api: Api) -> None:
    for params in (
        {"created_from": "0001-01-01T00:00:00"},  # read in Asia/Shanghai: before year 1 in UTC
        {"created_from": "0001-01-01T00:00:00+14:00"},
        {"created_to": "9999-12-31T23:59:59-14:00"},
    ):
        r = await api.get("t1_dispatcher", "/api/v1/events", params={"view": "pending", **params})
        _refused(r)
        assert r.json()["field"] in params
    r = await api.get(
        "t1_dispatcher", "/api/v1/events", params={"view": "pending", "created_to": "9999-12-31T00:00:00Z"}
    )
    assert r.status_code == 200
    for params in ({"start": "0001-01-01", "end": "0001-01-02"}, {"start": "9999-12-30", "end": "9999-12-31"}):
        _refused(await api.get("county_dispatcher", "/api/v1/stats/events", params=params))
    ev = await _in_progress(api)
    for until in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        body = {"version": ev["version"], "until": until, "reason": "需协调物业"}
        _refused(await _raw(api, "t1_worker", f"/api/v1/events/{ev['id']}/extend", body))
    await _unchanged(api, ev)


async def test_wrong_content_types_and_deep_json_are_4xx(api: Api) -> None:
    ev = await api.report()
    url = f"/api/v1/events/{ev['id']}/accept"
    body = json.dumps({"version": ev["version"]}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml", ""):
        r = await api.client.post(
            url, content=body, headers={**api.auth("t1_dispatcher"), "Content-Type": content_type}
        )
        assert 400 <= r.status_code < 500, (content_type, r.status_code, r.text)
    r = await api.client.post(url, files={"version": (None, "1")}, headers=api.auth("t1_dispatcher"))
    assert 400 <= r.status_code < 500, r.text
    for deep in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        r = await api.client.post(
            url, content=deep, headers={**api.auth("t1_dispatcher"), "Content-Type": "application/json"}
        )
        assert 400 <= r.status_code < 500, r.text
    r = await api.client.post(
        url,
        content='{"version": 1, "note": "\xe9"}'.encode("latin-1"),
        headers={**api.auth("t1_dispatcher"), "Content-Type": "application/json"},
    )
    assert 400 <= r.status_code < 500, r.text
    await _unchanged(api, ev)
    # UTF-16 is JSON too (RFC 8259 readers may detect it): taken, not a crash.
    r = await api.client.post(
        url,
        content=body.decode().encode("utf-16"),
        headers={**api.auth("t1_dispatcher"), "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text


async def test_concurrent_conflicting_actions_one_wins_the_rest_409(api: Api) -> None:
    ev = await api.report()
    url = f"/api/v1/events/{ev['id']}"
    bodies = {
        "accept": {},
        "reject": {"reason": "重复上报"},
        "urge": {},
        "tag": {"tags": ["x"]},
        "comment": {"note": "n"},
    }
    actions = list(bodies) * 4
    replies = await asyncio.gather(
        *(api.post("t1_dispatcher", f"{url}/{a}", {"version": ev["version"], **bodies[a]}) for a in actions)
    )
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] + [409] * (len(actions) - 1), [
        (a, r.status_code, r.text[:80]) for a, r in zip(actions, replies, strict=True)
    ]
    assert {r.json()["error"] for r in replies if r.status_code == 409} <= {"stale_version", "illegal_transition"}
    now = (await api.get("t1_dispatcher", url)).json()
    assert now["version"] == ev["version"] + 1 and len(now["timeline"]) == len(ev["timeline"]) + 1
