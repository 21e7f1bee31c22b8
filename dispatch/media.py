"""Event media (contract C6): snapshots, clips and photos kept with an event, on local disk.

Files live under ``<data_dir>/media/<event id>/``; the ``event_media`` row keeps the path relative to
``<data_dir>/media``. Whoever may open the event may open its media (``open_media`` checks it with the
same rule as the event detail); nobody else learns the media exist. ``store`` adds the row in the
caller's transaction (the caller commits).
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.db import Base, Timestamp, utcnow
from dispatch.errors import InvalidInput, NotFound
from dispatch.models import User
from dispatch.service import load_visible_event

KINDS = ("snapshot", "clip", "photo")
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "video/mp4": ".mp4"}


class EventMedia(Base):
    __tablename__ = "event_media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # snapshot | clip | photo
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    #: Relative to <data_dir>/media.
    path: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


def media_root(data_dir: Path) -> Path:
    return Path(data_dir) / "media"


def media_url(media: EventMedia) -> str:
    return f"/api/v1/events/{media.event_id}/media/{media.id}"


def media_dict(media: EventMedia) -> dict[str, Any]:
    return {
        "id": media.id,
        "kind": media.kind,
        "url": media_url(media),
        "content_type": media.content_type,
        "size": media.size,
        "created_by": media.created_by,
        "created_at": media.created_at.isoformat() if media.created_at else None,
    }


async def store(
    db_session: AsyncSession,
    *,
    data_dir: Path,
    event_id: int,
    kind: str,
    content_type: str,
    data: bytes | None = None,
    source: Path | None = None,
    created_by: int | None = None,
) -> EventMedia:
    """Write the bytes (or move the file ``source``) under the media root and add its row (caller commits)."""
    if kind not in KINDS:
        raise InvalidInput(f"unknown media kind {kind!r}: one of {', '.join(KINDS)}", field="kind")
    extension = EXTENSIONS.get(content_type)
    if extension is None:
        raise InvalidInput(f"unsupported content type {content_type!r}", field="content_type")
    if (data is None) == (source is None):
        raise ValueError("give data or source, not both")
    relative = Path(str(event_id)) / f"{kind}-{uuid.uuid4().hex}{extension}"
    target = media_root(data_dir) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        tmp = target.with_suffix(target.suffix + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    else:
        assert source is not None
        shutil.copyfile(source, target)
    media = EventMedia(
        event_id=event_id,
        kind=kind,
        content_type=content_type,
        size=target.stat().st_size,
        path=relative.as_posix(),
        created_by=created_by,
        created_at=utcnow(),
    )
    db_session.add(media)
    await db_session.flush()
    return media


async def list_media(db_session: AsyncSession, event_id: int) -> list[EventMedia]:
    rows = await db_session.scalars(select(EventMedia).where(EventMedia.event_id == event_id).order_by(EventMedia.id))
    return list(rows)


async def open_media(
    db_session: AsyncSession, *, data_dir: Path, user: User, event_id: int, media_id: int
) -> tuple[Path, EventMedia]:
    """The file and row of one medium, when ``user`` may open the event; NotFound otherwise."""
    await load_visible_event(db_session, user, event_id)
    media = await db_session.get(EventMedia, media_id)
    if media is None or media.event_id != event_id:
        raise NotFound(f"media {media_id} of event {event_id} not found")
    root = media_root(data_dir).resolve()
    path = (root / media.path).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"media {media_id} of event {event_id} is no longer on disk")
    return path, media
