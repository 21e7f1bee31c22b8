"""The event service: report an event and apply workflow actions, one transaction each.

Every change writes the event, one EventAction row (the timeline) and the OutboxMessage rows the
realtime hub publishes, then commits. Which step is legal comes from ``workflow.TRANSITIONS`` alone;
what a step does besides changing the state is in ``EFFECTS``, keyed on the action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from dispatch import jurisdictions, sources
from dispatch.db import utcnow
from dispatch.errors import Conflict, Forbidden, IllegalTransition, InvalidInput, NotFound, StaleVersion
from dispatch.models import (
    Event,
    EventAction,
    ExtensionRequest,
    Jurisdiction,
    Level,
    OutboxMessage,
    Role,
    State,
    User,
)
from dispatch.schemas import (
    AcceptIn,
    ActionIn,
    ApproveExtensionIn,
    AssignIn,
    EvaluateIn,
    ExtendIn,
    HandleIn,
    RejectIn,
    ReportIn,
    ReturnIn,
    TagIn,
    TransferIn,
    VerifyIn,
)
from dispatch.taxonomy import Taxonomy
from dispatch.workflow import Action, Outcome, Party, actions_for, actions_from, find_step

#: Share of the allowed time after which an open event shows the yellow warning (预警).
WARN_FRACTION = 0.8
#: A rejected event may be reopened for this long.
REOPEN_WINDOW = timedelta(hours=24)

DISPATCH_ROLES = frozenset({Role.DISPATCHER.value, Role.ADMIN.value})
ASSIGNABLE_ROLES = frozenset({Role.RESPONDER.value, Role.DEPARTMENT.value})


# ---------------------------------------------------------------------------------------------- access


def location_code(event: Event, level: str) -> str | None:
    """The event's ancestor code at ``level`` (county/town/village/grid)."""
    return getattr(event, f"{level}_code", None)


def in_area(user: User, event: Event) -> bool:
    """Whether the event happened inside the user's jurisdiction."""
    return location_code(event, user.jurisdiction.level) == user.jurisdiction_code


def can_see(user: User, event: Event) -> bool:
    return in_area(user, event) or user.id in (event.assignee_id, event.reporter_id)


async def parties_of(db_session: AsyncSession, user: User, event: Event) -> set[Party]:
    """How ``user`` stands to ``event``: the parties of workflow.Step that the user is."""
    parties: set[Party] = set()
    if not can_see(user, event):
        return parties
    parties.add(Party.VIEWER)
    if user.role in DISPATCH_ROLES:
        handling = await db_session.get(Jurisdiction, event.handling_code)
        if handling is not None and jurisdictions.contains(user.jurisdiction.path, handling.path):
            parties.add(Party.HANDLING_DISPATCHER)
    if user.role == Role.LEADER.value and in_area(user, event):
        parties.add(Party.AREA_LEADER)
    if event.assignee_id == user.id:
        parties.add(Party.ASSIGNEE)
    if event.reporter_id == user.id:
        parties.add(Party.REPORTER)
    return parties


async def load_visible_event(db_session: AsyncSession, user: User, event_id: int) -> Event:
    """The event, if it exists and the user may see it; NotFound otherwise (no existence leak)."""
    event = await db_session.get(Event, event_id)
    if event is None or not can_see(user, event):
        raise NotFound(f"event {event_id} not found")
    return event


async def allowed_actions(db_session: AsyncSession, user: User, event: Event) -> list[str]:
    parties = await parties_of(db_session, user, event)
    return [a.value for a in actions_for(State(event.state), parties)]


# ---------------------------------------------------------------------------------------------- messages


def event_message(event: Event, action: str, actor: User | None) -> dict[str, Any]:
    """The payload of every realtime message about an event (small: lists reload details by id)."""
    return {
        "event_id": event.id,
        "action": action,
        "state": event.state,
        "version": event.version,
        "title": event.title,
        "category_code": event.category_code,
        "urgency": event.urgency,
        "county_code": event.county_code,
        "town_code": event.town_code,
        "village_code": event.village_code,
        "grid_code": event.grid_code,
        "handling_code": event.handling_code,
        "assignee_id": event.assignee_id,
        "lat": event.lat,
        "lon": event.lon,
        "deadline_at": event.deadline_at.isoformat() if event.deadline_at else None,
        "actor_id": actor.id if actor else None,
        "at": utcnow().isoformat(),
    }


@dataclass(slots=True)
class Change:
    """What one action does beyond the state: timeline details and who gets a dispatch push."""

    data: dict[str, Any] = field(default_factory=dict)
    dispatch_to: dict[int, str] = field(default_factory=dict)  # user id → message type


# ---------------------------------------------------------------------------------------------- report


def apply_deadline(event: Event, taxonomy: Taxonomy, start: datetime, hours: float | None = None) -> None:
    hours = hours if hours is not None else taxonomy.get(event.category_code).hours_for(event.urgency)
    event.deadline_at = start + timedelta(hours=hours)
    event.warn_at = start + timedelta(hours=hours * WARN_FRACTION)


async def report_event(*, db_session: AsyncSession, taxonomy: Taxonomy, actor: User, data: ReportIn) -> Event:
    """新增/上报: a new event in 待受理, located in a grid of the reporter's jurisdiction."""
    category = taxonomy.get(data.category_code)
    grid = await _resolve_grid(db_session, actor, data)
    codes = grid.ancestor_codes()
    now = utcnow()
    event = Event(
        title=data.title,
        description=data.description,
        category_code=category.code,
        platform=category.platform,
        urgency=data.urgency.value,
        source=sources.resolve_source(actor, data.source).value,
        state=State.PENDING.value,
        county_code=codes[Level.COUNTY.value],
        town_code=codes.get(Level.TOWN.value),
        village_code=codes.get(Level.VILLAGE.value),
        grid_code=codes.get(Level.GRID.value),
        # The town's command room (综合指挥室) takes the 待受理 queue; the county sees it too.
        handling_code=codes.get(Level.TOWN.value) or codes[Level.COUNTY.value],
        lat=data.lat if data.lat is not None else grid.center_lat,
        lon=data.lon if data.lon is not None else grid.center_lon,
        address=data.address,
        camera_id=data.camera_id,
        reporter_id=actor.id,
        attachments=[a.model_dump() for a in data.attachments],
        tags=[],
        created_at=now,
        updated_at=now,
    )
    db_session.add(event)
    await db_session.flush()
    _record(db_session, event, Action.REPORT.value, actor, None, Change(), note=data.description[:200])
    await db_session.commit()
    return event


async def _resolve_grid(db_session: AsyncSession, actor: User, data: ReportIn) -> Jurisdiction:
    area = actor.jurisdiction.path
    if data.grid_code:
        grid = await db_session.get(Jurisdiction, data.grid_code)
        if grid is None or grid.level != Level.GRID.value or not jurisdictions.contains(area, grid.path):
            raise InvalidInput(f"grid {data.grid_code!r} is not a grid of your jurisdiction", field="grid_code")
        return grid
    if data.lat is not None and data.lon is not None:
        return await jurisdictions.locate_grid(db_session=db_session, lat=data.lat, lon=data.lon, within_path=area)
    if actor.jurisdiction.level == Level.GRID.value:
        return actor.jurisdiction
    raise InvalidInput("give grid_code or lat/lon: where did it happen?", field="grid_code")


# ---------------------------------------------------------------------------------------------- actions


def outcome_of(action: Action, body: ActionIn) -> Outcome:
    if isinstance(body, VerifyIn):
        return Outcome.PASS if body.passed else Outcome.FAIL
    if isinstance(body, ApproveExtensionIn):
        return Outcome.APPROVE if body.approved else Outcome.REFUSE
    return Outcome.DONE


async def apply_action(
    *,
    db_session: AsyncSession,
    taxonomy: Taxonomy,
    actor: User,
    event_id: int,
    action: Action,
    body: ActionIn,
) -> Event:
    """Take one workflow action on an event, or refuse it with a DomainError and change nothing.

    Order of refusals: unknown/invisible → NotFound; step not in the table → IllegalTransition (with the
    allowed actions); user not a party the step names → Forbidden; stale version → StaleVersion.
    """
    event = await load_visible_event(db_session, actor, event_id)
    state = State(event.state)
    step = find_step(state, action, outcome_of(action, body))
    if step is None:
        raise IllegalTransition(
            f"{action.value!r} is not allowed from state {state.value!r}",
            state=state.value,
            allowed=[a.value for a in actions_from(state)],
        )
    parties = await parties_of(db_session, actor, event)
    if not step.parties & parties:
        raise Forbidden(
            f"{action.value!r} needs you to be {' or '.join(sorted(p.value for p in step.parties))}",
            allowed_for_you=[a.value for a in actions_for(state, parties)],
        )
    if body.version != event.version:
        raise StaleVersion(
            f"event {event.id} is at version {event.version}, you acted on {body.version}: reload it",
            current_version=event.version,
        )

    change = await EFFECTS.get(action, _no_effect)(db_session, taxonomy, actor, event, body)
    from_state = event.state
    if step.target is not None:
        event.state = step.target.value
    event.updated_at = utcnow()
    if body.attachments:
        event.attachments = [*event.attachments, *(a.model_dump() for a in body.attachments)]
    _record(db_session, event, action.value, actor, from_state, change, note=body.note)
    try:
        await db_session.commit()
    except StaleDataError:
        await db_session.rollback()
        raise StaleVersion(f"event {event_id} changed meanwhile: reload it") from None
    return event


def _record(
    db_session: AsyncSession,
    event: Event,
    action: str,
    actor: User | None,
    from_state: str | None,
    change: Change,
    *,
    note: str = "",
) -> None:
    """The timeline row and the outbox rows of one change (same transaction as the change)."""
    db_session.add(
        EventAction(
            event_id=event.id,
            action=action,
            actor_id=actor.id if actor else None,
            from_state=from_state,
            to_state=event.state,
            note=note,
            data=change.data,
            created_at=utcnow(),
        )
    )
    # The version the event will have once this flush lands (the mapper bumps it on update).
    message = event_message(event, action, actor)
    if from_state is not None:
        message["version"] = event.version + 1
    # The responder's dispatch first: the relay publishes in id order, and one phone that must act
    # should not wait behind a fan-out to every screen of the county.
    for user_id, message_type in change.dispatch_to.items():
        db_session.add(OutboxMessage(channel=f"dispatch:{user_id}", type=message_type, data=message))
    db_session.add(OutboxMessage(channel="events", type=f"event.{action}", data=message))


# ---------------------------------------------------------------------------------------------- effects

Effect = Callable[[AsyncSession, Taxonomy, User, Event, Any], Awaitable[Change]]


async def _no_effect(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: Any) -> Change:
    return Change()


async def _accept(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: AcceptIn) -> Change:
    if body.category_code:
        category = taxonomy.get(body.category_code)
        event.category_code, event.platform = category.code, category.platform
    if body.urgency:
        event.urgency = body.urgency.value
    now = utcnow()
    event.accepted_at = now
    apply_deadline(event, taxonomy, now)
    return Change(data={"category_code": event.category_code, "urgency": event.urgency})


async def _reject(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: RejectIn) -> Change:
    event.reject_reason = body.reason
    return Change(data={"reason": body.reason})


async def _reopen(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: Any) -> Change:
    rejected_at = await db_session.scalar(
        select(func.max(EventAction.created_at)).where(
            EventAction.event_id == event.id, EventAction.action == Action.REJECT.value
        )
    )
    if rejected_at is None or utcnow() - rejected_at > REOPEN_WINDOW:
        raise Conflict("a rejected event can be reopened within 24 hours only")
    event.reject_reason = None
    return Change()


async def _assignee(db_session: AsyncSession, event: Event, assignee_id: int) -> User:
    """The user the event may be assigned to: an active responder or department of its area."""
    assignee = await db_session.get(User, assignee_id)
    if assignee is None or not assignee.is_active:
        raise InvalidInput(f"assignee {assignee_id} not found", field="assignee_id")
    if assignee.role not in ASSIGNABLE_ROLES:
        raise InvalidInput("events are assigned to responders or departments", field="assignee_id")
    handling = await jurisdictions.get_jurisdiction(db_session=db_session, code=event.handling_code)
    below = jurisdictions.contains(handling.path, assignee.jurisdiction.path)
    serving_department = assignee.role == Role.DEPARTMENT.value and jurisdictions.contains(
        assignee.jurisdiction.path, handling.path
    )
    if not (below or serving_department):
        raise InvalidInput(
            f"assignee {assignee_id} works outside {handling.name} ({handling.code})", field="assignee_id"
        )
    return assignee


async def _assign(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: AssignIn) -> Change:
    assignee = await _assignee(db_session, event, body.assignee_id)
    event.assignee_id, event.assigned_by_id = assignee.id, actor.id
    if body.deadline_hours is not None:
        apply_deadline(event, taxonomy, utcnow(), body.deadline_hours)
    elif event.deadline_at is None:
        apply_deadline(event, taxonomy, utcnow())
    data = {"assignee_id": assignee.id, "assignee_name": assignee.display_name}
    data["deadline_at"] = event.deadline_at.isoformat() if event.deadline_at else None
    return Change(data=data, dispatch_to={assignee.id: "dispatch.assigned"})


async def _escalate(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: Any) -> Change:
    handling = await jurisdictions.get_jurisdiction(db_session=db_session, code=event.handling_code)
    if handling.parent_code is None:
        raise Conflict(f"{handling.name} is the top of the tree: there is no upper level to report to")
    previous = event.assignee_id
    event.handling_code, event.assignee_id = handling.parent_code, None
    change = Change(data={"from": handling.code, "to": handling.parent_code})
    if previous is not None and previous != actor.id:
        change.dispatch_to[previous] = "dispatch.revoked"
    return change


async def _transfer(
    db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: TransferIn
) -> Change:
    if body.assignee_id == event.assignee_id:
        raise InvalidInput("the event is already with that assignee", field="assignee_id")
    assignee = await _assignee(db_session, event, body.assignee_id)
    previous = event.assignee_id
    event.assignee_id = assignee.id
    change = Change(
        data={"from_assignee_id": previous, "assignee_id": assignee.id, "assignee_name": assignee.display_name},
        dispatch_to={assignee.id: "dispatch.assigned"},
    )
    if previous is not None and previous != actor.id:
        change.dispatch_to[previous] = "dispatch.revoked"
    return change


async def _return(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: ReturnIn) -> Change:
    event.assignee_id = None
    return Change(data={"reason": body.reason})


async def _handle(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: HandleIn) -> Change:
    event.result_text = body.result
    return Change(data={"result": body.result, "photos": len(body.attachments)})


async def _verify(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: VerifyIn) -> Change:
    if not body.passed:
        to = {event.assignee_id: "dispatch.verify_failed"} if event.assignee_id else {}
        return Change(data={"passed": False}, dispatch_to=to)
    event.closed_at = utcnow()
    level = None
    if event.assignee_id is not None:
        assignee = await db_session.get(User, event.assignee_id)
        level = assignee.jurisdiction.level if assignee else None
    if level is None:
        level = (await jurisdictions.get_jurisdiction(db_session=db_session, code=event.handling_code)).level
    event.resolution_level = level
    return Change(data={"passed": True, "resolution_level": level})


async def _evaluate(
    db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: EvaluateIn
) -> Change:
    if event.rating is not None:
        raise Conflict("the event has been evaluated already")
    event.rating = body.rating
    return Change(data={"rating": body.rating})


async def _urge(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: Any) -> Change:
    event.urge_count += 1
    to = {event.assignee_id: "dispatch.urged"} if event.assignee_id else {}
    return Change(data={"urge_count": event.urge_count}, dispatch_to=to)


async def _tag(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: TagIn) -> Change:
    event.tags = list(dict.fromkeys(body.tags))
    return Change(data={"tags": event.tags})


async def _extend(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: ExtendIn) -> Change:
    if event.extension_pending:
        raise Conflict("an extension request is already waiting for approval")
    if body.until.tzinfo is None:
        raise InvalidInput("until needs a timezone (e.g. 2026-12-01T18:00:00+08:00)", field="until")
    try:
        until = body.until.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("until is out of range", field="until") from None
    if event.deadline_at is not None and until <= event.deadline_at:
        raise InvalidInput("the new deadline must be after the current one", field="until")
    event.extension_pending = True
    db_session.add(
        ExtensionRequest(event_id=event.id, requested_by_id=actor.id, requested_deadline=until, reason=body.reason)
    )
    return Change(data={"until": body.until.isoformat(), "reason": body.reason})


async def _approve_extension(
    db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: ApproveExtensionIn
) -> Change:
    request = await db_session.scalar(
        select(ExtensionRequest)
        .where(ExtensionRequest.event_id == event.id, ExtensionRequest.status == "pending")
        .order_by(ExtensionRequest.id.desc())
        .limit(1)
    )
    if request is None or not event.extension_pending:
        raise Conflict("no extension request is waiting for approval")
    now = utcnow()
    request.status = "approved" if body.approved else "refused"
    request.decided_by_id, request.decided_at = actor.id, now
    event.extension_pending = False
    if body.approved:
        start = event.accepted_at or event.created_at
        event.deadline_at = request.requested_deadline
        event.warn_at = start + (request.requested_deadline - start) * WARN_FRACTION
    to = {event.assignee_id: "dispatch.extension_decided"} if event.assignee_id else {}
    data = {"approved": body.approved, "until": request.requested_deadline.isoformat()}
    return Change(data=data, dispatch_to=to)


EFFECTS: dict[Action, Effect] = {
    Action.ACCEPT: _accept,
    Action.REJECT: _reject,
    Action.REOPEN: _reopen,
    Action.ASSIGN: _assign,
    Action.ESCALATE: _escalate,
    Action.TRANSFER: _transfer,
    Action.RETURN: _return,
    Action.HANDLE: _handle,
    Action.VERIFY: _verify,
    Action.EVALUATE: _evaluate,
    Action.URGE: _urge,
    Action.TAG: _tag,
    Action.EXTEND: _extend,
    Action.APPROVE_EXTENSION: _approve_extension,
}


def warning_of(event: Event, now: datetime | None = None) -> str:
    """none / yellow (past 80 % of the allowed time) / red (past the deadline), for open events."""
    if event.state in (State.CLOSED.value, State.REJECTED.value) or event.deadline_at is None:
        return "none"
    now = now or utcnow()
    if now >= event.deadline_at:
        return "red"
    if event.warn_at is not None and now >= event.warn_at:
        return "yellow"
    return "none"
