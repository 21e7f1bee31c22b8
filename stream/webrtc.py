"""WebRTC live view: one aiortc peer connection per viewer, H.264 passed through without re-encoding.

A viewer's track returns the encoded ``av.Packet`` s of the camera's shared reader (Annex-B, SPS/PPS in
band, starting at the cached GOP's keyframe), so aiortc only packetises and encrypts them. Packets are
re-stamped on a per-viewer clock: the cached GOP, sent in a burst, gets consecutive timestamps, so the
browser decodes through it at once and shows the live picture instead of replaying the last second.

:class:`LiveView` keeps the viewers of one hub: caps per camera and in all, closes a viewer whose ICE
fails or never connects, whose page closes its connection, or whose source ends, and frees the reader
subscription with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger("gridhub.live")

VIDEO_CLOCK = 90_000
TIME_BASE = Fraction(1, VIDEO_CLOCK)


class LiveError(Exception):
    """A refusal of the live view; ``code`` is stable, ``details`` go into the JSON error."""

    code = "live_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidOffer(LiveError):
    code = "invalid_offer"


class TooManyViewers(LiveError):
    code = "too_many_viewers"


def h264_capabilities() -> list[Any]:
    """aiortc's H.264 codecs (and their retransmission format), for the transceiver's preferences."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in codecs if c.mimeType.lower() in ("video/h264", "video/rtx")]


def without_mdns_candidates(sdp: str) -> str:
    """The offer without the browser's mDNS-obfuscated host candidates (``<uuid>.local``).

    aiortc resolves them by multicast before answering, which costs a second where nothing answers
    (and sends packets off loopback). Without them ICE still connects: the browser's checks reach the
    hub's own candidates and the hub learns the browser's address from them (peer-reflexive).
    """
    lines = sdp.split("\n")
    kept = [ln for ln in lines if not (ln.startswith("a=candidate:") and ".local " in ln)]
    return "\n".join(kept)


def offers_h264(sdp: str) -> bool:
    return any(line.startswith("a=rtpmap:") and " H264/90000" in line for line in sdp.splitlines())


class PacketTrack(MediaStreamTrack):
    """A video track whose ``recv()`` returns encoded packets, re-stamped on this viewer's clock."""

    kind = "video"

    def __init__(self, packets: AsyncIterator[av.Packet]) -> None:
        super().__init__()
        self._packets = packets
        self._t0: float | None = None
        self._last_pts = -1
        self.packets_sent = 0
        self.first_packet_at: float | None = None

    async def recv(self) -> av.Packet:  # type: ignore[override]
        if self.readyState != "live":
            raise MediaStreamError
        try:
            packet = await anext(self._packets)
        except StopAsyncIteration:
            self.stop()
            raise MediaStreamError from None
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = self.first_packet_at = now
        pts = max(round((now - self._t0) * VIDEO_CLOCK), self._last_pts + 1)
        self._last_pts = pts
        out = av.Packet(bytes(packet))
        out.pts = out.dts = pts
        out.time_base = TIME_BASE
        self.packets_sent += 1
        return out

    async def close_source(self) -> None:
        """End the reader subscription (once the sender no longer waits on it)."""
        aclose = getattr(self._packets, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(RuntimeError):  # still running: the sender's cancellation ends it
                await aclose()


@dataclass
class Viewer:
    id: str
    camera_id: int
    user_id: int | None
    pc: RTCPeerConnection
    track: PacketTrack
    created: float = field(default_factory=time.monotonic)
    connected_at: float | None = None
    closed: bool = False
    reason: str = ""

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "camera_id": self.camera_id,
            "user_id": self.user_id,
            "state": self.pc.connectionState,
            "packets_sent": self.track.packets_sent,
            "age_s": round(time.monotonic() - self.created, 1),
        }


class LiveView:
    """The WebRTC viewers of one hub."""

    def __init__(
        self,
        *,
        max_per_camera: int = 16,
        max_total: int = 100,
        connect_timeout_s: float = 15.0,
        ice_servers: list[str] | None = None,
        resolve_mdns: bool = False,
    ) -> None:
        self.max_per_camera = max_per_camera
        self.max_total = max_total
        self.connect_timeout_s = connect_timeout_s
        self.ice_servers = list(ice_servers or [])
        self.resolve_mdns = resolve_mdns
        self.viewers: dict[str, Viewer] = {}
        self._reserved: dict[int, int] = {}  # camera → offers being answered (counted against the caps)
        self._tasks: set[asyncio.Task[None]] = set()

    def count(self, camera_id: int | None = None) -> int:
        if camera_id is None:
            return len(self.viewers) + sum(self._reserved.values())
        return sum(1 for v in self.viewers.values() if v.camera_id == camera_id) + self._reserved.get(camera_id, 0)

    def check_caps(self, camera_id: int) -> None:
        if self.count(camera_id) >= self.max_per_camera:
            raise TooManyViewers(
                f"camera {camera_id} already has {self.max_per_camera} live viewers; use the MJPEG fallback "
                "or try again later",
                scope="camera",
                limit=self.max_per_camera,
            )
        if self.count() >= self.max_total:
            raise TooManyViewers(
                f"this hub already serves {self.max_total} live viewers", scope="hub", limit=self.max_total
            )

    async def open(
        self,
        *,
        camera_id: int,
        user_id: int | None,
        offer_sdp: str,
        packets: Callable[[], AsyncIterator[av.Packet]],
    ) -> tuple[Viewer, str]:
        """Answer a browser's offer with a peer connection that sends the camera's packets; returns the answer SDP."""
        if not offers_h264(offer_sdp):
            raise InvalidOffer("the offer has no H.264 video: use the MJPEG fallback", reason="no_h264")
        self.check_caps(camera_id)
        if not self.resolve_mdns:
            offer_sdp = without_mdns_candidates(offer_sdp)
        self._reserved[camera_id] = self._reserved.get(camera_id, 0) + 1
        config = RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in self.ice_servers])
        pc = RTCPeerConnection(configuration=config)
        track = PacketTrack(packets())
        viewer = Viewer(id=secrets.token_urlsafe(12), camera_id=camera_id, user_id=user_id, pc=pc, track=track)
        try:
            # The transceiver exists before the offer is applied: aiortc picks the codecs while applying it.
            pc.addTransceiver(track, direction="sendonly").setCodecPreferences(h264_capabilities())
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            except Exception as exc:  # aiortc raises ValueError, KeyError, IndexError … on a malformed SDP
                raise InvalidOffer(f"the offer is not a valid SDP: {type(exc).__name__}", reason="malformed") from None
            try:
                await pc.setLocalDescription(await pc.createAnswer())
            except Exception as exc:
                raise InvalidOffer(f"no answer to this offer: {exc}", reason="negotiation") from None
        except BaseException:
            self._reserved[camera_id] -= 1
            await pc.close()
            await track.close_source()
            raise
        self._reserved[camera_id] -= 1
        self.viewers[viewer.id] = viewer
        self._watch(viewer)
        return viewer, pc.localDescription.sdp

    def _watch(self, viewer: Viewer) -> None:
        pc = viewer.pc

        @pc.on("connectionstatechange")
        async def _state() -> None:
            state = pc.connectionState
            if state == "connected" and viewer.connected_at is None:
                viewer.connected_at = time.monotonic()
            elif state in ("failed", "closed"):
                await self.close(viewer.id, reason=f"connection {state}")

        @viewer.track.on("ended")
        def _ended() -> None:
            self._spawn(self.close(viewer.id, reason="source ended"))

        async def _deadline() -> None:
            await asyncio.sleep(self.connect_timeout_s)
            if viewer.connected_at is None:
                await self.close(viewer.id, reason="ICE did not connect in time")

        self._spawn(_deadline())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, viewer_id: str, *, reason: str = "closed") -> bool:
        """Close one viewer and free its reader subscription; False when it is not (or no longer) here."""
        viewer = self.viewers.pop(viewer_id, None)
        if viewer is None or viewer.closed:
            return False
        viewer.closed, viewer.reason = True, reason
        log.info("live viewer %s of camera %s closed: %s", viewer.id, viewer.camera_id, reason)
        await viewer.pc.close()
        viewer.track.stop()
        await viewer.track.close_source()
        return True

    async def close_camera(self, camera_id: int, *, reason: str = "camera closed") -> None:
        for viewer_id in [v.id for v in self.viewers.values() if v.camera_id == camera_id]:
            await self.close(viewer_id, reason=reason)

    async def stop(self) -> None:
        for viewer_id in list(self.viewers):
            await self.close(viewer_id, reason="hub stopping")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        per_camera: dict[int, int] = {}
        for v in self.viewers.values():
            per_camera[v.camera_id] = per_camera.get(v.camera_id, 0) + 1
        return {"viewers": len(self.viewers), "per_camera": per_camera}
