"""Accounts over the API (issue 6, item 5): paged list with filters, admin create/edit/reset inside their
subtree, the own password change, and accounts that must change their password first.

The ``api`` fixture is shared by the whole session: these tests create their own accounts (unique names)
and never change the fixture's users in ways other tests would notice.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Api

KNOWN = "Known2026pass"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(api: Api, username: str, password: str) -> httpx.Response:
    return await api.client.post("/api/v1/auth/login", json={"username": username, "password": password})


async def create(api: Api, by: str = "admin", expect: int = 201, **body: Any) -> dict[str, Any]:
    body.setdefault("username", unique("u"))
    r = await api.post(by, "/api/v1/users", body)
    assert r.status_code == expect, r.text
    return r.json()


async def patch(api: Api, by: str, user_id: int, expect: int = 200, **body: Any) -> dict[str, Any]:
    r = await api.client.patch(f"/api/v1/users/{user_id}", json=body, headers=api.auth(by))
    assert r.status_code == expect, r.text
    return r.json()


async def token_of(api: Api, username: str, password: str = KNOWN) -> str:
    r = await login(api, username, password)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def test_list_is_paged_with_filters(api: Api) -> None:
    r = await api.get("t1_dispatcher", "/api/v1/users")
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"items", "total", "page", "page_size"} <= body.keys()
    everyone = body["items"]
    assert body["total"] == len(everyone) >= 3
    usernames = {u["username"] for u in everyone}
    assert {"t1_dispatcher", "t1_worker", "t1_worker2"} <= usernames
    assert not usernames & {"t2_worker", "t2_dispatcher", "admin"}, "only the caller's subtree"

    pages: list[int] = []
    for page in range(1, body["total"] + 1):
        r = await api.get("t1_dispatcher", "/api/v1/users", params={"page": page, "page_size": 1})
        assert r.json()["total"] == body["total"]
        pages += [u["id"] for u in r.json()["items"]]
    assert pages == [u["id"] for u in everyone], "pages follow each other, by id, without gaps"

    responders = (await api.get("t1_dispatcher", "/api/v1/users", params={"role": "responder"})).json()
    assert {u["role"] for u in responders["items"]} == {"responder"} and responders["total"] >= 2
    village = (await api.get("t1_dispatcher", "/api/v1/users", params={"jurisdiction": "330100001002"})).json()
    assert [u["username"] for u in village["items"]] == ["t1_worker2"]
    found = (await api.get("t1_dispatcher", "/api/v1/users", params={"q": "WORKER2"})).json()
    assert [u["username"] for u in found["items"]] == ["t1_worker2"]

    beside = await api.get("t1_dispatcher", "/api/v1/users", params={"jurisdiction": "330100002"})
    assert beside.status_code == 404
    above = await api.get("t1_dispatcher", "/api/v1/users", params={"jurisdiction": "330100"})
    assert above.status_code == 403
    assert (await api.get("t1_dispatcher", "/api/v1/users", params={"page_size": 500})).status_code == 422

    gone = await create(api, username=unique("gone"), role="responder", jurisdiction_code="330100001001")
    await patch(api, "admin", gone["id"], is_active=False)
    active = (await api.get("admin", "/api/v1/users", params={"q": gone["username"]})).json()
    inactive = (await api.get("admin", "/api/v1/users", params={"q": gone["username"], "active": "false"})).json()
    assert active["total"] == 0 and [u["id"] for u in inactive["items"]] == [gone["id"]]


async def test_admin_creates_an_account_that_must_change_its_password(api: Api) -> None:
    name = unique("zhang")
    made = await create(api, username=name, role="responder", jurisdiction_code="330100001001001", phone="13800001111")
    temporary = made["temporary_password"]
    assert temporary and made["must_change_password"] and made["jurisdiction_code"] == "330100001001001"
    listed = (await api.get("admin", "/api/v1/users", params={"q": name})).json()["items"]
    assert "temporary_password" not in listed[0], "the temporary password is answered once"

    r = await login(api, name, temporary)
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    first = r.json()["access_token"]
    refused = await api.client.get("/api/v1/events", params={"view": "my_todo"}, headers=bearer(first))
    assert refused.status_code == 403 and refused.json()["error"] == "password_change_required"
    r = await api.client.post(
        "/api/v1/events", json={"title": "试试", "category_code": "010101"}, headers=bearer(first)
    )
    assert r.status_code == 403 and r.json()["error"] == "password_change_required"
    me = await api.client.get("/api/v1/auth/me", headers=bearer(first))
    assert me.status_code == 200 and me.json()["must_change_password"] is True

    change = {"old_password": "Wrong2026pass", "new_password": "Zhang2026spring"}
    r = await api.client.post("/api/v1/auth/password", json=change, headers=bearer(first))
    assert r.status_code == 403 and r.json()["error"] == "wrong_password"
    same = {"old_password": temporary, "new_password": temporary}
    assert (await api.client.post("/api/v1/auth/password", json=same, headers=bearer(first))).status_code == 409
    weak = {"old_password": temporary, "new_password": "abcdefghij"}
    assert (await api.client.post("/api/v1/auth/password", json=weak, headers=bearer(first))).status_code == 422
    good = {"old_password": temporary, "new_password": "Zhang2026spring"}
    r = await api.client.post("/api/v1/auth/password", json=good, headers=bearer(first))
    assert r.status_code == 200 and r.json()["must_change_password"] is False, r.text
    second = r.json()["access_token"]

    assert (await api.client.get("/api/v1/auth/me", headers=bearer(first))).status_code == 401, "old token died"
    ok = await api.client.get("/api/v1/events", params={"view": "my_todo"}, headers=bearer(second))
    assert ok.status_code == 200
    assert (await login(api, name, temporary)).status_code == 401
    assert (await login(api, name, "Zhang2026spring")).status_code == 200


async def test_every_user_changes_their_own_password(api: Api) -> None:
    name = unique("self")
    await create(
        api, username=name, role="dispatcher", jurisdiction_code="330100002", password=KNOWN, must_change_password=False
    )
    token = await token_of(api, name)
    assert (await api.client.get("/api/v1/users", headers=bearer(token))).status_code == 200
    body = {"old_password": KNOWN, "new_password": "Another2026pw"}
    r = await api.client.post("/api/v1/auth/password", json=body, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert (await login(api, name, "Another2026pw")).status_code == 200
    assert (await api.client.post("/api/v1/auth/password", json=body)).status_code == 401


async def test_only_admins_manage_and_only_inside_their_subtree(api: Api) -> None:
    town_admin = unique("t1admin")
    await create(
        api,
        username=town_admin,
        role="admin",
        jurisdiction_code="330100001",
        password=KNOWN,
        must_change_password=False,
    )
    api.tokens[town_admin] = await token_of(api, town_admin)
    mine = await create(api, by=town_admin, role="responder", jurisdiction_code="330100001002002")
    assert mine["must_change_password"]

    for who in ("t1_dispatcher", "leader", "t1_worker"):
        r = await api.post(who, "/api/v1/users", {"username": unique("x"), "role": "responder"})
        assert r.status_code == 403, (who, r.text)
        r = await api.client.patch(f"/api/v1/users/{mine['id']}", json={"phone": "1"}, headers=api.auth(who))
        assert r.status_code == 403, (who, r.text)

    await create(api, by=town_admin, expect=404, role="responder", jurisdiction_code="330100002001001")
    await create(api, by=town_admin, expect=404, role="responder", jurisdiction_code="nowhere")
    await create(api, by=town_admin, expect=403, role="admin", jurisdiction_code="330100")
    await create(api, by=town_admin, expect=409, username=mine["username"], role="responder")
    await create(api, by=town_admin, expect=422, role="responder", password="onlyletters")
    await create(api, by=town_admin, expect=409, role="service"), "a service account needs its source"

    await patch(api, town_admin, api.user_ids["t2_worker"], expect=404, phone="1")
    await patch(api, town_admin, api.user_ids["admin"], expect=404, is_active=False)
    await patch(api, town_admin, 2**31 - 1, expect=404, phone="1")
    await patch(api, town_admin, mine["id"], expect=403, jurisdiction_code="330100")
    await patch(api, town_admin, mine["id"], expect=404, jurisdiction_code="330100002")
    moved = await patch(api, town_admin, mine["id"], role="dispatcher", jurisdiction_code="330100001002")
    assert moved["role"] == "dispatcher" and moved["jurisdiction_code"] == "330100001002"
    assert moved["temporary_password"] is None


async def test_role_jurisdiction_active_and_reset_end_sessions(api: Api) -> None:
    name = unique("li")
    made = await create(
        api,
        username=name,
        role="responder",
        jurisdiction_code="330100001001001",
        password=KNOWN,
        must_change_password=False,
    )
    uid = made["id"]

    async def fresh_token() -> str:
        token = await token_of(api, name, password)
        assert (await api.client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200
        return token

    password = KNOWN
    token = await fresh_token()
    await patch(api, "admin", uid, display_name="李四", phone="13900000000")
    assert (await api.client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 200, "a name keeps it"

    for change in ({"role": "department"}, {"jurisdiction_code": "330100001001"}, {"is_active": False}):
        await patch(api, "admin", uid, **change)
        assert (await api.client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401, change
        if change == {"is_active": False}:
            assert (await login(api, name, password)).status_code == 401
            await patch(api, "admin", uid, is_active=True)
        token = await fresh_token()
    me = (await api.client.get("/api/v1/auth/me", headers=bearer(token))).json()
    assert me["role"] == "department" and me["jurisdiction_code"] == "330100001001"

    reset = await patch(api, "admin", uid, reset_password=True)
    assert reset["temporary_password"] and reset["must_change_password"]
    assert (await api.client.get("/api/v1/auth/me", headers=bearer(token))).status_code == 401
    assert (await login(api, name, KNOWN)).status_code == 401
    r = await login(api, name, reset["temporary_password"])
    assert r.status_code == 200 and r.json()["must_change_password"] is True


async def test_no_admin_locks_the_tree_out(api: Api) -> None:
    admin_id = api.user_ids["admin"]  # the only county administrator of the fixture
    for change in ({"is_active": False}, {"role": "dispatcher"}, {"jurisdiction_code": "330100001"}):
        r = await api.client.patch(f"/api/v1/users/{admin_id}", json=change, headers=api.auth("admin"))
        assert r.status_code == 409 and r.json()["error"] == "last_admin", (change, r.text)
    me = (await api.get("admin", "/api/v1/auth/me")).json()
    assert me["role"] == "admin" and me["jurisdiction_code"] == "330100", "nothing changed"
    await patch(api, "admin", admin_id, display_name="系统管理员")

    # A town administrator may step down: the county administrator still covers the town.
    town_admin = unique("t2admin")
    made = await create(
        api,
        username=town_admin,
        role="admin",
        jurisdiction_code="330100002",
        password=KNOWN,
        must_change_password=False,
    )
    api.tokens[town_admin] = await token_of(api, town_admin)
    await patch(api, town_admin, made["id"], role="dispatcher")
    assert (await api.get(town_admin, "/api/v1/auth/me")).status_code == 401


async def audit_rows(api: Api, target_id: int) -> list[dict[str, Any]]:
    r = await api.get("admin", "/api/v1/audit", params={"kind": "user", "page_size": 500})
    assert r.status_code == 200, r.text
    return [row for row in r.json()["items"] if row["target"] == f"user:{target_id}"][::-1]  # oldest first


async def test_account_changes_are_audited(api: Api) -> None:
    name = unique("wang")
    made = await create(
        api,
        username=name,
        role="responder",
        jurisdiction_code="330100001001001",
        password=KNOWN,
        must_change_password=False,
    )
    await patch(api, "admin", made["id"], role="department", phone="13700000000")
    await patch(api, "admin", made["id"], reset_password=True)
    temporary = (await patch(api, "admin", made["id"], reset_password=True))["temporary_password"]
    token = await token_of(api, name, temporary)
    wrong = {"old_password": "Wrong2026pass", "new_password": "Wang2026spring"}
    assert (await api.client.post("/api/v1/auth/password", json=wrong, headers=bearer(token))).status_code == 403
    good = {"old_password": temporary, "new_password": "Wang2026spring"}
    assert (await api.client.post("/api/v1/auth/password", json=good, headers=bearer(token))).status_code == 200

    rows = await audit_rows(api, made["id"])
    assert [(r["kind"], r["outcome"], r["actor_name"]) for r in rows] == [
        ("user.create", "ok", "admin"),
        ("user.update", "ok", "admin"),
        ("user.password_reset", "ok", "admin"),
        ("user.password_reset", "ok", "admin"),
        ("user.password_change", "failed", name),
        ("user.password_change", "ok", name),
    ]
    assert rows[0]["detail"]["role"] == "responder" and rows[0]["detail"]["temporary_password"] is False
    assert rows[1]["detail"]["changed"]["role"] == ["responder", "department"]
    assert rows[1]["detail"]["sessions_ended"] is True
    assert not any(temporary in str(r["detail"]) or KNOWN in str(r["detail"]) for r in rows), "no password kept"
