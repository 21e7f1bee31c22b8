"""The camera registry (摄像头上图): CRUD and CSV import for admins, reads scoped by jurisdiction, the
true status of each camera's reader, snapshots, and the recordings of lookback (视频回看)."""

from __future__ import annotations

import asyncio
import csv
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import urlencode

import cv2
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask

from dispatch import audit, jurisdictions
from dispatch.errors import InvalidInput, NotFound, Unsuitable
from dispatch.models import Jurisdiction, Level, User
from dispatch.schemas import Storable
from hub.auditing import actor
from hub.deps import AdminUser, CurrentUser, MediaUser, SessionDep
from hub.errors import error_body
from stream.models import Camera
from stream.pool import ReaderPool, entry_of
from stream.recordings import NoRecording, RecordingStore
from stream.registry import MAX_TAGS, camera_dict, merge_source, parse_csv, visible_cameras
from stream.sources import SOURCE_PATTERN, redact, validate

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])

CameraId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Tag = Annotated[str, Field(min_length=1, max_length=32)]
ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            "required": ["error", "message"],
        }
    }
}
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in", "content": ERROR},
    404: {"description": "Unknown camera, or outside your jurisdiction", "content": ERROR},
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **READ_RESPONSES,
    403: {"description": "Admins only", "content": ERROR},
    409: {"description": "The grid is unknown or outside your jurisdiction (`unsuitable`)", "content": ERROR},
    422: {"description": "Invalid camera", "content": ERROR},
}


def _check_source(value: str) -> str:
    problem = validate(value)
    if problem:
        raise ValueError(f"source_url: {problem}")
    return value


class CameraIn(Storable):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "人民路与幸福路口",
                    "lat": 30.41,
                    "lon": 119.98,
                    "source_url": "rtsp://admin:password@10.0.0.5:554/Streaming/Channels/101",
                    "tags": ["路口", "高点"],
                }
            ]
        },
    )
    name: Annotated[str, Field(min_length=1, max_length=100)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    source_url: Annotated[
        str,
        Field(
            max_length=500,
            pattern=SOURCE_PATTERN,
            description="rtsp:// (rtsp+udp:// for UDP), http(s)://, an absolute file path, or "
            "wvp://user:password@host:port/{deviceId}/{channelId}; empty: on the map only",
        ),
    ] = ""
    grid_code: Annotated[str | None, Field(max_length=32)] = None
    tags: Annotated[list[Tag], Field(max_length=MAX_TAGS, default_factory=list)]
    enabled: bool = True

    _source = field_validator("source_url")(_check_source)


class CameraPatch(Storable):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": False}]})
    name: Annotated[str | None, Field(min_length=1, max_length=100)] = None
    lat: Annotated[float | None, Field(ge=-90, le=90)] = None
    lon: Annotated[float | None, Field(ge=-180, le=180)] = None
    source_url: Annotated[
        str | None,
        Field(
            max_length=500,
            pattern=SOURCE_PATTERN,
            description="As on create; the masked URL (`user:***@`) keeps the stored password",
        ),
    ] = None
    grid_code: Annotated[str | None, Field(max_length=32)] = None
    tags: Annotated[list[Tag] | None, Field(max_length=MAX_TAGS)] = None
    enabled: bool | None = None

    @field_validator("source_url")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None else _check_source(value)


class CameraPage(BaseModel):
    items: list[dict[str, Any]]
    total: int


class ImportReport(BaseModel):
    created: int
    ids: list[int]
    rejected: list[dict[str, Any]] = Field(description="Rows not imported: `line` (1 = header), `error`.")


def pool_of(request: Request) -> ReaderPool | None:
    return getattr(request.app.state, "streams", None)


def status_of(request: Request, camera: Camera) -> dict[str, Any]:
    pool = pool_of(request)
    if pool is None or not isinstance(pool, ReaderPool):
        return {"state": "no_source" if not camera.source_url.strip() else "offline", "reason": "no readers here"}
    return pool.status(camera.id)


async def visible_camera(db_session: AsyncSession, camera_id: int, user: User) -> Camera:
    """The camera if it lies in the user's jurisdiction; NotFound otherwise (the same as unknown)."""
    camera = await db_session.scalar(visible_cameras(user).where(Camera.id == camera_id))
    if camera is None:
        raise NotFound(f"no camera {camera_id}")
    return camera


async def _grid_for(db_session: AsyncSession, user: User, grid_code: str | None, lat: float, lon: float) -> str:
    """The camera's grid: the one named (a grid inside the admin's jurisdiction) or the one at its position."""
    if grid_code:
        try:
            grid = await jurisdictions.get_jurisdiction(db_session=db_session, code=grid_code)
        except NotFound:
            grid = None
        if grid is None or grid.level != Level.GRID.value or not grid.path.startswith(user.jurisdiction.path):
            raise Unsuitable(f"{grid_code!r} is not a grid of your jurisdiction", field="grid_code")
    else:
        grid = await jurisdictions.locate_grid(
            db_session=db_session, lat=lat, lon=lon, within_path=user.jurisdiction.path
        )
    return grid.code


async def _sync_pool(request: Request, db_session: AsyncSession, camera: Camera) -> None:
    pool = pool_of(request)
    if isinstance(pool, ReaderPool):
        path = await db_session.scalar(select(Jurisdiction.path).where(Jurisdiction.code == camera.grid_code))
        await pool.configure(entry_of(camera, path))


@router.get("", response_model=CameraPage, responses=READ_RESPONSES)
async def list_cameras(
    request: Request,
    user: CurrentUser,
    db_session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=5000)] = 500,
    q: Annotated[str | None, Query(max_length=100, description="Name contains")] = None,
    tag: Annotated[str | None, Query(max_length=32, description="Cameras carrying this tag")] = None,
    enabled: bool | None = None,
) -> CameraPage:
    """Cameras in the user's jurisdiction, with position, masked source and the reader's true status."""
    query = visible_cameras(user)
    if q:
        query = query.where(Camera.name.contains(q.replace("\x00", ""), autoescape=True))
    if enabled is not None:
        query = query.where(Camera.enabled.is_(enabled))
    if tag:  # tags are a JSON list: filtered here, the same on both engines
        tagged = [c for c in await db_session.scalars(query.order_by(Camera.id)) if tag in (c.tags or [])]
        total: int | None = len(tagged)
        rows = tagged[(page - 1) * page_size : page * page_size]
    else:
        total = await db_session.scalar(select(func.count()).select_from(query.subquery()))
        rows = list(await db_session.scalars(query.order_by(Camera.id).offset((page - 1) * page_size).limit(page_size)))
    return CameraPage(items=[camera_dict(c, status=status_of(request, c)) for c in rows], total=int(total or 0))


@router.post("", status_code=201, responses=ADMIN_RESPONSES)
async def add_camera(request: Request, body: CameraIn, user: AdminUser, db_session: SessionDep) -> dict[str, Any]:
    """Register a camera (admin); its grid is found from its position when not given."""
    grid = await _grid_for(db_session, user, body.grid_code, body.lat, body.lon)
    camera = Camera(
        name=body.name,
        lat=body.lat,
        lon=body.lon,
        source_url=body.source_url,
        grid_code=grid,
        tags=list(body.tags),
        enabled=body.enabled,
    )
    db_session.add(camera)
    await db_session.flush()
    await audit.record(
        db_session,
        kind="camera.create",
        **actor(user),
        address=None,
        target=f"camera:{camera.id}",
        detail={
            "name": camera.name,
            "grid_code": grid,
            "source_url": redact(camera.source_url),
            "enabled": camera.enabled,
        },
    )
    await db_session.commit()
    await _sync_pool(request, db_session, camera)
    return camera_dict(camera, status=status_of(request, camera))


@router.post(
    "/import",
    response_model=ImportReport,
    responses={**ADMIN_RESPONSES, 415: {"description": "Not text/csv", "content": ERROR}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "name,lat,lon,source_url,grid_code,tags,enabled\n"
                    "人民路口,30.41,119.98,rtsp://10.0.0.5/main,,路口;高点,true\n",
                }
            },
        }
    },
)
async def import_cameras(request: Request, user: AdminUser, db_session: SessionDep) -> Any:
    """Import a camera list (CSV, UTF-8, header ``name,lat,lon[,source_url,grid_code,tags,enabled]``; tags
    separated by ``;``). Valid rows are created together; every other row is reported with its reason."""
    if not request.headers.get("content-type", "").lower().startswith("text/csv"):
        return JSONResponse(error_body("unsupported_media_type", "send the list as text/csv"), status_code=415)
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV must be UTF-8") from None
    try:
        parsed = parse_csv(text)
    except (ValueError, csv.Error) as exc:
        raise InvalidInput(str(exc)[:300]) from None
    rejected = list(parsed.rejected)
    cameras: list[Camera] = []
    for row in parsed.rows:
        try:
            grid = await _grid_for(db_session, user, row.grid_code, row.lat, row.lon)
        except (InvalidInput, NotFound, Unsuitable) as exc:
            rejected.append({"line": row.line, "name": row.name, "error": exc.message})
            continue
        camera = Camera(
            name=row.name,
            lat=row.lat,
            lon=row.lon,
            source_url=row.source_url,
            grid_code=grid,
            tags=row.tags,
            enabled=row.enabled,
        )
        db_session.add(camera)
        cameras.append(camera)
    await db_session.flush()
    await audit.record(
        db_session,
        kind="camera.import",
        **actor(user),
        address=None,
        target="cameras",
        detail={"created": [c.id for c in cameras], "rejected": len(rejected)},
    )
    await db_session.commit()
    for camera in cameras:
        await _sync_pool(request, db_session, camera)
    rejected.sort(key=lambda r: r["line"])
    return ImportReport(created=len(cameras), ids=[c.id for c in cameras], rejected=rejected)


@router.api_route("/import", methods=["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], include_in_schema=False)
async def import_other_methods() -> Response:
    """``/cameras/import`` takes only POST (without this, ``GET /cameras/import`` would be read as a camera id)."""
    return JSONResponse(
        error_body("method_not_allowed", "only POST (a text/csv camera list) is allowed here"),
        status_code=405,
        headers={"Allow": "POST"},
    )


@router.get("/{camera_id}", responses=READ_RESPONSES)
async def get_camera(
    request: Request, camera_id: CameraId, user: CurrentUser, db_session: SessionDep
) -> dict[str, Any]:
    """One camera with its true status: ``no_source``, ``connecting``, ``online`` (fps, resolution, codec,
    last frame time), ``offline`` or ``error`` with the reason."""
    camera = await visible_camera(db_session, camera_id, user)
    return camera_dict(camera, status=status_of(request, camera))


@router.patch("/{camera_id}", responses=ADMIN_RESPONSES)
async def update_camera(
    request: Request, camera_id: CameraId, body: CameraPatch, user: AdminUser, db_session: SessionDep
) -> dict[str, Any]:
    """Change a camera (admin). Sending back the masked ``source_url`` keeps the stored credentials."""
    camera = await visible_camera(db_session, camera_id, user)
    fields = body.model_dump(exclude_unset=True)
    for key in ("name", "lat", "lon", "enabled"):
        if fields.get(key) is not None:
            setattr(camera, key, fields[key])
    if fields.get("tags") is not None:
        camera.tags = list(fields["tags"])
    if fields.get("source_url") is not None:
        camera.source_url = merge_source(camera.source_url, fields["source_url"])
    if "grid_code" in fields or "lat" in fields or "lon" in fields:
        camera.grid_code = await _grid_for(db_session, user, fields.get("grid_code"), camera.lat, camera.lon)
    changed = {k: (redact(v) if k == "source_url" and isinstance(v, str) else v) for k, v in fields.items()}
    await audit.record(
        db_session, kind="camera.update", **actor(user), address=None, target=f"camera:{camera.id}", detail=changed
    )
    await db_session.commit()
    await _sync_pool(request, db_session, camera)
    return camera_dict(camera, status=status_of(request, camera))


@router.delete("/{camera_id}", status_code=204, responses=ADMIN_RESPONSES)
async def delete_camera(request: Request, camera_id: CameraId, user: AdminUser, db_session: SessionDep) -> Response:
    """Remove a camera (admin): its reader stops; recordings stay until retention removes them."""
    camera = await visible_camera(db_session, camera_id, user)
    await db_session.delete(camera)
    await audit.record(
        db_session,
        kind="camera.delete",
        **actor(user),
        address=None,
        target=f"camera:{camera_id}",
        detail={"name": camera.name, "grid_code": camera.grid_code},
    )
    await db_session.commit()
    pool = pool_of(request)
    if isinstance(pool, ReaderPool):
        await pool.remove(camera_id)
    return Response(status_code=204)


@router.get(
    "/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={
        **READ_RESPONSES,
        200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, "description": "JPEG"},
        503: {"description": "The camera is not online (`state`, `reason`)", "content": ERROR},
    },
)
async def snapshot(request: Request, camera_id: CameraId, user: MediaUser, db_session: SessionDep) -> Response:
    """The camera's latest picture (decoding the current GOP when nobody decodes); 503 with the reason
    while the camera is not online. Takes the bearer header or ``?token=``."""
    camera = await visible_camera(db_session, camera_id, user)
    await db_session.close()  # hold no connection while decoding
    pool = pool_of(request)
    reader = None
    if pool is not None:
        try:
            reader = pool.get(camera.id)
        except KeyError:
            reader = None
    status = reader.status() if reader is not None else status_of(request, camera)
    frame = await reader.snapshot() if reader is not None and status.get("state") == "online" else None
    if frame is None:
        state, reason = status.get("state"), status.get("reason") or ""
        if state == "online":
            reason = reason or "no picture decoded in time"
        message = f"camera {camera.id} is {state}" + (f": {reason}" if reason else "")
        return JSONResponse(
            error_body("camera_unavailable", message, state=state, reason=reason),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:  # pragma: no cover - OpenCV encodes any BGR image
        return JSONResponse(error_body("camera_unavailable", "could not encode the picture"), status_code=503)
    age = max(0.0, time.time() - frame.ts)
    return Response(
        jpeg.tobytes(),
        media_type="image/jpeg",
        headers={"Cache-Control": "no-store", "X-Frame-Age": f"{age:.3f}", "X-Frame-Time": f"{frame.ts:.3f}"},
    )


# lookback (视频回看) ---------------------------------------------------------------------------------
SEGMENT_NAME = r"^\d{10,16}(-\d{10,16}|\.part)\.mp4$"
MAX_RANGE_S = 7 * 86400
MAX_CLIP_S = 600
VIDEO = {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}


class RecordingItem(BaseModel):
    start: datetime
    end: datetime
    url: str = Field(description="The segment (MP4, HTTP Range); add `?token=` for a <video> tag.")
    complete: bool = Field(description="False for the segment being written now.")
    size: int


class RecordingList(BaseModel):
    camera_id: int
    start: datetime
    end: datetime
    items: list[RecordingItem]


def recording_store(request: Request) -> RecordingStore | None:
    hub = getattr(request.app.state, "streams_hub", None)
    return getattr(hub, "store", None)


def _range(start: datetime | None, end: datetime | None, *, default_s: float, limit_s: float) -> tuple[float, float]:
    now = time.time()
    try:
        hi = end.timestamp() if end is not None else now
        lo = start.timestamp() if start is not None else hi - default_s
    except (OverflowError, ValueError, OSError):
        raise InvalidInput("start/end out of range") from None
    if hi <= lo:
        raise InvalidInput("end must be after start", field="end")
    if hi - lo > limit_s:
        raise InvalidInput(f"at most {int(limit_s)} s between start and end", field="end")
    return lo, hi


def lookback_links(camera_id: int, at: datetime, *, before_s: float = 30.0, after_s: float = 30.0) -> dict[str, Any]:
    """Where the recording of a camera around ``at`` can be listed and fetched (event detail, nearby)."""
    start = (at - timedelta(seconds=before_s)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    end = (at + timedelta(seconds=after_s)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    query = urlencode({"start": start, "end": end})
    return {
        "start": start,
        "end": end,
        "recordings_url": f"/api/v1/cameras/{camera_id}/recordings?{query}",
        "clip_url": f"/api/v1/cameras/{camera_id}/clip.mp4?{query}",
    }


@router.get(
    "/{camera_id}/recordings",
    response_model=RecordingList,
    responses=READ_RESPONSES | {422: {"content": ERROR, "description": "Bad range"}},
)
async def list_recordings(
    request: Request,
    camera_id: CameraId,
    user: CurrentUser,
    db_session: SessionDep,
    start: Annotated[datetime | None, Query(description="ISO time; default: an hour before end")] = None,
    end: Annotated[datetime | None, Query(description="ISO time; default: now")] = None,
) -> RecordingList:
    """Recorded segments of the camera overlapping ``[start, end]`` (at most 7 days), oldest first; each
    item's ``url`` plays in a browser's <video> from any second (``start`` is the wall time of its first
    frame)."""
    await visible_camera(db_session, camera_id, user)
    lo, hi = _range(start, end, default_s=3600, limit_s=MAX_RANGE_S)
    store = recording_store(request)
    segments = await asyncio.to_thread(store.segments, camera_id, lo, hi) if store is not None else []
    items = []
    for seg in segments:
        try:
            size = seg.path.stat().st_size
        except FileNotFoundError:
            continue
        items.append(
            RecordingItem(
                start=datetime.fromtimestamp(seg.start, UTC),
                end=datetime.fromtimestamp(seg.end, UTC),
                url=f"/api/v1/cameras/{camera_id}/recordings/{seg.name}",
                complete=seg.complete,
                size=size,
            )
        )
    return RecordingList(
        camera_id=camera_id, start=datetime.fromtimestamp(lo, UTC), end=datetime.fromtimestamp(hi, UTC), items=items
    )


@router.get(
    "/{camera_id}/recordings/{name}",
    response_class=FileResponse,
    responses={
        **READ_RESPONSES,
        200: {"content": VIDEO, "description": "The segment"},
        206: {"content": VIDEO, "description": "A byte range of it"},
    },
)
async def get_recording(
    request: Request,
    camera_id: CameraId,
    name: Annotated[str, Path(pattern=SEGMENT_NAME, max_length=40)],
    user: MediaUser,
    db_session: SessionDep,
) -> Response:
    """One recorded segment (video/mp4, HTTP Range supported). Bearer header or ``?token=``."""
    await visible_camera(db_session, camera_id, user)
    await db_session.close()
    store = recording_store(request)
    seg = await asyncio.to_thread(store.find, camera_id, name) if store is not None else None
    if seg is None:
        raise NotFound(f"no recording {name} of camera {camera_id}")
    return FileResponse(seg.path, media_type="video/mp4", headers={"Cache-Control": "private, max-age=60"})


@router.get(
    "/{camera_id}/clip.mp4",
    response_class=FileResponse,
    responses={
        **READ_RESPONSES,
        200: {"content": VIDEO, "description": "The clip"},
        422: {"content": ERROR, "description": "Bad range"},
    },
)
async def get_clip(
    request: Request,
    camera_id: CameraId,
    user: MediaUser,
    db_session: SessionDep,
    start: Annotated[datetime, Query(description="ISO time")],
    end: Annotated[datetime, Query(description="ISO time; at most 10 minutes after start")],
) -> Response:
    """One MP4 of the camera between ``start`` and ``end`` remuxed from its segments (no re-encode), from
    the keyframe at or before ``start``; 404 where nothing was recorded then."""
    await visible_camera(db_session, camera_id, user)
    await db_session.close()
    lo, hi = _range(start, end, default_s=60, limit_s=MAX_CLIP_S)
    store = recording_store(request)
    if store is None:
        raise NotFound(f"camera {camera_id} has no recording then")
    folder = FilePath(tempfile.mkdtemp(prefix="gridhub-clip-"))
    out = folder / f"camera{camera_id}-{int(lo)}.mp4"
    try:
        await asyncio.to_thread(store.write_clip, camera_id, lo, hi, out)
    except NoRecording as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise NotFound(str(exc)) from None
    return FileResponse(
        out,
        media_type="video/mp4",
        filename=out.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
