"""WebRTC live view against a real hub on loopback, with aiortc peers as viewers (the browser has its own tests).

Frames must really arrive and decode (H.264 passed through), the first one quickly (the cached GOP);
caps answer 429; leaving frees the reader subscription; bad offers are 4xx; jurisdiction is 404.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from stream.webrtc import without_mdns_candidates
from tests.live.hub import LiveHub, live_hub


@pytest.fixture(scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveHub]:
    async with live_hub(
        tmp_path_factory.mktemp("live-webrtc"), live_max_viewers_per_camera=6, live_connect_timeout_s=4
    ) as h:
        for user in ("county_dispatcher", "t1_dispatcher", "t2_dispatcher"):
            await h.login(user)
        yield h


@dataclass
class Peer:
    """A viewer: an aiortc peer connection that decodes what it receives."""

    pc: RTCPeerConnection
    frames: list[tuple[float, int, int]] = field(default_factory=list)  # (time, width, height)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    session_id: str = ""
    posted_at: float = 0.0

    async def close(self) -> None:
        await self.pc.close()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def offer(hub: LiveHub, camera_id: int, user: str = "county_dispatcher", *, expect: int = 200) -> Peer:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    peer = Peer(pc)

    async def consume(track) -> None:  # type: ignore[no-untyped-def]
        try:
            while True:
                frame = await track.recv()
                peer.frames.append((time.monotonic(), frame.width, frame.height))
        except MediaStreamError:
            pass

    pc.on("track", lambda track: peer.tasks.append(asyncio.create_task(consume(track))))
    await pc.setLocalDescription(await pc.createOffer())
    peer.posted_at = time.monotonic()
    r = await hub.client.post(
        f"/api/v1/cameras/{camera_id}/webrtc",
        json={"sdp": pc.localDescription.sdp, "type": "offer"},
        headers=hub.auth(user),
    )
    assert r.status_code == expect, r.text
    if expect != 200:
        await pc.close()
        peer.frames.append((0.0, r.status_code, 0))
        peer.session_id = r.json()["error"]
        return peer
    answer = r.json()
    assert answer["type"] == "answer" and "H264" in answer["sdp"] and "VP8" not in answer["sdp"]
    assert "127.0.0.1" in answer["sdp"]
    peer.session_id = answer["session_id"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    return peer


async def wait_for(predicate, timeout: float = 15.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def leave(hub: LiveHub, peer: Peer, camera_id: int) -> None:
    """What the player does when a tile closes: DELETE the session, close the peer connection."""
    r = await hub.client.delete(
        f"/api/v1/cameras/{camera_id}/webrtc/{peer.session_id}", headers=hub.auth("county_dispatcher")
    )
    assert r.status_code == 204, r.text
    await peer.close()


def reader_subscribers(hub: LiveHub, camera_id: int) -> int:
    return hub.subscribers(camera_id)


async def test_frames_arrive_decoded_and_advance(hub: LiveHub) -> None:
    camera = hub.cameras["t1"]
    hub.app.state.streams.get(camera)
    await asyncio.sleep(1.5)  # the reader runs and holds a GOP, as on a hub that records
    peer = await offer(hub, camera)
    try:
        await wait_for(lambda: len(peer.frames) >= 20, what="20 decoded frames")
        first = peer.frames[0][0] - peer.posted_at
        assert first < 2.0, f"first frame {first:.2f}s after the offer"
        assert {(w, h) for _, w, h in peer.frames} == {(768, 576)}
        # live after the burst: the last 10 frames span about a second (10 fps), not a burst
        span = peer.frames[-1][0] - peer.frames[-11][0]
        assert 0.5 < span < 2.5, span
        assert len(hub.app.state.live.viewers) == 1
    finally:
        await peer.close()
    await wait_for(lambda: not hub.app.state.live.viewers, what="the viewer to be closed")
    await wait_for(lambda: reader_subscribers(hub, camera) == 0, what="the subscription to be freed")


async def test_delete_closes_the_viewer(hub: LiveHub) -> None:
    camera = hub.cameras["t1"]
    peer = await offer(hub, camera)
    try:
        await wait_for(lambda: len(peer.frames) >= 3, what="frames")
        url = f"/api/v1/cameras/{camera}/webrtc/{peer.session_id}"
        r = await hub.client.delete(url, headers=hub.auth("t2_dispatcher"))
        assert r.status_code == 404  # not theirs
        r = await hub.client.delete(url, headers=hub.auth("county_dispatcher"))
        assert r.status_code == 204, r.text
        assert peer.session_id not in hub.app.state.live.viewers
        await wait_for(lambda: reader_subscribers(hub, camera) == 0, what="the subscription to be freed")
        r = await hub.client.delete(url, headers=hub.auth("county_dispatcher"))
        assert r.status_code == 404
    finally:
        await peer.close()


async def test_a_viewer_that_never_connects_is_freed(hub: LiveHub) -> None:
    """An offer whose browser goes away before ICE connects (no answer applied) is closed after the timeout."""
    camera = hub.cameras["t1"]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    r = await hub.client.post(
        f"/api/v1/cameras/{camera}/webrtc",
        json={"sdp": pc.localDescription.sdp, "type": "offer"},
        headers=hub.auth("county_dispatcher"),
    )
    await pc.close()
    assert r.status_code == 200
    session = r.json()["session_id"]
    assert session in hub.app.state.live.viewers
    await wait_for(lambda: session not in hub.app.state.live.viewers, timeout=10, what="the timeout to close it")
    await wait_for(lambda: reader_subscribers(hub, camera) == 0, what="the subscription to be freed")


async def test_cap_per_camera_answers_429_and_the_hub_stays_responsive(hub: LiveHub) -> None:
    """More viewers than the cap (6 here) on one camera: the cap plays, the rest get 429, /healthz stays fast."""
    camera = hub.cameras["t1b"]
    peers = await asyncio.gather(*(offer(hub, camera, expect=200) for _ in range(6)))
    try:
        refused = [await offer(hub, camera, expect=429) for _ in range(3)]
        assert all(p.session_id == "too_many_viewers" for p in refused)
        r = await hub.client.post(
            f"/api/v1/cameras/{camera}/webrtc", json={"sdp": "v=0", "type": "offer"}, headers=hub.auth("t1_dispatcher")
        )
        assert r.status_code == 429 and r.json()["limit"] == 6 and r.headers["retry-after"]
        await wait_for(lambda: all(len(p.frames) >= 10 for p in peers), timeout=30, what="every viewer to play")
        t0 = time.monotonic()
        assert (await hub.client.get("/healthz")).status_code == 200
        assert time.monotonic() - t0 < 1.0
        other = await offer(hub, hub.cameras["t1"])  # another camera is not affected by this one's cap
        await leave(hub, other, hub.cameras["t1"])
    finally:
        for p in peers:
            await p.close()
    await wait_for(lambda: not hub.app.state.live.viewers, what="every viewer closed")
    await wait_for(lambda: reader_subscribers(hub, camera) == 0, what="subscriptions freed")
    await leave(hub, await offer(hub, camera), camera)  # room again


async def test_jurisdiction_and_auth(hub: LiveHub) -> None:
    t2_camera = hub.cameras["t2"]
    body = {"sdp": "v=0\r\n", "type": "offer"}
    r = await hub.client.post(f"/api/v1/cameras/{t2_camera}/webrtc", json=body, headers=hub.auth("t1_dispatcher"))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await hub.client.post("/api/v1/cameras/999999/webrtc", json=body, headers=hub.auth("county_dispatcher"))
    assert r.status_code == 404
    r = await hub.client.post(f"/api/v1/cameras/{t2_camera}/webrtc", json=body)
    assert r.status_code == 401
    r = await hub.client.post(
        f"/api/v1/cameras/{t2_camera}/webrtc", json=body, params={"token": hub.tokens["t1_dispatcher"]}
    )
    assert r.status_code == 404  # ?token= is the same user
    r = await hub.client.post(f"/api/v1/cameras/{t2_camera}/webrtc", json=body, params={"token": "garbage"})
    assert r.status_code == 401


async def test_bad_offers_are_422_and_offline_is_503(hub: LiveHub) -> None:
    camera = hub.cameras["t1"]
    auth = hub.auth("county_dispatcher")
    url = f"/api/v1/cameras/{camera}/webrtc"
    for sdp in ("v=0\r\n", "garbage", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n"):
        r = await hub.client.post(url, json={"sdp": sdp, "type": "offer"}, headers=auth)
        assert r.status_code == 422, (sdp, r.text)
        assert r.json()["error"] == "invalid_offer"
    vp8_only = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    vp8_only.addTransceiver("video", direction="recvonly")
    await vp8_only.setLocalDescription(await vp8_only.createOffer())
    no_h264 = "\r\n".join(line for line in vp8_only.localDescription.sdp.split("\r\n") if "H264" not in line)
    await vp8_only.close()
    r = await hub.client.post(url, json={"sdp": no_h264, "type": "offer"}, headers=auth)
    assert r.status_code == 422 and r.json()["reason"] == "no_h264"
    r = await hub.client.post(url, json={"sdp": "v=0", "type": "answer"}, headers=auth)
    assert r.status_code == 422
    assert not hub.app.state.live.viewers and not any(hub.app.state.live._reserved.values())

    peer = await offer(hub, hub.cameras["nosource"], expect=503)
    assert peer.session_id == "camera_unavailable"
    r = await hub.client.post(
        f"/api/v1/cameras/{hub.cameras['nosource']}/webrtc", json={"sdp": "v=0", "type": "offer"}, headers=auth
    )
    assert r.status_code == 503 and r.json()["state"] == "no_source"


def test_mdns_candidates_are_dropped_from_offers() -> None:
    """Chromium hides host addresses behind <uuid>.local; resolving them cost aiortc a second per offer."""
    offer = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        "a=candidate:1 1 udp 2113937151 5d854d4e-c7b8-4aa5-8dee-8ba7f0e3e062.local 51654 typ host\r\n"
        "a=candidate:2 1 udp 2113937151 127.0.0.1 51655 typ host\r\n"
        "a=rtpmap:96 H264/90000\r\n"
    )
    out = without_mdns_candidates(offer)
    assert ".local" not in out and "127.0.0.1 51655" in out and "H264/90000" in out
    assert out.count("\r\n") == offer.count("\r\n") - 1
