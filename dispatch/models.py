"""Tables of the event domain: jurisdictions, users, events, their timeline, extensions and the outbox."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dispatch.db import Base, JsonType, Timestamp, utcnow


class Level(enum.StrEnum):
    """The four levels of the jurisdiction tree, from the root down."""

    COUNTY = "county"  # 县区
    TOWN = "town"  # 镇街
    VILLAGE = "village"  # 村社
    GRID = "grid"  # 网格


LEVEL_ORDER: tuple[Level, ...] = (Level.COUNTY, Level.TOWN, Level.VILLAGE, Level.GRID)


class Role(enum.StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"  # 坐席员
    LEADER = "leader"
    RESPONDER = "responder"  # 网格员 / 处置人员
    DEPARTMENT = "department"  # 职能部门
    #: 接入账号: a system that reports events (a detection worker, the 12345 hotline gateway); nothing else.
    SERVICE = "service"


class State(enum.StrEnum):
    """Event states (DESIGN section 3)."""

    PENDING = "pending"  # 待受理
    REJECTED = "rejected"  # 不予受理
    ACCEPTED = "accepted"  # 待交办
    ASSIGNED = "assigned"  # 待签收
    IN_PROGRESS = "in_progress"  # 办理中
    PENDING_VERIFY = "pending_verify"  # 待核查
    CLOSED = "closed"  # 已办结


class Urgency(enum.StrEnum):
    NORMAL = "normal"  # 一般
    URGENT = "urgent"  # 紧急
    CRITICAL = "critical"  # 特急


class Source(enum.StrEnum):
    CITIZEN = "citizen"  # 群众
    GRID_WORKER = "grid_worker"  # 网格员巡查
    HOTLINE = "hotline"  # 热线 12345
    DETECTION = "detection"  # 视频智能发现
    DEPARTMENT = "department"  # 部门
    IMPORT = "import"  # 历史数据导入
    DISPATCHER = "dispatcher"  # 指挥中心录入 (entered in a command room)


class Jurisdiction(Base):
    """A node of the tree 县区 → 镇街 → 村社 → 网格.

    ``path`` is the materialised path of codes (``/county/town/village/grid/``) so a subtree is one
    prefix; the four ``*_code`` ancestor columns are what event queries filter on.
    """

    __tablename__ = "jurisdictions"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("jurisdictions.code", ondelete="RESTRICT"), index=True)
    path: Mapped[str] = mapped_column(String(200), index=True)
    center_lat: Mapped[float | None] = mapped_column(Float)
    center_lon: Mapped[float | None] = mapped_column(Float)
    #: GeoJSON geometry (a Polygon) of the boundary, WGS-84 lon/lat.
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JsonType)

    def ancestor_codes(self) -> dict[str, str]:
        """``{"county": …, "town": …, …}`` for this node and the levels above it."""
        codes = [c for c in self.path.strip("/").split("/") if c]
        return {level.value: code for level, code in zip(LEVEL_ORDER, codes, strict=False)}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    #: Last known position (responders on duty), for the nearby-resources query.
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(Timestamp)
    #: Bumped on logout, password change or reset, role, jurisdiction or active change: tokens carry it and die with it.
    token_generation: Mapped[int] = mapped_column(Integer, default=0)
    #: Set by an administrator (new account, reset): the account may only change its password until it does.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The source every report of this account carries (service accounts: detection, hotline); None: by role.
    report_source: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    jurisdiction: Mapped[Jurisdiction] = relationship(lazy="joined")


class Event(Base):
    """An event (事件) moving through the workflow.

    The location columns (``county_code`` … ``grid_code``) say where it happened and decide who may
    see it; ``handling_code`` is the jurisdiction whose command room currently owns it (it moves up on
    escalation). ``version`` is the optimistic lock: SQLAlchemy refuses a stale write. The service sets it
    (one increment per action, whatever the number of flushes); the mapper only checks it.
    ``deadline_at``/``warn_at`` are the time limit of the current stage: acceptance (受理时限) while
    pending, handling (办理时限) once accepted; none once rejected.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category_code: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16), default=Urgency.NORMAL.value)
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))

    county_code: Mapped[str] = mapped_column(String(32))
    town_code: Mapped[str | None] = mapped_column(String(32))
    village_code: Mapped[str | None] = mapped_column(String(32))
    grid_code: Mapped[str | None] = mapped_column(String(32))
    handling_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"))

    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(200), default="")
    camera_id: Mapped[int | None] = mapped_column(Integer)

    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    deadline_at: Mapped[datetime | None] = mapped_column(Timestamp)
    #: When the yellow warning starts: 80 % of the time from the stage's start to the deadline.
    warn_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(Timestamp)
    closed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    #: The level (grid … county) of the handling jurisdiction when the event was closed.
    resolution_level: Mapped[str | None] = mapped_column(String(16))

    result_text: Mapped[str | None] = mapped_column(Text)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(Integer)
    urge_count: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[str]] = mapped_column(JsonType, default=list)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    extension_pending: Mapped[bool] = mapped_column(Boolean, default=False)

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version, "version_id_generator": False}

    __table_args__ = (
        Index("ix_events_state_created", "state", "created_at"),
        Index("ix_events_town_state_created", "town_code", "state", "created_at"),
        Index("ix_events_village_state_created", "village_code", "state", "created_at"),
        Index("ix_events_grid_state_created", "grid_code", "state", "created_at"),
        Index("ix_events_handling_state", "handling_code", "state"),
        Index("ix_events_assignee_state", "assignee_id", "state"),
        Index("ix_events_reporter_state", "reporter_id", "state"),
        Index("ix_events_ext_pending", "extension_pending", "town_code"),
        Index("ix_events_lat_lon", "lat", "lon"),
        # the period of the statistics and the big screen: reported in, closed in
        Index("ix_events_created", "created_at"),
        Index("ix_events_closed", "closed_at"),
    )


class EventAction(Base):
    """One row of an event's timeline (履历): who did what, when, from which state to which."""

    __tablename__ = "event_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    #: Action-specific details: assignee, rating, tags, attachments, deadline change, …
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    #: The event's version after this action (the report is 1; each action adds exactly one).
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)

    actor: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_event_actions_event", "event_id", "id"),
        Index("ix_event_actions_actor_event", "actor_id", "event_id"),
        Index("ix_event_actions_action_created", "action", "created_at"),
        Index("ix_event_actions_created", "created_at"),  # activity in a period, whatever the action
    )


class ExtensionRequest(Base):
    """延期申请: an assignee asks for more time; a superior approves or refuses."""

    __tablename__ = "extension_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    requested_deadline: Mapped[datetime] = mapped_column(Timestamp)
    reason: Mapped[str] = mapped_column(Text, default="")
    #: pending | approved | refused | closed (lapsed: the step that left 办理中 closed it)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class OutboxMessage(Base):
    """A message for the realtime bus, written in the same transaction as the change it reports.

    The relay in hub/ publishes rows in ``id`` order and marks them ``published_at``.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)
