"""The tables of vision/: rules per camera and the candidate events they raised (for precision)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.db import Base, JsonType, Timestamp, utcnow


class VisionRule(Base):
    """One detection rule of one camera; ``spec`` is a ``vision.rules.RuleIn`` as JSON.

    ``origin`` is ``api`` (edited over HTTP) or ``config`` (from config/vision.yaml, read-only over HTTP).
    """

    __tablename__ = "vision_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    spec: Mapped[dict[str, Any]] = mapped_column(JsonType)
    origin: Mapped[str] = mapped_column(String(16), default="api")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class VisionCandidate(Base):
    """An event a rule raised: which rule, which camera, the best score; joined with the event's outcome."""

    __tablename__ = "vision_candidates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("vision_rules.id", ondelete="SET NULL"))
    rule_name: Mapped[str] = mapped_column(String(100))
    camera_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    tracks: Mapped[list[Any]] = mapped_column(JsonType, default=list)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    __table_args__ = (Index("ix_vision_candidates_rule", "rule_id", "created_at"),)
