"""One event through every action and every list view, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from dispatch.workflow import EVENT_ACTIONS
from tests.conftest import Api

GRID = "330100001001001"


async def test_full_lifecycle_through_every_action_and_view(api: Api) -> None:
    worker, worker2, disp = "t1_worker", "t1_worker2", "t1_dispatcher"
    worker_id, worker2_id = api.user_ids[worker], api.user_ids[worker2]

    ev = await api.report(worker, title="幸福路12号门口垃圾堆放", urgency="urgent")
    assert ev["state"] == "pending" and ev["version"] == 1
    assert ev["handling_code"] == "330100001" and ev["grid_code"] == GRID
    assert ev["timeline"][0]["action"] == "report"
    assert ev["id"] in await api.view(disp, "pending")
    assert ev["id"] in await api.view("county_dispatcher", "pending")
    assert ev["id"] in await api.view(worker, "my_done")

    ev = await api.act(disp, ev, "tag", tags=["环境", "重点"])
    assert ev["tags"] == ["环境", "重点"] and ev["state"] == "pending"
    ev = await api.act(disp, ev, "accept", note="属实")
    assert ev["state"] == "accepted" and ev["deadline_at"] is not None
    assert ev["id"] in await api.view(disp, "my_todo")
    assert ev["id"] in await api.view(disp, "area_in_progress")
    assert ev["id"] not in await api.view(disp, "pending")

    ev = await api.act(disp, ev, "assign", assignee_id=worker_id)
    assert ev["state"] == "assigned" and ev["assignee_id"] == worker_id
    assert ev["id"] in await api.view(worker, "my_todo")
    ev = await api.act(worker, ev, "return", reason="不在本网格")
    assert ev["state"] == "accepted" and ev["assignee_id"] is None
    ev = await api.act(disp, ev, "assign", assignee_id=worker_id, deadline_hours=12)
    ev = await api.act(disp, ev, "urge", note="请尽快签收")
    assert ev["urge_count"] == 1
    ev = await api.act(worker, ev, "transfer", assignee_id=worker2_id, note="属于邻近网格")
    assert ev["state"] == "assigned" and ev["assignee_id"] == worker2_id
    assert ev["id"] in await api.view(worker2, "my_todo")
    assert ev["id"] not in await api.view(worker, "my_todo")
    ev = await api.act(worker2, ev, "sign")
    assert ev["state"] == "in_progress"

    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    ev = await api.act(worker2, ev, "extend", until=until, reason="需协调物业")
    assert ev["extension_pending"] is True
    assert ev["id"] in await api.view(disp, "extensions")
    assert ev["id"] in await api.view(worker2, "extensions")
    old_deadline = ev["deadline_at"]
    ev = await api.act(disp, ev, "approve_extension", approved=True)
    assert ev["extension_pending"] is False and ev["deadline_at"] != old_deadline
    assert ev["extensions"][0]["status"] == "approved"

    photo = [{"url": "/media/photos/after.jpg", "kind": "photo"}]
    ev = await api.act(worker2, ev, "handle", result="已联系环卫清运", attachments=photo)
    assert ev["state"] == "pending_verify"
    assert ev["id"] in await api.view(disp, "my_verify")
    assert ev["id"] in await api.view(disp, "area_verify")
    ev = await api.act(disp, ev, "verify", passed=False, note="现场仍有残留")
    assert ev["state"] == "in_progress"
    ev = await api.act(worker2, ev, "handle", result="残留已清理", attachments=photo)
    ev = await api.act(disp, ev, "verify", passed=True)
    assert ev["state"] == "closed" and ev["closed_at"] is not None
    assert ev["resolution_level"] == "grid"
    assert ev["id"] in await api.view(disp, "area_closed")
    assert ev["id"] in await api.view(worker, "my_closed")
    ev = await api.act(worker, ev, "evaluate", rating=5)
    assert ev["rating"] == 5
    ev = await api.act(worker, ev, "comment", note="居民表示满意")

    actions = [row["action"] for row in ev["timeline"]]
    assert actions == [
        "report", "tag", "accept", "assign", "return", "assign", "urge", "transfer", "sign", "extend",
        "approve_extension", "handle", "verify", "handle", "verify", "evaluate", "comment",
    ]  # fmt: skip
    assert all(row["actor_name"] for row in ev["timeline"])
    assert ev["timeline"][2]["from_state"] == "pending" and ev["timeline"][2]["to_state"] == "accepted"
    assert len(ev["attachments"]) == 2


async def test_reject_reopen_escalate_and_refused_extension(api: Api) -> None:
    disp, county = "t1_dispatcher", "county_dispatcher"
    ev = await api.report("t1_worker", title="疑似违建")
    ev = await api.act(disp, ev, "reject", reason="重复上报")
    assert ev["state"] == "rejected" and ev["reject_reason"] == "重复上报"
    assert ev["id"] in await api.view(disp, "rejected")
    ev = await api.act(disp, ev, "reopen")
    assert ev["state"] == "pending"

    ev = await api.act(disp, ev, "accept")
    ev = await api.act(disp, ev, "escalate", note="需区级部门处置")
    assert ev["state"] == "accepted" and ev["handling_code"] == "330100"
    # The town no longer owns it; the county does.
    r = await api.post(disp, f"/api/v1/events/{ev['id']}/assign", {"version": ev["version"], "assignee_id": 1})
    assert r.status_code == 403
    assert ev["id"] in await api.view(county, "my_todo")
    ev = await api.act(county, ev, "assign", assignee_id=api.user_ids["county_dept"])
    refused = await api.act(county, ev, "escalate", expect=409)  # the county is the top of the tree
    assert "top of the tree" in refused["message"]

    ev = (await api.get(county, f"/api/v1/events/{ev['id']}")).json()
    ev = await api.act("county_dept", ev, "sign")
    until = (datetime.now(UTC) + timedelta(days=9)).isoformat()
    ev = await api.act("county_dept", ev, "extend", until=until, reason="等待审批")
    await api.act("county_dept", ev, "extend", until=until, reason="再次", expect=409)
    ev = (await api.get(county, f"/api/v1/events/{ev['id']}")).json()
    ev = await api.act("leader", ev, "approve_extension", approved=False)
    assert ev["extensions"][-1]["status"] == "refused" and ev["extension_pending"] is False
    ev = await api.act("county_dept", ev, "handle", result="已拆除")
    ev = await api.act(county, ev, "verify", passed=True)
    assert ev["resolution_level"] == "county"


async def test_leader_urges_and_detail_offers_allowed_actions(api: Api) -> None:
    ev = await api.report("t1_worker")
    detail = (await api.get("t1_dispatcher", f"/api/v1/events/{ev['id']}")).json()
    assert set(detail["allowed_actions"]) == {"accept", "reject", "urge", "tag", "comment"}
    assert (await api.get("t1_worker", f"/api/v1/events/{ev['id']}")).json()["allowed_actions"] == ["comment"]
    ev = await api.act("t1_leader", ev, "urge")
    assert ev["urge_count"] == 1
    await api.act("t1_leader", ev, "accept", expect=403)


async def test_every_action_has_a_route_in_openapi(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    for action in EVENT_ACTIONS:
        assert f"/api/v1/events/{{event_id}}/{action.value}" in spec["paths"], action
    for path in ("/api/v1/auth/login", "/api/v1/jurisdictions", "/api/v1/events", "/api/v1/events/{event_id}/nearby"):
        assert path in spec["paths"]
    report_schema = spec["components"]["schemas"]["ReportIn"]
    assert report_schema.get("examples"), "the report body documents an example"


async def test_deadline_warnings(api: Api) -> None:
    ev = await api.report("t1_worker", urgency="critical")
    ev = await api.act("t1_dispatcher", ev, "accept")
    ev = await api.act("t1_dispatcher", ev, "assign", assignee_id=api.user_ids["t1_worker"], deadline_hours=0.0001)
    await asyncio.sleep(0.5)  # the 0.36 s time limit runs out
    items = (await api.get("t1_dispatcher", "/api/v1/events", params={"view": "area_in_progress"})).json()["items"]
    assert next(e for e in items if e["id"] == ev["id"])["warning"] == "red"
    deadline = datetime.fromisoformat(ev["deadline_at"])
    warn_from = deadline - timedelta(hours=0.0001 * 0.2)
    assert warn_from > datetime.fromisoformat(ev["timeline"][-1]["created_at"]) - timedelta(seconds=1)


async def test_nearby_resources(api: Api) -> None:
    ev = await api.report("t1_worker")
    r = await api.get("t1_dispatcher", f"/api/v1/events/{ev['id']}/nearby", params={"radius_m": 3000})
    assert r.status_code == 200, r.text
    body = r.json()
    distances = [x["distance_m"] for x in body["responders"]]
    assert distances == sorted(distances) and all(d <= 3000 for d in distances)
    assert api.user_ids["t1_worker"] in [x["id"] for x in body["responders"]]
    assert any(c["level"] == "town" for c in body["centres"])
    r = await api.get("t1_dispatcher", f"/api/v1/events/{ev['id']}/nearby", params={"radius_m": -5})
    assert r.status_code == 422


async def test_report_located_by_position(api: Api) -> None:
    grid = api.grids["330100001002002"]
    ev = await api.report("t1_dispatcher", grid_code=None, lat=grid.lat, lon=grid.lon)
    assert ev["grid_code"] == grid.code and ev["village_code"] == "330100001002"
    r = await api.post(
        "t1_dispatcher",
        "/api/v1/events",
        {"title": "远处事件", "category_code": "010101", "lat": 10.0, "lon": 10.0},
    )
    assert r.status_code == 409 and r.json()["error"] == "unsuitable"


async def test_jurisdictions_and_categories(api: Api) -> None:
    nodes = (await api.get("t1_dispatcher", "/api/v1/jurisdictions")).json()
    codes = {n["code"] for n in nodes}
    assert "330100" in codes and "330100001" in codes and "330100002" not in codes
    assert {n["level"] for n in nodes} == {"county", "town", "village", "grid"}
    assert all({"code", "name", "level", "parent"} <= n.keys() for n in nodes)
    geo = (await api.get("t1_dispatcher", "/api/v1/jurisdictions.geojson", params={"level": "grid"})).json()
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 4
    tree = (await api.get("t1_worker", "/api/v1/categories")).json()
    assert tree and tree[0]["minors"][0]["items"]


async def test_a_work_queue_lists_the_most_overdue_first(api: Api) -> None:
    """sort=deadline: the earliest deadline first (the most overdue on top), events without one last."""
    first = await api.report(title="排序甲")
    second = await api.report(title="排序乙")
    third = await api.report(title="排序丙")
    mine = {first["id"], second["id"], third["id"]}
    by_deadline = [i for i in await api.view("t1_dispatcher", "pending", sort="deadline") if i in mine]
    newest = [i for i in await api.view("t1_dispatcher", "pending") if i in mine]
    assert newest == [third["id"], second["id"], first["id"]]
    assert by_deadline == [first["id"], second["id"], third["id"]]
    # the whole page in deadline order (the same zone in every timestamp: strings compare as times)
    events = await api.get("t1_dispatcher", "/api/v1/events", params={"view": "pending", "sort": "deadline"})
    deadlines = [e["deadline_at"] for e in events.json()["items"]]
    assert [d for d in deadlines if d] == sorted(d for d in deadlines if d)
    r = await api.get("t1_dispatcher", "/api/v1/events", params={"view": "pending", "sort": "oldest"})
    assert r.status_code == 422
