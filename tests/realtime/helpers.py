"""Helpers of the realtime tests: a Redis per module, hubs in-process or as subprocesses, tokens, outbox rows."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvicorn
import websockets
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from dispatch.models import Jurisdiction, OutboxMessage, User
from hub.security import issue_token

ROOT = Path(__file__).resolve().parents[2]
SECRET = "realtime-test-secret-0123456789abcdef"

# A small tree: county C, towns T1/T2, village V1 (in T1), grids G1 (in V1) and G2 (in T2).
PATHS = {
    "C": "/C/",
    "T1": "/C/T1/",
    "T2": "/C/T2/",
    "V1": "/C/T1/V1/",
    "G1": "/C/T1/V1/G1/",
    "G2": "/C/T2/V2/G2/",
}
# user id → (role, jurisdiction)
USERS = {
    1: ("admin", "C"),
    2: ("dispatcher", "C"),
    3: ("leader", "C"),
    10: ("responder", "G1"),
    11: ("responder", "G2"),
    12: ("department", "T1"),
    13: ("dispatcher", "T1"),
    21: ("responder", "G1"),
    22: ("responder", "G1"),
}


def token(user_id: int, *, secret: str = SECRET, role: str | None = None) -> str:
    # The hub checks every /ws token against its account: hubapp seeds exactly the accounts of USERS.
    assert user_id in USERS, f"user {user_id} is not in USERS (add it there)"
    r, j = USERS[user_id]
    user = SimpleNamespace(
        id=user_id,
        username=f"u{user_id}",
        role=role or r,
        jurisdiction_code=j,
        jurisdiction=SimpleNamespace(path=PATHS[j]),
        token_generation=0,
    )
    return issue_token(user, secret=secret, ttl_minutes=60)  # type: ignore[arg-type]


LEVELS = ("county", "town", "village", "grid")


async def seed_accounts(engine: AsyncEngine) -> None:
    """The jurisdictions of PATHS and the accounts of USERS, as the tokens of ``token()`` describe them (the hub
    checks every /ws token against its account). Idempotent, and safe when several hubs start at once."""
    nodes: dict[str, tuple[str, str | None, str]] = {}
    for path in PATHS.values():
        codes = path.strip("/").split("/")
        for depth, code in enumerate(codes):
            nodes[code] = (LEVELS[depth], codes[depth - 1] if depth else None, "/" + "/".join(codes[: depth + 1]) + "/")
    rows: list[tuple[type[Any], Any, dict[str, Any]]] = [
        (Jurisdiction, code, {"code": code, "name": code, "level": level, "parent_code": parent, "path": path})
        for code, (level, parent, path) in nodes.items()
    ]
    rows += [
        (
            User,
            user_id,
            {
                "id": user_id,
                "username": f"u{user_id}",
                "display_name": f"u{user_id}",
                "password_hash": "-",
                "role": role,
                "jurisdiction_code": code,
                "is_active": True,
                "failed_logins": 0,
                "token_generation": 0,
            },
        )
        for user_id, (role, code) in USERS.items()
    ]
    for model, key, values in rows:
        pk = model.code if model is Jurisdiction else model.id
        with contextlib.suppress(IntegrityError):
            async with engine.begin() as conn:
                if (await conn.execute(select(pk).where(pk == key))).first() is None:
                    await conn.execute(insert(model.__table__).values(**values))


def event_data(event_id: int, grid: str = "G1", *, assignee: int | None = None, **extra: Any) -> dict[str, Any]:
    codes = [c for c in PATHS[grid].strip("/").split("/")]
    return {
        "event_id": event_id,
        "state": "assigned",
        "action": "assign",
        "version": 2,
        "county_code": codes[0],
        "town_code": codes[1],
        "village_code": codes[2],
        "grid_code": codes[3],
        "handling_code": codes[1],
        "assignee_id": assignee,
        "title": f"event {event_id}",
        **extra,
    }


async def add_outbox(engine: AsyncEngine, *rows: tuple[str, str, dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(OutboxMessage.__table__), [{"channel": c, "type": t, "data": d} for c, t, d in rows])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProc:
    """A private ``redis-server`` (no persistence) that a test may kill and restart on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()


class InProcessHub:
    """A uvicorn server running an app in the test's own event loop."""

    def __init__(self, app: Any, *, ws: str = "websockets-sansio") -> None:
        self.app = app
        self.port = free_port()
        self.config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            ws=ws,
            log_level="warning",
            ws_ping_interval=None,
            lifespan="on",
            timeout_graceful_shutdown=5,  # as `gridhub serve`: a connection that does not close is cancelled
        )
        self.server = uvicorn.Server(self.config)
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def __aenter__(self) -> InProcessHub:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is None:
            return
        done, _ = await asyncio.wait([self.task], timeout=20)
        if not done:  # say where the shutdown hangs before giving up on it
            stacks = io.StringIO()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.print_stack(limit=6, file=stacks)
            self.task.cancel()
            raise AssertionError(f"the hub did not stop within 20 s; tasks still running:\n{stacks.getvalue()}")
        self.task.result()


class HubProc:
    """A hub as its own process (so a test can SIGKILL it)."""

    def __init__(self, env: dict[str, str], *, port: int | None = None, factory: str | None = None) -> None:
        self.port = port or free_port()
        self.env = env
        self.factory = factory or "tests.realtime.hubapp:create_app"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                self.factory,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--ws-ping-interval",
                "0",
            ],
            cwd=ROOT,
            env=env,
        )

    async def wait_ready(self, timeout: float = 20) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, "hub exited"
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get(f"http://127.0.0.1:{self.port}/readyz")
                    if r.status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError("hub not ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Raw:
    """A bare protocol client (the websockets library), to check frames exactly."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, url: str, tok: str | None = None, **kw: Any) -> Raw:
        full = f"{url}?token={tok}" if tok else url
        return cls(await websockets.connect(full, **kw))

    async def send(self, obj: Any) -> None:
        await self.ws.send(obj if isinstance(obj, str | bytes) else json.dumps(obj))

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if msg.get("type") != "ping":
                return msg

    async def until(self, pred: Any, timeout: float = 5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.recv(max(0.01, deadline - time.monotonic()))
            if pred(msg):
                return msg

    async def drain(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        out = []
        with contextlib.suppress(TimeoutError):
            while True:
                out.append(await self.recv(quiet))
        return out

    async def subscribe(self, channel: str, since: int | None = None) -> dict[str, Any]:
        op: dict[str, Any] = {"op": "subscribe", "channel": channel}
        if since is not None:
            op["since"] = since
        await self.send(op)
        return await self.until(lambda m: m.get("type") in ("subscribed", "error") and "data" not in m)

    async def close(self) -> None:
        await self.ws.close()
