"""Login hardening (issue 6 items 2, 3, 4), on SQLite and PostgreSQL: the lockout holds against parallel
attempts, logins are rate-limited per address and per username (in process, and shared through Redis),
argon2 never stalls the event loop, and locked, inactive and unknown accounts answer like a wrong password.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch.db import utcnow
from dispatch.models import User
from dispatch.passwords import hash_password, verify_password
from hub.settings import Settings
from tests.conftest import create_pg_database, drop_pg_database
from tests.county import PASSWORD, insert_county
from tests.realtime.helpers import RedisProc

LOGIN = "/api/v1/auth/login"
WRONG = "Wrong-pass-123"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    """A migrated database with the test county; the settings switch the rate limits off (tests set them)."""
    from hub.db import create_engine, create_session_factory
    from hub.migrations import upgrade

    url = await create_pg_database() if request.param == "postgres" else ""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp(f"login-{request.param}"),
        database_url=url,
        redis_url="",
        secret_key="login-secret-" + "q" * 32,
        login_rate_per_address=0,
        login_rate_per_username=0,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings)
    async with create_session_factory(engine)() as session:
        await insert_county(session)
    await engine.dispose()
    try:
        yield settings
    finally:
        if url:
            await drop_pg_database(url)


@asynccontextmanager
async def serve(settings: Settings, address: str = "10.0.0.1", **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    from hub.app import create_app

    app = create_app(settings.model_copy(update=overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gridhub.test") as client:
            yield client


async def add_user(settings: Settings, username: str, **fields: Any) -> None:
    engine = create_async_engine(settings.resolved_database_url)
    async with engine.begin() as conn:
        await conn.execute(
            insert(User.__table__).values(
                username=username,
                display_name=username,
                password_hash=await asyncio.to_thread(hash_password, PASSWORD),
                role="responder",
                jurisdiction_code="330100001001001",
                is_active=fields.pop("is_active", True),
                failed_logins=0,
                token_generation=0,
                created_at=utcnow(),
                **fields,
            )
        )
    await engine.dispose()


async def account(settings: Settings, username: str) -> Any:
    engine = create_async_engine(settings.resolved_database_url)
    async with engine.connect() as conn:
        row = (await conn.execute(select(User.failed_logins, User.locked_until).where(User.username == username))).one()
    await engine.dispose()
    return row


def login(client: httpx.AsyncClient, username: str, password: str) -> Any:
    return client.post(LOGIN, json={"username": username, "password": password})


async def test_parallel_wrong_passwords_cannot_get_past_the_lockout(base: Settings) -> None:
    await add_user(base, "par_user")
    async with serve(base) as client:
        answers = await asyncio.gather(*(login(client, "par_user", f"{WRONG}{i}") for i in range(12)))
        assert {r.status_code for r in answers} == {401}
        # Five failures lock the account: the right password is now refused too.
        assert (await login(client, "par_user", PASSWORD)).status_code == 401
    state = await account(base, "par_user")
    assert state.locked_until is not None and state.locked_until > utcnow()


async def test_a_correct_password_resets_the_count(base: Settings) -> None:
    await add_user(base, "reset_user")
    async with serve(base) as client:
        for _ in range(4):
            assert (await login(client, "reset_user", WRONG)).status_code == 401
        assert (await login(client, "reset_user", PASSWORD)).status_code == 200
        for _ in range(4):
            assert (await login(client, "reset_user", WRONG)).status_code == 401
        assert (await login(client, "reset_user", PASSWORD)).status_code == 200
    state = await account(base, "reset_user")
    assert state.failed_logins == 0 and state.locked_until is None


def _same(r: httpx.Response) -> tuple[int, Any, list[str]]:
    return r.status_code, r.json(), sorted(k for k in r.headers if k not in ("date", "content-length"))


async def _timed(client: httpx.AsyncClient, username: str, password: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    r = await login(client, username, password)
    return r, time.perf_counter() - started


async def test_locked_inactive_and_unknown_accounts_answer_like_a_wrong_password(base: Settings) -> None:
    await add_user(base, "lock_user")
    await add_user(base, "gone_user", is_active=False)
    await add_user(base, "plain_user")
    async with serve(base) as client:
        for _ in range(5):
            await login(client, "lock_user", WRONG)
        samples: dict[str, list[float]] = {"wrong": [], "locked": [], "unknown": [], "inactive": []}
        answers: dict[str, httpx.Response] = {}
        for _ in range(3):
            for case, (user, password) in {
                "wrong": ("plain_user", WRONG),
                "locked": ("lock_user", PASSWORD),  # even the right password
                "unknown": ("nobody_here", PASSWORD),
                "inactive": ("gone_user", PASSWORD),
            }.items():
                answers[case], took = await _timed(client, user, password)
                samples[case].append(took)
        assert answers["wrong"].status_code == 401
        for case in ("locked", "unknown", "inactive"):
            assert _same(answers[case]) == _same(answers["wrong"]), case
        # The same argon2 work on every path: a locked or unknown account is not answered faster.
        wrong = statistics.median(samples["wrong"])
        for case in ("locked", "unknown", "inactive"):
            assert statistics.median(samples[case]) > 0.4 * wrong, (case, samples)
        assert (await login(client, "plain_user", PASSWORD)).status_code == 200


async def test_rate_limits_per_username_and_per_address(base: Settings) -> None:
    await add_user(base, "rl_user")
    async with serve(base, address="10.1.0.1", login_rate_per_username=3, login_rate_per_address=7) as client:
        for user in ("rl_user", "rl_nobody"):  # a known and an unknown username are limited alike
            for _ in range(3):
                assert (await login(client, user, WRONG)).status_code == 401
            limited = await login(client, user, WRONG)
            assert limited.status_code == 429, limited.text
            assert limited.json()["error"] == "rate_limited"
            assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # 8 attempts so far from this address, over its 7: another username is refused too.
        assert (await login(client, "someone_else", WRONG)).status_code == 429
    async with serve(base, address="10.1.0.2", login_rate_per_username=3, login_rate_per_address=7) as other:
        # The address limit is per address: another client logs in.
        assert (await login(other, "plain_rl", WRONG)).status_code == 401


async def test_rate_limits_are_shared_by_hubs_through_redis(base: Settings, tmp_path: Path) -> None:
    redis = RedisProc()
    redis.start()
    try:
        limits = {"login_rate_per_username": 4, "redis_url": redis.url}
        async with serve(base, address="10.2.0.1", **limits) as a, serve(base, address="10.2.0.2", **limits) as b:
            for client in (a, b, a, b):
                assert (await login(client, "shared_nobody", WRONG)).status_code == 401
            for client in (a, b):
                r = await login(client, "shared_nobody", WRONG)
                assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    finally:
        redis.kill()


async def test_password_checks_do_not_stall_the_event_loop(base: Settings) -> None:
    """Logins verify argon2 in worker threads (at most argon2_concurrency at once): the loop keeps ticking."""
    reference = hash_password(PASSWORD)
    started = time.perf_counter()
    for _ in range(3):
        verify_password(reference, WRONG)
    one_check = (time.perf_counter() - started) / 3

    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async with serve(base, argon2_concurrency=2) as client:
        # What is measured is argon2, not the collector: in a full run this process holds every earlier test's
        # objects, and a full collection of them stalls any loop (the hub's own gcwatch handles that in service).
        gc.collect()
        gc.freeze()
        try:
            tick = asyncio.create_task(ticker())
            await asyncio.sleep(0.05)
            answers = await asyncio.gather(*(login(client, "nobody_at_all", f"{WRONG}{i}") for i in range(6)))
            done.set()
            await tick
        finally:
            gc.unfreeze()
    assert {r.status_code for r in answers} == {401}
    assert max(gaps) < 0.5 * one_check, f"the loop stalled {max(gaps):.3f} s (one argon2 check: {one_check:.3f} s)"
