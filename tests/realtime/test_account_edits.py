"""Account edits over the API end the account's live sockets on every hub (issue 6 item 5 with contract C2):
an admin's role change or password reset, and the user's own password change; an account that must change
its password cannot open /ws at all. The real app on SQLite + in-process bus and on two hubs sharing
PostgreSQL and Redis (the ``real_hubs`` fixture of test_revocation)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from tests.county import PASSWORD
from tests.realtime.helpers import InProcessHub, Raw
from tests.realtime.test_revocation import REVOKED_WITHIN_S, close_code, real_hubs, still_open

__all__ = ["real_hubs"]  # the fixture, used by name

KNOWN = "Known2026pass"


async def test_account_edits_close_the_users_sockets_on_every_hub(real_hubs: list[InProcessHub]) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{real_hubs[0].port}", timeout=10) as http:

        async def token(username: str, password: str) -> str:
            r = await http.post("/api/v1/auth/login", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            return str(r.json()["access_token"])

        async def subscribed(tok: str) -> list[Raw]:
            sockets = [await Raw.connect(h.url, tok) for h in real_hubs]
            for c in sockets:
                assert (await c.subscribe("events"))["type"] == "subscribed"
            return sockets

        async def closed_in_time(sockets: list[Raw], started: float) -> None:
            codes = await asyncio.gather(*(close_code(c, REVOKED_WITHIN_S + 1) for c in sockets))
            assert codes == [4001] * len(sockets)
            assert time.monotonic() - started < REVOKED_WITHIN_S

        admin = {"Authorization": f"Bearer {await token('admin', PASSWORD)}"}
        bystander = (await subscribed(await token("t1_dispatcher", PASSWORD)))[0]
        name = f"ws_{uuid.uuid4().hex[:6]}"
        body = {"username": name, "role": "responder", "jurisdiction_code": "330100001001001", "password": KNOWN}
        r = await http.post("/api/v1/users", json={**body, "must_change_password": False}, headers=admin)
        assert r.status_code == 201, r.text
        uid = r.json()["id"]

        sockets = await subscribed(await token(name, KNOWN))
        r = await http.patch(f"/api/v1/users/{uid}", json={"role": "department"}, headers=admin)
        started = time.monotonic()  # the change is committed: from here the sockets have 2 s
        assert r.status_code == 200, r.text
        await closed_in_time(sockets, started)

        own = await token(name, KNOWN)
        sockets = await subscribed(own)
        change = {"old_password": KNOWN, "new_password": "Changed2026pw"}
        r = await http.post("/api/v1/auth/password", json=change, headers={"Authorization": f"Bearer {own}"})
        started = time.monotonic()
        assert r.status_code == 200, r.text
        await closed_in_time(sockets, started)

        sockets = await subscribed(r.json()["access_token"])
        r = await http.patch(f"/api/v1/users/{uid}", json={"reset_password": True}, headers=admin)
        started = time.monotonic()
        assert r.status_code == 200, r.text
        await closed_in_time(sockets, started)

        # The reset account logs in, but its token opens no socket until the password is changed.
        must_change = await token(name, r.json()["temporary_password"])
        for h in real_hubs:
            assert await close_code(await Raw.connect(h.url, must_change), 3) == 4001
        assert await still_open(bystander)
        await bystander.close()
