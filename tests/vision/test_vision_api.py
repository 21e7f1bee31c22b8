"""Rules over the API (admins, validated, 422 with the reason) and config/vision.yaml, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api

ZONE = [[0.1, 0.1], [0.6, 0.1], [0.6, 0.7], [0.1, 0.7]]


async def _camera(api: Api, grid: str = "330100001001001") -> int:
    body = {"name": "规则测试", "lat": 30.005, "lon": 120.005, "grid_code": grid}
    r = await api.post("admin", "/api/v1/cameras", body)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _patch(api: Api, url: str, body: Any, user: str = "admin") -> Any:
    return await api.client.patch(url, json=body, headers=api.auth(user))


async def test_rule_crud_by_admins(api: Api) -> None:
    camera = await _camera(api)
    url = f"/api/v1/cameras/{camera}/rules"
    body = {"name": "夜间逗留", "kind": "loitering", "zone": ZONE, "dwell_s": 30, "active_hours": ["22:00-06:00"]}
    r = await api.post("admin", url, body)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["origin"] == "api" and rule["zone"] == ZONE and rule["cooldown_s"] == 300
    r = await _patch(api, f"{url}/{rule['id']}", {"dwell_s": 60, "urgency": "urgent"})
    assert r.status_code == 200 and r.json()["dwell_s"] == 60 and r.json()["urgency"] == "urgent"
    listed = (await api.get("admin", url)).json()
    assert [x["id"] for x in listed["items"]] == [rule["id"]]
    # Not an admin: refused; the other camera's id: not found.
    assert (await api.post("t1_dispatcher", url, body)).status_code == 403
    assert (await api.get("admin", f"/api/v1/cameras/{camera}/rules/{rule['id']}")).status_code in (404, 405)
    other = await _camera(api)
    assert (await _patch(api, f"/api/v1/cameras/{other}/rules/{rule['id']}", {"dwell_s": 5})).status_code == 404
    r = await api.client.delete(f"{url}/{rule['id']}", headers=api.auth("admin"))
    assert r.status_code == 204
    assert (await api.client.delete(f"{url}/{rule['id']}", headers=api.auth("admin"))).status_code == 404
    assert (await api.get("admin", "/api/v1/cameras/999999/rules")).status_code == 404
    # Every change is in the audit trail (C1), with who did it and to what.
    from sqlalchemy import select

    from dispatch.audit import AuditEntry
    from hub.db import create_session_factory

    app = api.client._transport.app  # type: ignore[attr-defined]
    target = f"camera:{camera}/rule:{rule['id']}"
    async with create_session_factory(app.state.engine)() as db:
        rows = list(await db.scalars(select(AuditEntry).where(AuditEntry.target == target).order_by(AuditEntry.seq)))
    assert [(r.kind, r.actor_name) for r in rows] == [
        ("rule.create", "admin"),
        ("rule.update", "admin"),
        ("rule.delete", "admin"),
    ]


async def test_bad_rules_are_422_with_the_reason(api: Api) -> None:
    camera = await _camera(api)
    url = f"/api/v1/cameras/{camera}/rules"
    cases = [
        ({"zone": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]}, "crosses itself"),
        ({"zone": [[0.1, 0.1], [1.5, 0.1], [0.5, 0.8]]}, "outside the frame"),
        ({"zone": [[0.1, 0.1], [0.2, 0.2]]}, "at least 3 points"),
        ({"kind": "line"}, "needs line"),
        ({"kind": "line", "line": [[0.5, 0.5], [0.5, 0.5]]}, "the same"),
        ({"dwell_s": 0, "kind": "loitering"}, "dwell_s > 0"),
        ({"active_hours": ["25:00-26:00"]}, "HH:MM-HH:MM"),
        ({"min_score": 1.5}, "min_score"),
    ]
    for change, message in cases:
        body = {"name": "坏规则", "kind": "intrusion", **change}
        r = await api.post("admin", url, body)
        assert r.status_code == 422, (change, r.text)
        assert message in r.json()["message"], (change, r.json()["message"])
    r = await api.post("admin", url, {"name": "x", "kind": "intrusion", "category_code": "999999"})
    assert r.status_code == 422 and "category_code" in r.json()["message"]
    # A patch that would make the whole rule invalid is refused too, and the rule is unchanged.
    rule = (await api.post("admin", url, {"name": "ok", "kind": "intrusion", "zone": ZONE})).json()
    r = await _patch(api, f"{url}/{rule['id']}", {"zone": [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]})
    assert r.status_code == 422 and "crosses itself" in r.json()["message"]
    assert (await api.get("admin", url)).json()["items"][0]["zone"] == ZONE


async def test_config_rules_are_synced_and_read_only(api: Api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hub.db import create_session_factory
    from vision import store

    camera = await _camera(api)
    (tmp_path / "vision.yaml").write_text(
        f"rules:\n  - camera: {camera}\n    name: 广场聚集\n    kind: crowd\n    max_count: 10\n"
        f"  - camera: 999999\n    name: 不存在的摄像头\n    kind: intrusion\n",
        encoding="utf-8",
    )
    app = api.client._transport.app  # type: ignore[attr-defined]
    session_factory = create_session_factory(app.state.engine)
    async with session_factory() as db:
        assert await store.sync_config(db, tmp_path, app.state.taxonomy) == 1
    items = (await api.get("admin", f"/api/v1/cameras/{camera}/rules")).json()["items"]
    assert [(x["name"], x["origin"], x["max_count"]) for x in items] == [("广场聚集", "config", 10)]
    r = await _patch(api, f"/api/v1/cameras/{camera}/rules/{items[0]['id']}", {"max_count": 3})
    assert r.status_code == 409 and "vision.yaml" in r.json()["message"]
    bad = f"rules:\n  - camera: {camera}\n    name: 坏\n    kind: crowd\n    zone: [[0, 0]]\n"
    (tmp_path / "vision.yaml").write_text(bad, encoding="utf-8")
    async with session_factory() as db:
        try:
            await store.sync_config(db, tmp_path, app.state.taxonomy)
        except ValueError as exc:
            assert "vision.yaml" in str(exc) and "坏" in str(exc)
        else:
            raise AssertionError("a bad config rule must be an error naming the file")
