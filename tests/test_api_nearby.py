"""事件图搜 shows people only inside the caller's jurisdiction, and their phones only to those who dispatch
(issue 6, item 7)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from dispatch.models import User
from tests.conftest import Api


async def nearby(api: Api, username: str, event: dict[str, Any]) -> dict[int, dict[str, Any]]:
    r = await api.get(username, f"/api/v1/events/{event['id']}/nearby", params={"radius_m": 20_000})
    assert r.status_code == 200, r.text
    return {p["id"]: p for p in r.json()["responders"]}


async def test_people_inside_the_subtree_and_phones_to_dispatchers(api: Api) -> None:
    ids = api.user_ids
    async with api.app.state.session_factory() as session:
        for name, phone in (("t1_worker", "13800000001"), ("t1_worker2", "13800000002"), ("t2_worker", "13800000003")):
            await session.execute(update(User).where(User.id == ids[name]).values(phone=phone))
        await session.commit()
    event = await api.report("t1_worker")  # town 1; 20 km reaches every responder of the county

    county = await nearby(api, "county_dispatcher", event)
    assert {ids["t1_worker"], ids["t1_worker2"], ids["t2_worker"]} <= county.keys()
    assert county[ids["t2_worker"]]["phone"] == "13800000003"

    town = await nearby(api, "t1_dispatcher", event)
    assert {ids["t1_worker"], ids["t1_worker2"]} <= town.keys()
    assert ids["t2_worker"] not in town, "a responder of the other town is not shown"
    assert town[ids["t1_worker2"]]["phone"] == "13800000002", "dispatchers call responders"

    leader = await nearby(api, "t1_leader", event)
    assert ids["t2_worker"] not in leader and ids["t1_worker2"] in leader
    assert all(p["phone"] is None for p in leader.values()), "leaders see positions, not phones"

    worker = await nearby(api, "t1_worker", event)  # the reporter: their own grid only
    assert set(worker) == {ids["t1_worker"]} and worker[ids["t1_worker"]]["phone"] is None

    admin = await nearby(api, "admin", event)
    assert admin[ids["t2_worker"]]["phone"] == "13800000003"
