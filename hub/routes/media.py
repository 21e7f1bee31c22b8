"""GET /api/v1/events/{id}/media/{media_id}: an event's snapshot, clip or photo (contract C6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from dispatch.media import open_media
from hub.deps import MediaUser, SessionDep, SettingsDep

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
    path, media = await open_media(
        db_session, data_dir=settings.data_dir, user=user, event_id=event_id, media_id=media_id
    )
    return FileResponse(path, media_type=media.content_type, headers={"Cache-Control": "private, max-age=3600"})
