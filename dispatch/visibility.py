"""Who may read an event: one rule, as a Python check (the detail) and as a SQL clause (every list view).

A user reads an event when

- it happened inside their jurisdiction (every role but ``department``: a 职能部门 serves the events it is
  given, not every event of its level),
- or they are its assignee or its reporter,
- or they took part in it (any timeline row of theirs: an event they handled and transferred stays readable).

``can_see`` and ``visible_clause`` state the same rule; the list views are the visible events that meet
each view's own condition, so every id a view lists opens in the detail.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import Event, EventAction, Level, Role, User


def sees_area(user: User) -> bool:
    """Whether the user reads every event of their jurisdiction (departments read only their own)."""
    return user.role != Role.DEPARTMENT.value


def location_code(event: Event, level: str) -> str | None:
    """The event's ancestor code at ``level`` (county/town/village/grid)."""
    return getattr(event, f"{level}_code", None)


def in_area(user: User, event: Event) -> bool:
    """Whether the event happened inside the user's jurisdiction."""
    return location_code(event, user.jurisdiction.level) == user.jurisdiction_code


async def took_part(db_session: AsyncSession, user: User, event_id: int) -> bool:
    """Whether the user wrote any row of the event's timeline."""
    query = select(EventAction.id).where(EventAction.event_id == event_id, EventAction.actor_id == user.id).limit(1)
    return await db_session.scalar(query) is not None


async def can_see(db_session: AsyncSession, user: User, event: Event) -> bool:
    if user.id in (event.assignee_id, event.reporter_id):
        return True
    if sees_area(user) and in_area(user, event):
        return True
    return await took_part(db_session, user, event.id)


def area_clause(user: User) -> ColumnElement[bool]:
    """Events that happened inside the user's jurisdiction and that the user reads for being there."""
    if not sees_area(user):
        return false()
    level = Level(user.jurisdiction.level)
    return getattr(Event, f"{level.value}_code") == user.jurisdiction_code


def took_part_clause(user: User) -> ColumnElement[bool]:
    return exists().where(EventAction.event_id == Event.id, EventAction.actor_id == user.id)


def visible_clause(user: User) -> ColumnElement[bool]:
    """``can_see`` as SQL."""
    # The area first: the views that select by area then never evaluate the rest.
    return or_(
        area_clause(user),
        Event.assignee_id == user.id,
        Event.reporter_id == user.id,
        took_part_clause(user),
    )
