"""`gridhub worker vision` processes share cameras through Redis leases; a killed worker hands its cameras over.

Real PostgreSQL, real Redis, real worker subprocesses reading the bundled footage through stream/'s
readers (file:// source, paced like a camera). Which worker processed which frame is read back from the
``detections:{camera}`` log on the Redis bus (every message names its worker).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import create_async_engine

from hub.realtime.bus_redis import RedisBus
from tests.conftest import create_pg_database, drop_pg_database
from tests.county import insert_county
from tests.realtime.helpers import RedisProc
from tests.vision.footage import FOOTAGE
from vision.leases import PREFIX

ROOT = Path(__file__).resolve().parents[2]
CAMERAS = 4
TTL_S = 1.5


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    from hub.db import create_session_factory
    from hub.migrations import upgrade
    from stream.models import Camera
    from vision.models import VisionRule
    from vision.rules import RuleIn

    redis = RedisProc()
    redis.start()
    url = await create_pg_database()
    try:
        await asyncio.to_thread(upgrade, url)
        engine = create_async_engine(url)
        async with create_session_factory(engine)() as session:
            await insert_county(session)
            for i in range(CAMERAS):
                camera = Camera(
                    name=f"cam{i}", lat=30.005, lon=120.005, grid_code="330100001001001", source_url=f"file://{FOOTAGE}"
                )
                session.add(camera)
                await session.flush()
                spec = RuleIn(name="人员逗留", kind="loitering", dwell_s=3, cooldown_s=3600)
                session.add(VisionRule(camera_id=camera.id, name=spec.name, spec=spec.model_dump(mode="json")))
            await session.commit()
        await engine.dispose()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GRIDHUB_DATABASE_URL": url,
            "GRIDHUB_REDIS_URL": redis.url,
            "GRIDHUB_DATA_DIR": str(tmp_path),
            "GRIDHUB_SECRET_KEY": "worker-secret-" + "w" * 32,
            "GRIDHUB_VISION_LEASE_TTL_S": str(TTL_S),
            "GRIDHUB_VISION_DETECT_FPS": "2",
        }
        yield {"env": env, "redis": redis.url, "url": url}
    finally:
        redis.kill()
        await drop_pg_database(url)


def start_worker(env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log = open(Path(env["GRIDHUB_DATA_DIR"]) / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "worker", "vision", "--worker-id", name],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def leases(r: aioredis.Redis) -> dict[int, str]:
    out = {}
    for camera_id in range(1, CAMERAS + 1):
        owner = await r.get(f"{PREFIX}:camera:{camera_id}")
        if owner is not None:
            out[camera_id] = owner.decode()
    return out


async def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def processed(bus: RedisBus, camera_id: int) -> list[tuple[float, str]]:
    """(frame ts, worker) of every detection frame published for the camera, in publication order."""
    channel = f"detections:{camera_id}"
    head = await bus.history(channel, None, 0)
    history = await bus.history(channel, head.epoch, 100_000)
    return [(m.data["ts"], m.data["worker"]) for m in history.messages]


async def test_workers_share_cameras_and_a_killed_worker_hands_them_over(site: dict[str, Any]) -> None:
    r = aioredis.from_url(site["redis"])
    bus = RedisBus(site["redis"])
    await bus.start()
    a = start_worker(site["env"], "wA")
    b = start_worker(site["env"], "wB")
    try:
        # Both workers up: the four cameras split two and two.
        async def split() -> dict[int, str] | None:
            owners = await leases(r)
            counts = [list(owners.values()).count(w) for w in ("wA", "wB")]
            return owners if len(owners) == CAMERAS and counts == [2, 2] else None

        owners = await wait_for(split, 60, "the cameras to split between the workers")
        a_cameras = [c for c, w in owners.items() if w == "wA"]

        async def all_processing() -> bool:
            counts = [len(await processed(bus, c)) for c in range(1, CAMERAS + 1)]
            return min(counts) >= 3

        try:
            await wait_for(all_processing, 60, "every camera to be processed")
        except AssertionError:
            logs = {n: (Path(site["env"]["GRIDHUB_DATA_DIR"]) / f"{n}.log").read_text()[-3000:] for n in ("wA", "wB")}
            counts = [len(await processed(bus, c)) for c in range(1, CAMERAS + 1)]
            raise AssertionError(f"frames per camera {counts}; worker logs: {logs}") from None
        a.send_signal(signal.SIGKILL)
        a.wait()
        killed_at = time.time()

        async def taken_over() -> bool:
            owners = await leases(r)
            return len(owners) == CAMERAS and set(owners.values()) == {"wB"}

        await wait_for(taken_over, 10, "wB to take over wA's cameras")
        handover_s = time.time() - killed_at
        assert handover_s < 3 * TTL_S + 2, handover_s

        async def b_processes_a_cameras() -> bool:
            done = [any(w == "wB" for _, w in await processed(bus, c)) for c in a_cameras]
            return all(done)

        await wait_for(b_processes_a_cameras, 20, "wB to process wA's former cameras")
        # No camera was ever processed by two workers at once: per camera, the frames of one worker all
        # come before those of the next (A… then B…, never interleaved).
        for camera_id in range(1, CAMERAS + 1):
            frames = await processed(bus, camera_id)
            runs = [w for i, (_, w) in enumerate(frames) if i == 0 or frames[i - 1][1] != w]
            assert len(runs) == len(set(runs)), (camera_id, runs)
            by_worker: dict[str, list[float]] = {}
            for ts, w in frames:
                by_worker.setdefault(w, []).append(ts)
            spans = sorted((min(t), max(t)) for t in by_worker.values())
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert end <= start, (camera_id, spans)
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        await bus.close()
        await r.aclose()
