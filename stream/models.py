"""The camera registry (摄像头上图): where each camera is and where its stream comes from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.db import Base, Timestamp, utcnow


class Camera(Base):
    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: RTSP/HTTP URL or a file path; empty for a camera known on the map only.
    source_url: Mapped[str] = mapped_column(String(500), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    grid_code: Mapped[str | None] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="unknown")  # online | offline | unknown
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    __table_args__ = (Index("ix_cameras_lat_lon", "lat", "lon"),)
