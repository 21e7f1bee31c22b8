"""Browser tests of the pages: a real hub (uvicorn in the test's loop, SQLite) and Debian's Chromium.

Playwright drives ``/usr/bin/chromium`` (a browser download is not possible here). Screenshots go to
``test-artifacts/screens/`` (or ``$GRIDHUB_ARTIFACTS``) so a person can look at them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.county import PASSWORD, USERS, Grid, insert_county
from tests.realtime.helpers import InProcessHub

CHROMIUM = "/usr/bin/chromium"
FOOTAGE = Path(__file__).resolve().parents[2] / "stream" / "footage" / "vtest.mp4"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(os.environ.get("GRIDHUB_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
ARTIFACTS = ARTIFACTS / "screens"


@dataclass
class Site:
    base: str
    http: httpx.AsyncClient
    grids: dict[str, Grid]
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def h(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def report(self, user: str = "t1_worker", **fields: Any) -> dict[str, Any]:
        body = {"title": "人民路暴露垃圾", "description": "路边一堆垃圾", "category_code": "010101"}
        body.setdefault("grid_code", "330100001001001")
        body.update(fields)
        r = await self.http.post("/api/v1/events", json=body, headers=self.h(user))
        assert r.status_code == 201, r.text
        return r.json()

    async def detection(self, title: str = "人民路口: 人员聚集", grid: str = "330100001001001") -> int:
        """A candidate event as the vision worker raises it: reported by its service account, with a snapshot."""
        import cv2

        from dispatch import media, service
        from dispatch.models import Source, User
        from dispatch.schemas import ReportIn
        from vision.account import service_account

        capture = cv2.VideoCapture(str(FOOTAGE))
        ok, frame = capture.read()
        capture.release()
        assert ok
        snapshot = cv2.imencode(".jpg", frame)[1].tobytes()
        async with self.app.state.session_factory() as db_session:
            actor_id = (await service_account(db_session)).id
        async with self.app.state.session_factory() as db_session:
            actor = await db_session.get(User, actor_id)
            data = ReportIn(
                title=title,
                description="视频智能发现:画面中人数超过阈值",
                category_code="010101",
                urgency="urgent",
                source=Source.DETECTION,
                grid_code=grid,
            )
            event = await service.report_event(
                db_session=db_session, taxonomy=self.app.state.taxonomy, actor=actor, data=data
            )
            await media.store(
                db_session,
                data_dir=self.app.state.settings.data_dir,
                event_id=event.id,
                kind="snapshot",
                content_type="image/jpeg",
                data=snapshot,
                created_by=actor.id,
            )
            await db_session.commit()
            self.app.state.realtime.notify()
            return event.id

    async def act(self, user: str, event: dict[str, Any], action: str, **body: Any) -> dict[str, Any]:
        r = await self.http.post(
            f"/api/v1/events/{event['id']}/{action}", json={"version": event["version"], **body}, headers=self.h(user)
        )
        assert r.status_code == 200, r.text
        return r.json()


@asynccontextmanager
async def running_site(tmp_path_factory: pytest.TempPathFactory, **overrides: Any) -> AsyncIterator[Site]:
    """A hub on loopback with the tiny county and a token per user; ``overrides`` are more settings."""
    from hub.app import create_app
    from hub.db import create_engine, create_session_factory
    from hub.migrations import upgrade
    from hub.settings import Settings

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("site"),
        database_url="",
        secret_key="site-secret-" + "z" * 32,
        redis_url="",
        **overrides,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings)
    async with create_session_factory(engine)() as session:
        grids = await insert_county(session)
    await engine.dispose()
    app = create_app(settings)
    async with InProcessHub(app) as hub:
        base = f"http://127.0.0.1:{hub.port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            s = Site(base=base, http=http, grids=grids, app=app)
            for user in USERS:
                r = await http.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
                assert r.status_code == 200, r.text
                s.tokens[user] = r.json()["access_token"]
                s.ids[user] = (await http.get("/api/v1/auth/me", headers=s.h(user))).json()["id"]
            yield s


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    async with running_site(tmp_path_factory) as s:
        yield s


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def open_page(
    browser: Any,
    site: Site,
    user: str,
    path: str,
    *,
    width: int = 1920,
    height: int = 1080,
    refused: list[str] | None = None,
) -> Any:
    """A new page logged in as ``user`` (the token put where the login page puts it) at ``path``.

    With ``refused`` given, the page may reach 127.0.0.1 only: any other request is aborted and its URL
    appended there (a test asserts the list stays empty).
    """
    context = await browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    await context.add_init_script(f"localStorage.setItem('gridhub.token', {site.tokens[user]!r});")
    if refused is not None:

        async def loopback_only(route: Any) -> None:
            url = route.request.url
            if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
                await route.continue_()
            else:
                refused.append(url)
                await route.abort()

        await context.route("**/*", loopback_only)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    await page.goto(site.base + path)
    return page


async def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
