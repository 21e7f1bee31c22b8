"""A real hub for the live-view tests: migrated SQLite, the test county, cameras on the bundled footage,
served by uvicorn on a free loopback port in the test's event loop, ICE on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from stream.models import Camera
from tests.county import PASSWORD, insert_county
from tests.live.source import FOOTAGE, FilePool

GRID_T1 = "330100001001001"  # inside town 1
GRID_T2 = "330100002001001"  # inside town 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveHub:
    url: str
    app: Any
    client: httpx.AsyncClient
    cameras: dict[str, int]
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    async def login(self, username: str) -> str:
        if username not in self.tokens:
            r = await self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.tokens[username] = r.json()["access_token"]
        return self.tokens[username]


@contextlib.asynccontextmanager
async def live_hub(data_dir: Path, **settings_kw: Any) -> AsyncIterator[LiveHub]:
    from hub.app import create_app
    from hub.db import create_engine, create_session_factory
    from hub.migrations import upgrade
    from hub.settings import Settings

    settings = Settings(
        data_dir=data_dir,
        database_url="",
        secret_key="live-test-secret-" + "x" * 32,
        redis_url="",
        live_ice_hosts=["127.0.0.1"],
        **settings_kw,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings)
    cameras: dict[str, int] = {}
    async with create_session_factory(engine)() as session:
        grids = await insert_county(session)
        rows = {
            "t1": Camera(name="人民路口", lat=grids[GRID_T1].lat, lon=grids[GRID_T1].lon, grid_code=GRID_T1),
            "t1b": Camera(name="幸福路口", lat=grids[GRID_T1].lat, lon=grids[GRID_T1].lon, grid_code=GRID_T1),
            "t2": Camera(name="东门", lat=grids[GRID_T2].lat, lon=grids[GRID_T2].lon, grid_code=GRID_T2),
            "nosource": Camera(name="无源", lat=grids[GRID_T1].lat, lon=grids[GRID_T1].lon, grid_code=GRID_T1),
        }
        for key, camera in rows.items():
            if key != "nosource":
                camera.source_url = str(FOOTAGE)
            session.add(camera)
        await session.commit()
        cameras = {key: camera.id for key, camera in rows.items()}
    await engine.dispose()

    app = create_app(settings)
    _serve_screens_if_missing(app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    own_pool = None
    if getattr(app.state, "streams", None) is None:  # until stream/'s ReaderPool is on app.state
        own_pool = app.state.streams = FilePool(no_source={cameras["nosource"]})
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield LiveHub(url=url, app=app, client=client, cameras=cameras)
    finally:
        server.should_exit = True
        await task
        if own_pool is not None:
            await own_pool.stop()


def _serve_screens_if_missing(app: Any) -> None:
    """Until hub/routes/pages.py (screens) is on main: /static and /screens/player straight from screens/."""
    if any(getattr(r, "path", None) == "/static" for r in app.routes):
        return
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    import screens

    root = Path(screens.__file__).resolve().parent
    app.mount("/static", StaticFiles(directory=root / "static"), name="static")

    async def player_page() -> FileResponse:
        return FileResponse(root / "pages" / "player.html", headers={"Cache-Control": "no-cache"})

    app.add_api_route("/screens/player", player_page, include_in_schema=False)
