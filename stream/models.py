"""The camera registry (摄像头上图): where each camera is and where its stream comes from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.db import Base, JsonType, Timestamp, utcnow


class Camera(Base):
    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: RTSP/HTTP/WVP URL or a file path (see stream/sources.py); empty for a camera known on the map only.
    #: Holds credentials: never log it or answer it unredacted (``stream.sources.redact``).
    source_url: Mapped[str] = mapped_column(String(500), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    grid_code: Mapped[str | None] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    #: Legacy column of the seed; the true status comes from the camera's reader (stream/pool.py).
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    tags: Mapped[list[Any]] = mapped_column(JsonType, default=list, server_default="[]")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(Timestamp, default=None, onupdate=utcnow)

    __table_args__ = (Index("ix_cameras_lat_lon", "lat", "lon"),)
