"""The source of a report is set by the reporting account, not claimed in the body (issue 6, item 8),
and service accounts (contract C3): a detection worker's, the 12345 hotline gateway's."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from dispatch import service, users
from dispatch.errors import Conflict
from dispatch.models import Role, Source
from dispatch.schemas import ReportIn
from tests.conftest import Api

GRID = "330100001001001"


async def report(api: Api, username: str, expect: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"title": "来源测试", "category_code": "010101", "grid_code": GRID, **fields}
    r = await api.post(username, "/api/v1/events", body)
    assert r.status_code == expect, r.text
    return r.json()


async def count_events(api: Api, username: str) -> int:
    r = await api.get(username, "/api/v1/events", params={"view": "pending", "page_size": 1})
    return int(r.json()["total"])


async def test_the_account_sets_the_source(api: Api) -> None:
    assert (await report(api, "t1_worker"))["source"] == "grid_worker"
    assert (await report(api, "t1_worker", source="citizen"))["source"] == "citizen", "relayed for a resident"
    assert (await report(api, "t1_dispatcher"))["source"] == "dispatcher", "a command room's report is not grid_worker"
    assert (await report(api, "t1_dispatcher", source="hotline"))["source"] == "hotline"
    assert (await report(api, "county_dept"))["source"] == "department"

    before = await count_events(api, "t1_dispatcher")
    for username, claimed in (
        ("t1_worker", "detection"),
        ("t1_dispatcher", "detection"),
        ("admin", "detection"),
        ("t1_worker", "hotline"),
        ("t1_dispatcher", "grid_worker"),
        ("t1_dispatcher", "import"),
    ):
        r = await api.post(
            username,
            "/api/v1/events",
            {"title": "冒充", "category_code": "010101", "grid_code": GRID, "source": claimed},
        )
        assert r.status_code == 403, (username, claimed, r.text)
        assert r.json()["field"] == "source" and claimed not in r.json()["allowed"]
    assert await count_events(api, "t1_dispatcher") == before, "nothing was reported"


async def test_hotline_service_account_reports_as_hotline(api: Api) -> None:
    name = f"hotline_{uuid.uuid4().hex[:6]}"
    body = {
        "username": name,
        "role": "service",
        "report_source": "hotline",
        "password": "Hotline12345x",
        "must_change_password": False,
    }
    r = await api.post("admin", "/api/v1/users", body)
    assert r.status_code == 201 and r.json()["report_source"] == "hotline", r.text
    r = await api.client.post("/api/v1/auth/login", json={"username": name, "password": "Hotline12345x"})
    api.tokens[name] = r.json()["access_token"]
    event = await report(api, name)
    me = (await api.get(name, "/api/v1/auth/me")).json()
    assert event["source"] == "hotline" and event["reporter_id"] == me["id"]
    assert (await report(api, name, source="hotline"))["source"] == "hotline"
    await report(api, name, expect=403, source="grid_worker")
    await report(api, name, expect=403, source="detection")
    # A service account is not somebody to send: neither an assignee candidate nor a responder nearby.
    listed = (await api.get("t1_dispatcher", "/api/v1/users", params={"role": "responder"})).json()["items"]
    assert name not in {u["username"] for u in listed}


async def test_ensure_service_account(api: Api) -> None:
    factory = api.app.state.session_factory
    name = f"vision_{uuid.uuid4().hex[:6]}"

    async def ensure() -> int:
        async with factory() as session:
            user = await users.ensure_service_account(
                session, username=name, source="detection", jurisdiction_code="330100"
            )
            return user.id

    first, second = await asyncio.gather(ensure(), ensure())
    assert first == second and await ensure() == first, "idempotent, also when two start at once"

    async with factory() as session:
        account = await users.ensure_service_account(
            session, username=name, source="detection", jurisdiction_code="330100"
        )
        assert account.role == Role.SERVICE.value and account.report_source == "detection"
        assert account.password_hash.startswith("!"), "no usable password"
        event = await service.report_event(
            db_session=session,
            taxonomy=api.app.state.taxonomy,
            actor=account,
            data=ReportIn(title="视频发现占道经营", category_code="010101", grid_code=GRID),
        )
        assert event.source == Source.DETECTION.value
        with pytest.raises(Conflict):
            await users.ensure_service_account(
                session, username="t1_worker", source="detection", jurisdiction_code="330100"
            )
    r = await api.client.post("/api/v1/auth/login", json={"username": name, "password": "!"})
    assert r.status_code == 401
