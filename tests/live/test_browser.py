"""The player in real headless Chromium against a real hub: WebRTC live frames advance, the MJPEG fallback
(forced, and after a WebRTC startup failure) shows changing pictures, closing the page frees the viewer,
and lookback plays a recorded segment from a given second.

Screenshots go to test-artifacts/live/ (or $GRIDHUB_ARTIFACTS/live/).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page

from stream.pool import footage_path
from tests.live.browser import artifacts_dir, chromium
from tests.live.hub import GRID_T1, LiveHub, live_hub


@pytest.fixture(scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveHub]:
    async with live_hub(tmp_path_factory.mktemp("live-browser"), recording_segment_s=4) as h:
        await h.login("t1_dispatcher")
        yield h


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def player_url(hub: LiveHub, camera: int, mode: str, **params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"camera": camera, "mode": mode, **params}.items())
    return f"{hub.url}/screens/player?{query}#token={hub.tokens['t1_dispatcher']}"


async def info(page: Page) -> dict:  # type: ignore[type-arg]
    return await page.evaluate("window.player.info()")


async def wait_until_playing(page: Page, timeout_s: float = 20.0) -> dict:  # type: ignore[type-arg]
    await page.wait_for_function("window.player && window.player.frames > 0", timeout=timeout_s * 1000)
    return await info(page)


async def test_webrtc_live_frames_advance(hub: LiveHub, browser: Browser) -> None:
    camera = hub.cameras["t1"]
    hub.app.state.streams.get(camera)
    await asyncio.sleep(1.5)  # the reader is running with a cached GOP, as on a recording hub
    page = await browser.new_page(viewport={"width": 800, "height": 620})
    try:
        await page.goto(player_url(hub, camera, "live"))
        first = await wait_until_playing(page)
        assert first["mode"] == "live" and first["state"] == "playing", first
        assert first["firstFrameMs"] < 3000, first
        # the hub answers at once (it once spent a second resolving the browser's mDNS candidates)
        assert first["timings"]["answered"] - first["timings"]["gathered"] < 800, first["timings"]
        f0 = first["frames"]
        t0 = await page.evaluate("window.player.media.currentTime")
        await asyncio.sleep(3)
        later = await info(page)
        t1 = await page.evaluate("window.player.media.currentTime")
        size = await page.evaluate("[window.player.media.videoWidth, window.player.media.videoHeight]")
        assert later["mode"] == "live" and later["error"] is None, later
        assert later["frames"] - f0 >= 15, (f0, later)  # 10 fps for 3 s, generous margin
        assert t1 - t0 > 2.0, (t0, t1)
        assert size == [768, 576]
        assert len(hub.app.state.live.viewers) == 1
        await page.screenshot(path=str(artifacts_dir() / "webrtc_live.png"))
    finally:
        await page.close()
    # the page is gone: its DELETE (pagehide) or the closed connection frees the viewer
    deadline = time.monotonic() + 10
    while hub.app.state.live.viewers:
        assert time.monotonic() < deadline, hub.app.state.live.stats()
        await asyncio.sleep(0.1)
    assert hub.subscribers(camera) == 0


async def test_mjpeg_fallback_pictures_change(hub: LiveHub, browser: Browser) -> None:
    camera = hub.cameras["t1"]
    page = await browser.new_page(viewport={"width": 800, "height": 620})
    try:
        await page.goto(player_url(hub, camera, "mjpeg", fps=5, transport="http"))
        first = await wait_until_playing(page)
        assert first["mode"] == "mjpeg" and first["transport"] == "http" and first["state"] == "playing", first
        await asyncio.sleep(3)
        later = await info(page)
        assert later["frames"] - first["frames"] >= 6, (first, later)  # 5 pictures a second, sampled
        size = await page.evaluate("[window.player.media.naturalWidth, window.player.media.naturalHeight]")
        assert size == [768, 576]
        await page.screenshot(path=str(artifacts_dir() / "mjpeg.png"))
    finally:
        await page.close()


async def test_webrtc_that_never_starts_falls_back_to_mjpeg(hub: LiveHub, browser: Browser) -> None:
    """A network where WebRTC never connects (the answer never takes effect): after the startup timeout the
    tile says why (startup_timeout) and plays MJPEG instead."""
    camera = hub.cameras["t1"]
    context = await browser.new_context(viewport={"width": 800, "height": 620})
    await context.add_init_script("RTCPeerConnection.prototype.setRemoteDescription = async function () {};")
    page = await context.new_page()
    try:
        await page.goto(player_url(hub, camera, "live", startup_ms=2000))
        await page.wait_for_function("window.player && window.player.state === 'fallback'", timeout=10_000)
        await page.wait_for_function("window.player.frames > 2", timeout=10_000)
        state = await info(page)
        assert state["mode"] == "mjpeg" and state["error"]["type"] == "startup_timeout", state
        assert state["transport"] == "ws", state
        label = await page.text_content(".tile .label")
        assert "startup_timeout" in label
        await page.screenshot(path=str(artifacts_dir() / "fallback_after_startup_timeout.png"))
    finally:
        await context.close()


async def test_a_wall_of_eight_mjpeg_tiles_all_play(hub: LiveHub, browser: Browser) -> None:
    """Over WebSockets every tile of a wall plays (an <img> multipart wall stops at the browser's six
    connections per host)."""
    ids = ",".join(str(hub.cameras[k]) for k in ("t1", "t1b") * 4)
    page = await browser.new_page(viewport={"width": 1000, "height": 600})
    try:
        await page.goto(f"{hub.url}/screens/player?camera={ids}&mode=mjpeg&fps=5#token={hub.tokens['t1_dispatcher']}")
        await page.wait_for_function("window.players.length === 8 && window.players.every((p) => p.frames > 2)")
        states = await page.evaluate("window.players.map((p) => [p.state, p.transport])")
        assert states == [["playing", "ws"]] * 8, states
        await page.screenshot(path=str(artifacts_dir() / "mjpeg_wall_ws.png"))
    finally:
        await page.close()


async def test_offline_camera_reports_a_typed_error(hub: LiveHub, browser: Browser) -> None:
    page = await browser.new_page()
    try:
        await page.goto(player_url(hub, hub.cameras["nosource"], "live"))
        await page.wait_for_function("window.player && window.player.state === 'error'", timeout=10_000)
        state = await info(page)
        assert state["error"]["type"] == "http" and state["error"]["status"] == 503, state
        assert state["error"]["code"] == "camera_unavailable"
        await page.goto(player_url(hub, hub.cameras["nosource"], "mjpeg"))  # the WebSocket says why too
        await page.wait_for_function("window.player && window.player.state === 'error'", timeout=10_000)
        state = await info(page)
        assert state["error"]["status"] == 503 and state["error"]["code"] == "camera_unavailable", state
        assert "no_source" in state["error"]["message"], state
    finally:
        await page.close()


async def test_lookback_plays_a_recorded_segment_from_a_given_second(hub: LiveHub, browser: Browser) -> None:
    """The recorder writes segments of the camera; the player lists them around t and plays the one that
    covers t from that second on (视频回看)."""
    camera = hub.cameras["t1b"]
    auth = hub.auth("t1_dispatcher")
    deadline = time.monotonic() + 40
    while True:  # a finished segment of at least 3 s
        r = await hub.client.get(f"/api/v1/cameras/{camera}/recordings", headers=auth)
        assert r.status_code == 200, r.text
        done = [it for it in r.json()["items"] if it.get("complete", True)]
        done = [it for it in done if _seconds(it["end"]) - _seconds(it["start"]) >= 3]
        if done:
            break
        assert time.monotonic() < deadline, r.json()
        await asyncio.sleep(0.5)
    segment = done[0]
    offset = 1.5
    t = _seconds(segment["start"]) + offset
    page = await browser.new_page(viewport={"width": 800, "height": 620})
    try:
        await page.goto(player_url(hub, camera, "lookback", t=f"{t:.3f}"))
        first = await wait_until_playing(page)
        assert first["mode"] == "lookback", first
        start_time = await page.evaluate("window.player.media.currentTime")
        seg = await page.evaluate("window.player.segment")
        assert seg["url"] == segment["url"] and abs(seg["offset"] - offset) < 0.01
        # the first picture shown is the one at the given second, not the segment's start (the player seeks
        # before it plays or counts a picture)
        assert offset - 0.1 <= seg["firstFrameAt"] <= offset + 0.6, seg
        f0 = (await info(page))["frames"]
        await asyncio.sleep(1.0)
        later = await info(page)
        now_time = await page.evaluate("window.player.media.currentTime")
        assert later["frames"] > f0 or later["state"] == "ended", (f0, later)
        assert now_time > start_time, (start_time, now_time)
        await page.screenshot(path=str(artifacts_dir() / "lookback.png"))
    finally:
        await page.close()


def _seconds(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def test_a_camera_removed_mid_view_frees_the_viewer_and_the_tile_says_why(hub: LiveHub, browser: Browser) -> None:
    """The camera goes away while watched (an admin deletes it): the hub closes the viewer with the
    source, the tile stalls, tries the fallback, and ends in a typed error (404), not a frozen picture."""
    await hub.login("admin")
    grid = "330100001001001"
    body = {"name": "临时", "lat": 30.0005, "lon": 120.0005, "grid_code": grid, "source_url": str(footage_path())}
    r = await hub.client.post("/api/v1/cameras", json=body, headers=hub.auth("admin"))
    assert r.status_code == 201, r.text
    camera = r.json()["id"]
    page = await browser.new_page()
    try:
        await page.goto(player_url(hub, camera, "live") + "&stall_ms=2000")
        await wait_until_playing(page, timeout_s=30)
        assert len([v for v in hub.app.state.live.viewers.values() if v.camera_id == camera]) == 1
        r = await hub.client.delete(f"/api/v1/cameras/{camera}", headers=hub.auth("admin"))
        assert r.status_code == 204, r.text
        deadline = time.monotonic() + 10
        while any(v.camera_id == camera for v in hub.app.state.live.viewers.values()):
            assert time.monotonic() < deadline, hub.app.state.live.stats()
            await asyncio.sleep(0.1)
        await page.wait_for_function("window.player.state === 'error'", timeout=15_000)
        state = await info(page)
        assert state["error"]["type"] == "http" and state["error"]["status"] == 404, state
    finally:
        await page.close()


async def test_the_console_wall_plays_nearby_cameras_once_and_keeps_them_across_sizes(
    hub: LiveHub, browser: Browser
) -> None:
    """全部播放 fills free windows with the event's nearby cameras that have a source, none twice; a smaller
    wall stops the windows that no longer fit and a larger one plays them again."""
    token = hub.tokens["t1_dispatcher"]
    r = await hub.client.post(
        "/api/v1/events",
        json={"title": "路口拥堵", "category_code": "010101", "grid_code": GRID_T1},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    context = await browser.new_context(viewport={"width": 1600, "height": 900})
    await context.add_init_script(f"localStorage.setItem('gridhub.token', {token!r});")
    page = await context.new_page()
    try:
        await page.goto(f"{hub.url}/screens/console?event={r.json()['id']}")
        await page.wait_for_selector("#playall", timeout=15000)
        labels = "Array.from(document.querySelectorAll('#tiles .tile .label')).map((l) => l.textContent)"
        await page.click("#playall")
        await page.wait_for_function(f"{labels}.length === 2", timeout=10000)
        shown = await page.evaluate(labels)
        assert any("人民路口" in s for s in shown) and any("幸福路口" in s for s in shown), shown
        assert not any("无源" in s for s in shown), "a camera without a source is not put on the wall"
        await page.click("#playall")  # again: nothing new to play, nothing played twice
        await page.wait_for_selector("#toast:not([hidden])")
        assert "没有尚未播放" in await page.text_content("#toast")
        assert len(await page.evaluate(labels)) == 2
        await page.click("#sizes button[data-n='1']")
        await page.wait_for_function(f"{labels}.length === 1")
        await page.click("#sizes button[data-n='4']")
        await page.wait_for_function(f"{labels}.length === 2", timeout=10000)
        assert sorted(s.split(" · ")[0] for s in await page.evaluate(labels)) == sorted(
            s.split(" · ")[0] for s in shown
        )
    finally:
        await context.close()
