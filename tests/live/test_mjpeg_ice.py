"""The MJPEG fallback (pictures decode and change, shared per camera, freed on leave, bounded) and the ICE shim."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import aioice.ice
import cv2
import numpy as np
import pytest
import websockets

from stream import ice
from tests.live.hub import LiveHub, live_hub


@pytest.fixture(scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveHub]:
    async with live_hub(tmp_path_factory.mktemp("live-mjpeg"), mjpeg_max_viewers_per_camera=3) as h:
        for user in ("county_dispatcher", "t1_dispatcher"):
            await h.login(user)
        yield h


async def read_jpegs(hub: LiveHub, url: str, n: int, **params: object) -> tuple[list[np.ndarray], float]:
    """The first ``n`` pictures of a multipart stream, decoded, and the seconds they took."""
    images: list[np.ndarray] = []
    t0 = time.monotonic()
    async with hub.client.stream("GET", url, params=params) as r:
        assert r.status_code == 200, await r.aread()
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace; boundary=")
        assert r.headers["cache-control"] == "no-store"
        buf = b""
        async for chunk in r.aiter_bytes():
            buf += chunk
            while (start := buf.find(b"\xff\xd8")) >= 0 and (end := buf.find(b"\xff\xd9", start)) >= 0:
                image = cv2.imdecode(np.frombuffer(buf[start : end + 2], np.uint8), cv2.IMREAD_COLOR)
                assert image is not None and image.shape == (576, 768, 3)
                images.append(image)
                buf = buf[end + 2 :]
            if len(images) >= n:
                break
    return images, time.monotonic() - t0


async def test_mjpeg_pictures_change_at_the_rate_asked(hub: LiveHub) -> None:
    camera = hub.cameras["t1"]
    url = f"/api/v1/cameras/{camera}/live.mjpeg"
    images, took = await read_jpegs(hub, url, 12, token=hub.tokens["t1_dispatcher"], fps=5, quality=60)
    assert 1.2 < took < 6.0, took  # 12 pictures at 5 a second
    diffs = [float(np.mean(cv2.absdiff(a, b))) for a, b in itertools.pairwise(images)]
    assert sum(d > 0.5 for d in diffs) >= len(diffs) // 2, diffs  # pedestrians walk: the picture changes
    await asyncio.sleep(0.3)
    assert hub.app.state.mjpeg.stats() == {"feeds": 0, "viewers": 0}  # left: feed stopped


async def test_mjpeg_viewers_share_one_feed_and_are_capped(hub: LiveHub) -> None:
    camera = hub.cameras["t1"]
    url = f"/api/v1/cameras/{camera}/live.mjpeg"
    token = hub.tokens["county_dispatcher"]
    seen: list[dict[str, int]] = []

    async def view() -> None:
        await read_jpegs(hub, url, 6, token=token, fps=5)

    async def watch() -> None:
        for _ in range(20):
            seen.append(hub.app.state.mjpeg.stats())
            await asyncio.sleep(0.1)

    await asyncio.gather(view(), view(), view(), watch())
    assert {"feeds": 1, "viewers": 3} in seen
    async with hub.client.stream("GET", url, params={"token": token}) as first:
        assert first.status_code == 200
        others = [hub.client.stream("GET", url, params={"token": token}) for _ in range(2)]
        opened = [await o.__aenter__() for o in others]
        await asyncio.sleep(0.3)
        try:
            r = await hub.client.get(url, params={"token": token})
            assert r.status_code == 429 and r.json()["error"] == "too_many_viewers" and r.json()["limit"] == 3
        finally:
            for o in others:
                await o.__aexit__(None, None, None)
        del opened


async def test_mjpeg_refusals(hub: LiveHub) -> None:
    url = f"/api/v1/cameras/{hub.cameras['t2']}/live.mjpeg"
    r = await hub.client.get(url, params={"token": hub.tokens["t1_dispatcher"]})
    assert r.status_code == 404
    assert (await hub.client.get(url)).status_code == 401
    r = await hub.client.get(f"/api/v1/cameras/{hub.cameras['nosource']}/live.mjpeg", headers=hub.auth("t1_dispatcher"))
    assert r.status_code == 503 and r.json()["state"] == "no_source" and r.headers["retry-after"]
    for bad in ({"fps": 0}, {"fps": 1000}, {"quality": 5}, {"quality": "x"}):
        r = await hub.client.get(url, params=bad, headers=hub.auth("county_dispatcher"))
        assert r.status_code == 422, (bad, r.text)


async def test_jpeg_websocket(hub: LiveHub) -> None:
    """live.ws: one decodable JPEG per message, the feed shared with multipart viewers; refusals as close codes."""
    ws_url = hub.url.replace("http://", "ws://")
    camera = hub.cameras["t1"]
    token = hub.tokens["t1_dispatcher"]
    async with websockets.connect(f"{ws_url}/api/v1/cameras/{camera}/live.ws?token={token}&fps=5") as ws:
        images = []
        for _ in range(6):
            data = await asyncio.wait_for(ws.recv(), 10)
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None and image.shape == (576, 768, 3)
            images.append(image)
        assert hub.app.state.mjpeg.stats() == {"feeds": 1, "viewers": 1}
    for _ in range(20):  # leaving frees the feed
        if hub.app.state.mjpeg.stats()["feeds"] == 0:
            break
        await asyncio.sleep(0.1)
    assert hub.app.state.mjpeg.stats() == {"feeds": 0, "viewers": 0}
    refusals = {
        f"/api/v1/cameras/{hub.cameras['t2']}/live.ws?token={token}": 4404,
        f"/api/v1/cameras/{camera}/live.ws": 4401,
        f"/api/v1/cameras/{camera}/live.ws?token=garbage": 4401,
        f"/api/v1/cameras/{hub.cameras['nosource']}/live.ws?token={token}": 4503,
    }
    for path, code in refusals.items():
        async with websockets.connect(ws_url + path) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code, (path, closed.value)


def test_ice_host_addresses_shim() -> None:
    default = aioice.ice.get_host_addresses
    try:
        ice.use_host_addresses(["127.0.0.1", "::1"])
        assert ice.host_addresses(True, False) == ["127.0.0.1"]
        assert ice.host_addresses(False, True) == ["::1"]
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1", "::1"]
        with pytest.raises(ValueError, match="not an IP address"):
            ice.use_host_addresses(["localhost"])
        ice.use_host_addresses([])
        assert aioice.ice.get_host_addresses is ice._AIOICE_DEFAULT
        assert "127.0.0.1" not in ice.host_addresses(True, False)  # aioice's own leaves loopback out
    finally:
        aioice.ice.get_host_addresses = default
