"""The audit trail through the API on both engines: what gets recorded, GET /api/v1/audit, concurrent writers.

The ``api`` app is shared by the session's tests, so every assertion looks at the rows of its own accounts
and events (or at rows after a mark), never at the whole table.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from dispatch import users
from hub.addresses import client_address, parse_networks
from tests.conftest import Api, running_api
from tests.county import PASSWORD

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    """A fresh app of this module's own: these tests read the trail as a whole (latest rows, per-address
    refusal budget), which other modules' steps on the session app would change."""
    async with running_api(request.param, tmp_path_factory) as fresh:
        yield fresh


async def rows(api: Api, **params: Any) -> list[dict[str, Any]]:
    """Every audit row matching ``params``, oldest first, read through the API as the county admin."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        r = await api.get("admin", "/api/v1/audit", params={**params, "page": page, "page_size": 500})
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["items"])
        if page * 500 >= body["total"]:
            return sorted(out, key=lambda row: row["seq"])
        page += 1


async def new_account(api: Api, role: str = "dispatcher", jurisdiction: str = "330100001") -> tuple[str, int]:
    username = f"probe_{uuid.uuid4().hex[:8]}"
    async with api.app.state.session_factory() as session:
        user = await users.create_user(
            db_session=session, username=username, password=PASSWORD, role=role, jurisdiction_code=jurisdiction
        )
    return username, user.id


async def login(api: Api, username: str, password: str = PASSWORD) -> Any:
    return await api.client.post("/api/v1/auth/login", json={"username": username, "password": password})


def verify_cli(api: Api) -> subprocess.CompletedProcess[str]:
    settings = api.app.state.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDHUB_")}
    env.update(
        GRIDHUB_DATABASE_URL=settings.resolved_database_url,
        GRIDHUB_DATA_DIR=str(settings.data_dir),
        PYTHONPATH=str(REPO),
    )
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )


async def test_logins_logouts_lockout_and_refused_tokens_are_recorded(api: Api) -> None:
    username, user_id = await new_account(api)
    assert (await login(api, username, "Wrongpass999")).status_code == 401
    ok = await login(api, username)
    assert ok.status_code == 200
    headers = {"Authorization": f"Bearer {ok.json()['access_token']}"}
    assert (await api.client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert (await api.client.get("/api/v1/auth/me", headers=headers)).status_code == 401  # revoked
    for _ in range(5):  # the fifth failure locks the account
        assert (await login(api, username, "Wrongpass999")).status_code == 401

    mine = await rows(api, user=user_id)
    kinds = [r["kind"] for r in mine]
    assert kinds == ["auth.login_failed", "auth.login", "auth.logout", "auth.token_refused"] + [
        "auth.login_failed"
    ] * 5 + ["auth.lockout"]
    assert all(r["actor_name"] == username and r["address"] == "127.0.0.1" for r in mine)
    assert mine[0]["outcome"] == "failed" and mine[1]["outcome"] == "ok" and mine[3]["outcome"] == "denied"
    assert mine[3]["detail"] == {"reason": "revoked (logged out)"} and mine[3]["target"] == "/api/v1/auth/me"
    # An unknown username is recorded under the name tried; a forged token with nobody behind it too.
    ghost = f"ghost_{uuid.uuid4().hex[:6]}"
    await login(api, ghost, "Whatever123")
    forged = await api.client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.token"})
    assert forged.status_code == 401
    failed = [r for r in await rows(api, kind="auth") if r["actor_name"] == ghost]
    assert [(r["kind"], r["actor_id"]) for r in failed] == [("auth.login_failed", None)]
    refused = (await rows(api, kind="auth.token_refused"))[-1]
    assert refused["actor_id"] is None and refused["detail"] == {"reason": "invalid or expired"}


async def test_workflow_steps_denials_and_exports_are_recorded(api: Api) -> None:
    event = await api.report("t1_worker")
    accepted = await api.act("t1_dispatcher", event, "accept")
    await api.act("t1_worker", accepted, "assign", expect=403, assignee_id=api.user_ids["t1_worker"])  # not a party
    await api.act("t1_dispatcher", accepted, "reopen", expect=409)  # illegal: no row, nothing changed
    target = f"event:{event['id']}"
    steps = [r for r in await rows(api, kind="event") if r["target"] == target]
    assert [(r["kind"], r["actor_name"], r["detail"]) for r in steps] == [
        ("event.report", "t1_worker", {"from": None, "to": "pending"}),
        ("event.accept", "t1_dispatcher", {"from": "pending", "to": "accepted"}),
    ]
    denied = (await rows(api, kind="access.denied", user=api.user_ids["t1_worker"]))[-1]
    assert denied["target"] == f"/api/v1/events/{event['id']}/assign" and denied["outcome"] == "denied"
    assert denied["detail"]["method"] == "POST"

    before = len(await rows(api, kind="export.stats"))
    r = await api.get("county_dispatcher", "/api/v1/stats/events", params={"format": "csv"})
    assert r.status_code == 200
    assert (await api.get("county_dispatcher", "/api/v1/stats/events")).status_code == 200  # viewing is no export
    exports = await rows(api, kind="export.stats")
    assert len(exports) == before + 1
    assert exports[-1]["actor_name"] == "county_dispatcher" and exports[-1]["detail"]["format"] == "csv"


async def test_audit_api_is_for_admins_filters_pages_and_exports_csv(api: Api) -> None:
    assert (await api.client.get("/api/v1/audit")).status_code == 401
    r = await api.get("county_dispatcher", "/api/v1/audit")
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    assert (await rows(api, kind="access.denied", user=api.user_ids["county_dispatcher"]))[-1][
        "target"
    ] == "/api/v1/audit"
    for bad in ({"kind": "auth%"}, {"kind": "Auth"}, {"page_size": 501}, {"user": 0}, {"format": "xml"}):
        assert (await api.get("admin", "/api/v1/audit", params=bad)).status_code == 422, bad

    # Paging: pages are disjoint, newest first, and add up to the total.
    first = (await api.get("admin", "/api/v1/audit", params={"page_size": 3})).json()
    second = (await api.get("admin", "/api/v1/audit", params={"page_size": 3, "page": 2})).json()
    assert first["total"] >= 6 and second["total"] >= first["total"]
    seqs = [r["seq"] for r in first["items"] + second["items"]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 6
    # Family and exact kinds; time windows.
    family = await rows(api, kind="auth")
    assert family and all(r["kind"].startswith("auth.") for r in family)
    assert {r["kind"] for r in await rows(api, kind="auth.login")} == {"auth.login"}
    assert await rows(api, start="2100-01-01T00:00:00") == []
    assert await rows(api, end="2000-01-01T00:00:00+08:00") == []
    newest = first["items"][0]
    window = await rows(api, start=newest["at"], end="2100-01-01T00:00:00Z")
    assert newest["seq"] in {r["seq"] for r in window}

    # CSV: everything matching, in chain order, with a BOM; a formula-like name is quoted; the export is recorded.
    await login(api, "=HYPERLINK(1)", "Whatever123")
    r = await api.get("admin", "/api/v1/audit", params={"format": "csv", "kind": "auth.login_failed"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert table[0][:3] == ["seq", "at", "actor_id"]
    body_seqs = [int(line[0]) for line in table[1:]]
    assert body_seqs == sorted(body_seqs) and len(body_seqs) == len(await rows(api, kind="auth.login_failed"))
    assert any(line[3] == "'=HYPERLINK(1)" for line in table[1:])
    export = (await rows(api, kind="export.audit"))[-1]
    assert export["actor_name"] == "admin" and export["detail"]["filters"] == {"kind": "auth.login_failed"}
    assert export["detail"]["rows"] == len(body_seqs)


async def test_a_town_admin_sees_the_rows_of_their_subtree_only(api: Api) -> None:
    username, _ = await new_account(api, role="admin", jurisdiction="330100001")
    token = (await login(api, username)).json()["access_token"]
    event = await api.report("t2_worker", grid_code="330100002001001")
    await api.act("t2_dispatcher", event, "accept")
    r = await api.client.get("/api/v1/audit", params={"page_size": 500}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    names = {row["actor_name"] for row in r.json()["items"]}
    assert username in names  # their own login
    assert not names & {"t2_dispatcher", "t2_worker", "admin", "county_dispatcher", None}
    everything = {
        row["actor_name"]
        for row in (await api.get("admin", "/api/v1/audit", params={"page_size": 500})).json()["items"]
    }
    assert {"t2_dispatcher", username} <= everything


async def test_twenty_concurrent_workflow_actions_leave_one_chain(api: Api) -> None:
    """20 accepts at once (each its own request and transaction); `gridhub audit verify` then passes."""
    events = [await api.report("t1_worker") for _ in range(10)]
    events += [await api.report("t2_worker", grid_code="330100002001001") for _ in range(10)]
    actors = ["t1_dispatcher"] * 10 + ["t2_dispatcher"] * 10
    answers = await asyncio.gather(
        *(
            api.client.post(f"/api/v1/events/{e['id']}/accept", json={"version": e["version"]}, headers=api.auth(who))
            for e, who in zip(events, actors, strict=True)
        )
    )
    assert [a.status_code for a in answers] == [200] * 20
    targets = {f"event:{e['id']}" for e in events}
    accepts = [r for r in await rows(api, kind="event.accept") if r["target"] in targets]
    assert len(accepts) == 20
    done = verify_cli(api)
    assert done.returncode == 0, done.stderr
    assert "audit trail intact" in done.stdout


def request_from(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 5000)})


def test_forwarded_for_is_believed_from_trusted_proxies_only() -> None:
    proxies = parse_networks("10.0.0.0/8, ::1")
    assert client_address(request_from("203.0.113.5", "1.2.3.4"), proxies) == "203.0.113.5"  # not a proxy
    assert client_address(request_from("10.0.0.2", "1.2.3.4"), proxies) == "1.2.3.4"
    # The client is the right-most hop that is not a trusted proxy: a forged left part is ignored.
    assert client_address(request_from("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.9"), proxies) == "1.2.3.4"
    assert client_address(request_from("10.0.0.2", "garbage"), proxies) == "10.0.0.2"
    assert client_address(request_from("10.0.0.2"), proxies) == "10.0.0.2"
    assert client_address(request_from("10.0.0.2", "1.2.3.4"), ()) == "10.0.0.2"  # no proxies configured


async def test_audit_times_are_iso_text_and_clamped_at_the_calendar_ends(api: Api) -> None:
    assert (await api.get("admin", "/api/v1/audit", params={"start": "0.5"})).status_code == 422  # not a Unix time
    r = await api.get("admin", "/api/v1/audit", params={"end": "0001-01-01T00:00:00+01:00", "start": "0001-01-01"})
    assert r.status_code == 200 and r.json()["total"] == 0
    r = await api.get("admin", "/api/v1/audit", params={"start": "9999-12-31T23:59:59-01:00"})
    assert r.status_code == 200 and r.json()["total"] == 0


def test_refusal_throttle_counts_what_it_leaves_out() -> None:
    from hub.auditing import RefusalThrottle

    now = [0.0]
    throttle = RefusalThrottle(limit=3, window_s=60, max_addresses=2, clock=lambda: now[0])
    assert [throttle.admit("a") for _ in range(5)] == [(True, 0)] * 3 + [(False, 0)] * 2
    assert throttle.admit("b") == (True, 0)  # per address
    now[0] = 61
    assert throttle.admit("a") == (True, 2)  # the next window reports the two left out
    assert throttle.admit("a") == (True, 0)
    assert throttle.admit("c") == (True, 0)  # a third address: expired, settled windows are forgotten


async def test_a_flood_of_refusals_from_one_address_is_bounded(api: Api) -> None:
    """A client sending garbage tokens writes at most the per-minute limit of rows; others are unaffected."""
    import httpx

    limit = api.app.state.settings.audit_refusals_per_minute
    flooder = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app, client=("198.51.100.7", 4000)), base_url="http://gridhub.test"
    )
    async with flooder:
        for _ in range(limit + 15):
            r = await flooder.get("/api/v1/auth/me", headers={"Authorization": "Bearer garbage"})
            assert r.status_code == 401
    from_flooder = [r for r in await rows(api, kind="auth.token_refused") if r["address"] == "198.51.100.7"]
    assert len(from_flooder) == limit
    forged = await api.client.get("/api/v1/auth/me", headers={"Authorization": "Bearer garbage"})
    assert forged.status_code == 401
    assert (await rows(api, kind="auth.token_refused"))[-1]["address"] == "127.0.0.1"  # still recorded
