"""An event's media (contract C6): GET one snapshot, clip or photo; POST a photo taken on the spot."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import FileResponse

from dispatch import media
from dispatch.errors import Conflict
from dispatch.media import open_media
from dispatch.models import State
from dispatch.service import load_visible_event
from hub.deps import CurrentUser, MediaUser, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1/events", tags=["events"])

EventId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The event id.")]
MediaId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The media id (from the event detail's media list).")]


@router.get(
    "/{event_id}/media/{media_id}",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file",
            "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "video/mp4": {}},
        },
        401: {"description": "no or invalid token (bearer header or ?token=)"},
        404: {"description": "unknown event or media, or an event you may not open"},
    },
)
async def get_media(
    event_id: EventId, media_id: MediaId, user: MediaUser, db_session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """One medium of an event, for exactly those who may open the event; `?token=` works for img/video tags."""
    path, medium = await open_media(
        db_session, data_dir=settings.data_dir, user=user, event_id=event_id, media_id=media_id
    )
    return FileResponse(path, media_type=medium.content_type, headers={"Cache-Control": "private, max-age=3600"})


PHOTO_TYPES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n", "image/webp": b"RIFF"}


@router.post(
    "/{event_id}/media",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The photo's bytes, with its Content-Type (JPEG, PNG or WebP); at most the hub's body "
            "limit (GRIDHUB_MAX_BODY_BYTES, 1 MiB by default: phones send it downscaled).",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in PHOTO_TYPES},
        }
    },
    responses={
        401: {"description": "no or invalid token"},
        404: {"description": "unknown event, or an event you may not open"},
        409: {"description": "the event is closed or rejected: no more photos"},
        413: {"description": "the photo is over the body limit"},
        415: {"description": "not a JPEG, PNG or WebP picture"},
    },
)
async def upload_photo(
    event_id: EventId, request: Request, user: CurrentUser, db_session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Attach a photo (现场照片) to an event; whoever may open the event may add one while it is open.
    Then pass its `url` in the `attachments` of `handle` (or any action) to tie it to that step."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in PHOTO_TYPES:
        raise HTTPException(415, f"send the picture's bytes as {', '.join(PHOTO_TYPES)} (got {content_type[:60]!r})")
    data = await request.body()
    if not data.startswith(PHOTO_TYPES[content_type]) or not _is_picture(data):
        raise HTTPException(415, f"the body is not a readable {content_type} picture")
    event = await load_visible_event(db_session, user, event_id)
    if event.state in (State.CLOSED.value, State.REJECTED.value):
        raise Conflict(f"event {event_id} is {event.state}: no more photos")
    stored = await media.store(
        db_session,
        data_dir=settings.data_dir,
        event_id=event_id,
        kind="photo",
        content_type=content_type,
        data=data,
        created_by=user.id,
    )
    await db_session.commit()
    return media.media_dict(stored)


def _is_picture(data: bytes) -> bool:
    """Whether the bytes decode to a picture (a renamed PDF or a truncated upload does not)."""
    import cv2
    import numpy as np

    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error:  # some malformed files make the decoder raise rather than return None
        return False
    return image is not None and image.size > 0
