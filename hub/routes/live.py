"""Live view of a camera: WebRTC (H.264 pass-through) and the MJPEG fallback (视频调度).

Both are opened like a camera read: a camera outside the user's jurisdiction is 404; a camera whose
reader is not online is 503 with its state and reason. Media routes take the bearer header or
``?token=`` (img/video tags cannot send headers), and hold no database connection while they stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from dispatch.errors import NotFound
from dispatch.models import User
from hub.deps import MediaUser, media_user_of
from hub.errors import error_body
from stream.mjpeg import CONTENT_TYPE, MjpegFeeds
from stream.models import Camera
from stream.registry import visible_cameras
from stream.webrtc import LiveError, LiveView, TooManyViewers

router = APIRouter(prefix="/api/v1/cameras", tags=["live"])

FRESH_S = 1.0  # the latest decoded picture starts an MJPEG stream only if it is this recent
CameraId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            "required": ["error", "message"],
        }
    }
}


class SdpOffer(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"type": "offer", "sdp": "v=0\r\n…"}]})
    sdp: Annotated[str, Field(min_length=1, max_length=100_000)]
    type: Literal["offer"]


class SdpAnswer(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
    session_id: str = Field(description="DELETE /api/v1/cameras/{id}/webrtc/{session_id} closes this viewer.")


class Unavailable(Exception):
    def __init__(self, camera_id: int, status: dict[str, Any]) -> None:
        self.camera_id, self.status = camera_id, status


def _refusal(status: int, code: str, message: str, headers: dict[str, str] | None = None, **details: Any) -> Response:
    return JSONResponse(error_body(code, message, **details), status_code=status, headers=headers)


async def visible_camera(request: HTTPConnection, camera_id: int, user: User) -> Camera:
    """The camera, if it lies in the user's jurisdiction; NotFound otherwise (the same as unknown)."""
    async with request.app.state.session_factory() as db_session:
        camera = await db_session.scalar(visible_cameras(user).where(Camera.id == camera_id))
    if camera is None:
        raise NotFound(f"no camera {camera_id}")
    return camera


async def online_reader(request: HTTPConnection, camera: Camera) -> Any:
    """The camera's shared reader once online; waits a little while it is connecting."""
    pool = getattr(request.app.state, "streams", None)
    if pool is None:
        raise Unavailable(camera.id, {"state": "error", "reason": "this hub runs no camera readers"})
    try:
        reader = pool.get(camera.id)
    except KeyError:  # no reader: no source, disabled, or not started here
        raise Unavailable(camera.id, pool.status(camera.id)) from None
    deadline = time.monotonic() + request.app.state.settings.live_start_timeout_s
    while True:
        status = reader.status()
        if status.get("state") == "online":
            return reader
        if status.get("state") not in ("connecting", None) or time.monotonic() >= deadline:
            raise Unavailable(camera.id, status)
        await asyncio.sleep(0.1)


def _unavailable(exc: Unavailable) -> Response:
    state, reason = exc.status.get("state"), exc.status.get("reason") or ""
    message = f"camera {exc.camera_id} is {state}" + (f": {reason}" if reason else "")
    return _refusal(503, "camera_unavailable", message, {"Retry-After": "5"}, state=state, reason=reason)


def _live_error(exc: LiveError) -> Response:
    if isinstance(exc, TooManyViewers):
        return _refusal(429, exc.code, exc.message, {"Retry-After": "10"}, **exc.details)
    return _refusal(422, exc.code, exc.message, **exc.details)


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in", "content": ERROR},
    404: {"description": "Unknown camera, or outside your jurisdiction", "content": ERROR},
    503: {"description": "The camera is not online (`state`, `reason`)", "content": ERROR},
}


@router.post(
    "/{camera_id}/webrtc",
    response_model=SdpAnswer,
    responses={
        **RESPONSES,
        422: {"description": "Not a usable offer (no H.264, malformed SDP)", "content": ERROR},
        429: {"description": "Too many live viewers on this camera or hub (`scope`, `limit`)", "content": ERROR},
    },
)
async def open_webrtc(camera_id: CameraId, offer: SdpOffer, user: MediaUser, request: Request) -> Any:
    """Answer a browser's WebRTC offer with a peer connection that plays the camera live (H.264 pass-through).

    The picture starts at the camera's cached keyframe, so the first frame shows at once. One peer
    connection per viewer; it is closed when ICE fails, the browser closes it, or on DELETE.
    """
    camera = await visible_camera(request, camera_id, user)
    live: LiveView = request.app.state.live
    try:
        live.check_caps(camera.id)
        reader = await online_reader(request, camera)
    except TooManyViewers as exc:
        return _live_error(exc)
    except Unavailable as exc:
        return _unavailable(exc)
    try:
        viewer, sdp = await live.open(camera_id=camera.id, user_id=user.id, offer_sdp=offer.sdp, packets=reader.packets)
    except LiveError as exc:
        return _live_error(exc)
    return SdpAnswer(sdp=sdp, session_id=viewer.id)


@router.delete(
    "/{camera_id}/webrtc/{session_id}",
    status_code=204,
    responses={401: RESPONSES[401], 404: {"description": "No such live session of yours", "content": ERROR}},
)
async def close_webrtc(
    camera_id: CameraId,
    session_id: Annotated[str, Path(min_length=1, max_length=64)],
    user: MediaUser,
    request: Request,
) -> Response:
    """Close a live viewer (the player calls it when a tile closes or the page goes away)."""
    live: LiveView = request.app.state.live
    viewer = live.viewers.get(session_id)
    if viewer is None or viewer.camera_id != camera_id or viewer.user_id != user.id:
        raise NotFound(f"no live session {session_id!r} of camera {camera_id}")
    await live.close(session_id, reason="closed by the viewer")
    return Response(status_code=204)


@router.get(
    "/{camera_id}/live.mjpeg",
    response_class=StreamingResponse,
    responses={
        **RESPONSES,
        200: {"description": "multipart/x-mixed-replace JPEG stream", "content": {CONTENT_TYPE: {}}},
        429: {"description": "Too many MJPEG viewers on this camera", "content": ERROR},
    },
)
async def live_mjpeg(
    camera_id: CameraId,
    user: MediaUser,
    request: Request,
    fps: Annotated[int, Query(ge=1, le=25, description="Pictures a second (bounded by the hub's setting).")] = 5,
    quality: Annotated[int, Query(ge=10, le=95, description="JPEG quality.")] = 70,
) -> Response:
    """The camera live as MJPEG (`<img src=…?token=…>`): the fallback where WebRTC cannot play."""
    camera = await visible_camera(request, camera_id, user)
    feeds: MjpegFeeds = request.app.state.mjpeg
    if feeds.full(camera.id):
        return _live_error(
            TooManyViewers(
                f"camera {camera.id} already has {feeds.max_per_camera} MJPEG viewers",
                scope="camera",
                limit=feeds.max_per_camera,
            )
        )
    try:
        reader = await online_reader(request, camera)
    except Unavailable as exc:
        return _unavailable(exc)
    fps, quality, latest = _feed_args(request, reader, fps, quality)
    body = feeds.stream(camera.id, fps, quality, lambda: reader.frames(fps), latest)
    return StreamingResponse(
        body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


def _feed_args(connection: HTTPConnection, reader: Any, fps: int, quality: int) -> tuple[int, int, Any]:
    fps = min(fps, connection.app.state.settings.mjpeg_max_fps)
    quality = round(quality, -1) if quality >= 15 else 10  # shared feeds: quality in steps of 10
    latest = reader.latest_frame()
    if latest is not None and time.time() - latest.ts > FRESH_S:  # decoding was idle: an old picture misleads
        latest = None
    return fps, quality, latest


# WebSocket close codes of live.ws: 4000 + the HTTP status the same refusal has on live.mjpeg.
WS_UNAUTHORIZED, WS_NOT_FOUND, WS_TOO_MANY, WS_UNAVAILABLE = 4401, 4404, 4429, 4503


@router.websocket("/{camera_id}/live.ws")
async def live_ws(
    websocket: WebSocket,
    camera_id: CameraId,
    fps: Annotated[int, Query(ge=1, le=25)] = 5,
    quality: Annotated[int, Query(ge=10, le=95)] = 70,
    token: Annotated[str | None, Query(max_length=4096)] = None,
) -> None:
    """The MJPEG fallback over a WebSocket: one binary message per JPEG (``?token=`` required).

    Refusals close the socket after accepting it, with code 4000 + the HTTP status of the same refusal
    (4401, 4404, 4429, 4503) and the reason as text, so the player can say why.
    """
    await websocket.accept()
    try:
        user = await media_user_of(websocket, token)
        camera = await visible_camera(websocket, camera_id, user)
    except HTTPException as exc:
        await websocket.close(WS_UNAUTHORIZED, str(exc.detail)[:120])
        return
    except NotFound as exc:
        await websocket.close(WS_NOT_FOUND, exc.message[:120])
        return
    feeds: MjpegFeeds = websocket.app.state.mjpeg
    if feeds.full(camera.id):
        await websocket.close(WS_TOO_MANY, f"camera {camera.id} already has {feeds.max_per_camera} MJPEG viewers")
        return
    try:
        reader = await online_reader(websocket, camera)
    except Unavailable as exc:
        reason = f"{exc.status.get('state')}: {exc.status.get('reason') or ''}".strip(": ")
        await websocket.close(WS_UNAVAILABLE, reason[:120])
        return
    fps, quality, latest = _feed_args(websocket, reader, fps, quality)

    async def send() -> None:
        pictures = feeds.pictures(camera.id, fps, quality, lambda: reader.frames(fps), latest)
        async with contextlib.aclosing(pictures) as jpegs:
            async for jpeg in jpegs:
                await websocket.send_bytes(jpeg)

    sender = asyncio.create_task(send())
    try:
        while not sender.done():  # the client says nothing; a receive ends when it leaves
            receive = asyncio.ensure_future(websocket.receive())
            done, _ = await asyncio.wait({sender, receive}, return_when=asyncio.FIRST_COMPLETED)
            if receive in done and receive.result().get("type") == "websocket.disconnect":
                break
            if receive not in done:
                receive.cancel()
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
