"""A real hub for the live-view tests: migrated SQLite, the test county, cameras on the bundled footage
(read by stream/'s real camera readers, the file looped), served by uvicorn on a free loopback port in
the test's event loop, ICE on 127.0.0.1 only."""

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
from stream.pool import footage_path
from tests.county import PASSWORD, insert_county

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

    def subscribers(self, camera_id: int) -> int:
        return self.app.state.streams.get(camera_id).subscribers

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
        **{"vision_enabled": False, **settings_kw},
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
                camera.source_url = str(footage_path())
            session.add(camera)
        await session.commit()
        cameras = {key: camera.id for key, camera in rows.items()}
    await engine.dispose()

    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield LiveHub(url=url, app=app, client=client, cameras=cameras)
    finally:
        server.should_exit = True
        await task
