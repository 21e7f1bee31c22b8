"""Read side: the ten list views, the event detail with its timeline, resources near a point."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import jurisdictions
from dispatch.db import utcnow
from dispatch.geo import Found, bounding_box, nearest
from dispatch.media import list_media, media_dict
from dispatch.models import Event, EventAction, ExtensionRequest, Jurisdiction, Level, Role, State, User
from dispatch.schemas import ActionOut, EventDetailOut, EventOut
from dispatch.service import DISPATCH_ROLES, allowed_actions, load_visible_event, warning_of
from dispatch.taxonomy import Taxonomy
from dispatch.visibility import area_clause, took_part_clause, visible_clause
from dispatch.workflow import OPEN_STATES

#: Totals of list views are exact up to this many events.
COUNT_CAP = 10_000


class View(enum.StrEnum):
    """The list views of DESIGN section 3 (预受理 / 我的事件 / 辖区事件 / 事件审批)."""

    PENDING = "pending"  # 待受理
    REJECTED = "rejected"  # 不予受理
    MY_TODO = "my_todo"  # 待办理
    MY_VERIFY = "my_verify"  # 待核查 (mine)
    MY_DONE = "my_done"  # 已办理: every event I took part in
    MY_CLOSED = "my_closed"  # 已办结: reported by me and closed
    AREA_IN_PROGRESS = "area_in_progress"  # 辖区 办理中
    AREA_VERIFY = "area_verify"  # 辖区 待核查
    AREA_CLOSED = "area_closed"  # 辖区 已办结
    EXTENSIONS = "extensions"  # 延期申请


class Sort(enum.StrEnum):
    """The order of a list: newest first, or the most urgent work first (the earliest deadline, so the most
    overdue at the top; events without a deadline last)."""

    NEWEST = "newest"
    DEADLINE = "deadline"


@dataclass(frozen=True, slots=True)
class EventFilter:
    category_code: str | None = None
    urgency: str | None = None
    source: str | None = None
    text: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def view_clause(view: View, user: User) -> ColumnElement[bool]:
    """The events of ``view`` for ``user``: the view's own condition within what the user may read
    (``visibility.visible_clause``, the rule of the detail), so every listed id opens."""
    return and_(_view_condition(view, user), visible_clause(user))


def _view_condition(view: View, user: User) -> ColumnElement[bool]:
    area = area_clause(user)
    is_dispatcher = user.role in DISPATCH_ROLES
    match view:
        case View.PENDING:
            return and_(area, Event.state == State.PENDING.value)
        case View.REJECTED:
            return and_(area, Event.state == State.REJECTED.value)
        case View.MY_TODO:
            mine = and_(Event.assignee_id == user.id, Event.state.in_([State.ASSIGNED.value, State.IN_PROGRESS.value]))
            to_route = (
                and_(Event.handling_code == user.jurisdiction_code, Event.state == State.ACCEPTED.value)
                if is_dispatcher
                else false()
            )
            return or_(mine, to_route)
        case View.MY_VERIFY:
            owner = or_(Event.assigned_by_id == user.id, Event.handling_code == user.jurisdiction_code)
            return and_(Event.state == State.PENDING_VERIFY.value, owner if is_dispatcher else false())
        case View.MY_DONE:
            return took_part_clause(user)
        case View.MY_CLOSED:
            return and_(Event.reporter_id == user.id, Event.state == State.CLOSED.value)
        case View.AREA_IN_PROGRESS:
            open_states = [State.ACCEPTED.value, State.ASSIGNED.value, State.IN_PROGRESS.value]
            return and_(area, Event.state.in_(open_states))
        case View.AREA_VERIFY:
            return and_(area, Event.state == State.PENDING_VERIFY.value)
        case View.AREA_CLOSED:
            return and_(area, Event.state == State.CLOSED.value)
        case View.EXTENSIONS:
            asked_by_me = exists().where(
                ExtensionRequest.event_id == Event.id,
                ExtensionRequest.requested_by_id == user.id,
                ExtensionRequest.status == "pending",
            )
            return or_(and_(area, Event.extension_pending.is_(True)), asked_by_me)
    raise ValueError(view)  # pragma: no cover - the enum is exhaustive


def _filtered(query: Select[Any], filters: EventFilter) -> Select[Any]:
    if filters.category_code:
        query = query.where(Event.category_code == filters.category_code)
    if filters.urgency:
        query = query.where(Event.urgency == filters.urgency)
    if filters.source:
        query = query.where(Event.source == filters.source)
    if filters.text:
        query = query.where(Event.title.contains(filters.text, autoescape=True))
    if filters.created_from:
        query = query.where(Event.created_at >= filters.created_from)
    if filters.created_to:
        query = query.where(Event.created_at < filters.created_to)
    return query


async def list_events(
    *,
    db_session: AsyncSession,
    user: User,
    view: View,
    filters: EventFilter,
    page: int,
    page_size: int,
    sort: Sort = Sort.NEWEST,
) -> tuple[list[Event], int, bool]:
    """One page of a view in ``sort`` order, the view's total and whether that total is exact.

    Counting a county's whole archive on every page costs a scan of a million rows; past
    ``COUNT_CAP`` the list says "10,000+" instead (``exact`` is False).
    """
    clause = view_clause(view, user)
    if sort is Sort.DEADLINE:
        order = (Event.deadline_at.is_(None), Event.deadline_at.asc(), Event.id.asc())
    else:
        order = (Event.created_at.desc(), Event.id.desc())
    rows = await db_session.scalars(
        _filtered(select(Event).where(clause), filters).order_by(*order).offset((page - 1) * page_size).limit(page_size)
    )
    counted = _filtered(select(Event.id).where(clause), filters).limit(COUNT_CAP + 1).subquery()
    total = int(await db_session.scalar(select(func.count()).select_from(counted)) or 0)
    return list(rows), min(total, COUNT_CAP), total <= COUNT_CAP


def event_out(event: Event, taxonomy: Taxonomy, now: datetime | None = None) -> EventOut:
    category = taxonomy.categories.get(event.category_code)
    return EventOut.model_validate(
        {
            **{name: getattr(event, name) for name in EventOut.model_fields if hasattr(event, name)},
            "category_name": category.name if category else None,
            "warning": warning_of(event, now),
        }
    )


async def place_name(db_session: AsyncSession, event: Event) -> str:
    """The event's town, village and grid by name, joined with " · " (those it has)."""
    codes = [c for c in (event.town_code, event.village_code, event.grid_code) if c]
    if not codes:
        return ""
    names = dict(
        (
            await db_session.execute(select(Jurisdiction.code, Jurisdiction.name).where(Jurisdiction.code.in_(codes)))
        ).all()
    )
    return " · ".join(names[c] for c in codes if c in names)


async def event_detail(*, db_session: AsyncSession, taxonomy: Taxonomy, user: User, event_id: int) -> EventDetailOut:
    event = await load_visible_event(db_session, user, event_id)
    actions = await db_session.scalars(
        select(EventAction).where(EventAction.event_id == event.id).order_by(EventAction.id)
    )
    timeline = [
        ActionOut(
            id=a.id,
            action=a.action,
            actor_id=a.actor_id,
            actor_name=a.actor.display_name if a.actor else None,
            from_state=a.from_state,
            to_state=a.to_state,
            note=a.note,
            data=a.data or {},
            version=a.version,
            created_at=a.created_at,
        )
        for a in actions
    ]
    extensions = await db_session.scalars(
        select(ExtensionRequest).where(ExtensionRequest.event_id == event.id).order_by(ExtensionRequest.id)
    )
    base = event_out(event, taxonomy).model_dump()
    return EventDetailOut(
        **base,
        place_name=await place_name(db_session, event),
        result_text=event.result_text,
        reject_reason=event.reject_reason,
        attachments=event.attachments or [],
        timeline=timeline,
        allowed_actions=await allowed_actions(db_session, user, event),
        media=[media_dict(m) for m in await list_media(db_session, event.id)],
        extensions=[
            {
                "id": x.id,
                "requested_by_id": x.requested_by_id,
                "requested_deadline": x.requested_deadline.isoformat(),
                "reason": x.reason,
                "status": x.status,
                "decided_by_id": x.decided_by_id,
                "decided_at": x.decided_at.isoformat() if x.decided_at else None,
            }
            for x in extensions
        ],
    )


async def nearby_responders(
    *, db_session: AsyncSession, viewer: User, lat: float, lon: float, radius_m: float, limit: int = 50
) -> Found[dict[str, Any]]:
    """Active responders (网格员, 处置人员) whose last position lies within the radius, nearest first.

    Only people inside the viewer's own jurisdiction subtree are shown (an event the viewer may open
    can lie outside it: assigned or reported by them), and their phone numbers only to the roles that
    dispatch (``DISPATCH_ROLES``: dispatcher, admin); everyone else gets ``phone: null``.
    """
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
    users = await db_session.scalars(
        select(User)
        .join(Jurisdiction, User.jurisdiction_code == Jurisdiction.code)
        .where(
            User.role.in_([Role.RESPONDER.value, Role.DEPARTMENT.value]),
            User.is_active.is_(True),
            User.lat.between(min_lat, max_lat),
            User.lon.between(min_lon, max_lon),
            Jurisdiction.path.startswith(viewer.jurisdiction.path, autoescape=True),
        )
    )
    show_phone = viewer.role in DISPATCH_ROLES
    found = nearest(users, lat, lon, radius_m, limit, lambda u: (u.lat, u.lon))
    items = [
        {
            "id": u.id,
            "name": u.display_name,
            "role": u.role,
            "phone": u.phone if show_phone else None,
            "jurisdiction_code": u.jurisdiction_code,
            "lat": u.lat,
            "lon": u.lon,
            "distance_m": round(distance, 1),
        }
        for distance, u in found.items
    ]
    return Found(items, found.total)


async def nearby_centres(
    *, db_session: AsyncSession, viewer: User, lat: float, lon: float, radius_m: float, limit: int = 20
) -> Found[dict[str, Any]]:
    """Command rooms (治理中心) of the county, towns and villages within the radius, nearest first: those of
    the jurisdiction nodes the viewer sees (``jurisdictions.visible_clause``: their own, beneath, above)."""
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
    nodes = await db_session.scalars(
        select(Jurisdiction).where(
            Jurisdiction.level != Level.GRID.value,
            Jurisdiction.center_lat.between(min_lat, max_lat),
            Jurisdiction.center_lon.between(min_lon, max_lon),
            jurisdictions.visible_clause(viewer),
        )
    )
    found = nearest(nodes, lat, lon, radius_m, limit, lambda j: (j.center_lat, j.center_lon))
    items = [
        {
            "code": j.code,
            "name": j.name,
            "level": j.level,
            "lat": j.center_lat,
            "lon": j.center_lon,
            "distance_m": round(distance, 1),
        }
        for distance, j in found.items
    ]
    return Found(items, found.total)


async def nearby_events(
    *, db_session: AsyncSession, viewer: User, lat: float, lon: float, radius_m: float, limit: int = 50
) -> Found[dict[str, Any]]:
    """Open events (待受理 … 待核查) within the radius, nearest first: those the viewer may read
    (``visibility.visible_clause``, the rule of every list view), so each one opens in the detail."""
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
    events = await db_session.scalars(
        select(Event).where(
            Event.state.in_([s.value for s in OPEN_STATES]),
            Event.lat.between(min_lat, max_lat),
            Event.lon.between(min_lon, max_lon),
            visible_clause(viewer),
        )
    )
    found = nearest(events, lat, lon, radius_m, limit, lambda e: (e.lat, e.lon))
    now = utcnow()
    items = [
        {
            "id": e.id,
            "title": e.title,
            "state": e.state,
            "urgency": e.urgency,
            "warning": warning_of(e, now),
            "category_code": e.category_code,
            "grid_code": e.grid_code,
            "created_at": e.created_at.isoformat(),
            "lat": e.lat,
            "lon": e.lon,
            "distance_m": round(distance, 1),
        }
        for distance, e in found.items
    ]
    return Found(items, found.total)
