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

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from dispatch import audit, jurisdictions, sources
from dispatch.db import utcnow
from dispatch.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    StaleVersion,
    Unsuitable,
)
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
from dispatch.visibility import can_see, in_area
from dispatch.workflow import EVENT_ACTIONS, Action, Outcome, Party, actions_from, find_step

#: Share of the allowed time after which an open event shows the yellow warning (预警).
WARN_FRACTION = 0.8
#: A rejected event may be reopened for this long.
REOPEN_WINDOW = timedelta(hours=24)

DISPATCH_ROLES = frozenset({Role.DISPATCHER.value, Role.ADMIN.value})
ASSIGNABLE_ROLES = frozenset({Role.RESPONDER.value, Role.DEPARTMENT.value})


# ---------------------------------------------------------------------------------------------- access


async def parties_of(db_session: AsyncSession, user: User, event: Event) -> set[Party]:
    """How ``user`` stands to ``event``: the parties of workflow.Step that the user is."""
    parties: set[Party] = set()
    if not await can_see(db_session, user, event):
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
    if event is None or not await can_see(db_session, user, event):
        raise NotFound(f"event {event_id} not found")
    return event


# ---------------------------------------------------------------------------------------------- legality


async def refusal(
    db_session: AsyncSession, event: Event, action: Action, parties: set[Party], outcome: Outcome | None = None
) -> DomainError | None:
    """Why ``action`` (with ``outcome``, or with any outcome where None) is refused now, or None where it is not.

    The one predicate behind both the ``allowed_actions`` a detail lists and the check of ``apply_action``:
    the workflow table (state), the parties the step names (who), then the action's guard (the event's own
    data: a request waiting for approval, a rating not yet given, an upper level to escalate to, someone to
    assign to). What is left to refuse afterwards is the body alone (an assignee outside the area, a date).
    """
    state = State(event.state)
    outcomes = list(Outcome) if outcome is None else [outcome]
    steps = [step for o in outcomes if (step := find_step(state, action, o)) is not None]
    if not steps:
        return IllegalTransition(
            f"{action.value!r} is not allowed from state {state.value!r}",
            state=state.value,
            allowed=[a.value for a in actions_from(state)],
        )
    if not any(step.parties & parties for step in steps):
        needed = {p.value for step in steps for p in step.parties}
        return Forbidden(f"{action.value!r} needs you to be {' or '.join(sorted(needed))}")
    guard = GUARDS.get(action)
    reason = await guard(db_session, event) if guard is not None else None
    return Conflict(reason) if reason else None


async def allowed_for(db_session: AsyncSession, event: Event, parties: set[Party]) -> list[str]:
    return [a.value for a in EVENT_ACTIONS if await refusal(db_session, event, a, parties) is None]


async def allowed_actions(db_session: AsyncSession, user: User, event: Event) -> list[str]:
    """What ``user`` may do to ``event`` now: exactly the actions ``apply_action`` would take."""
    return await allowed_for(db_session, event, await parties_of(db_session, user, event))


def ancestor_paths(path: str) -> list[str]:
    """``/a/b/c/`` → ``["/a/", "/a/b/", "/a/b/c/"]``."""
    codes = [c for c in path.strip("/").split("/") if c]
    return ["/" + "/".join(codes[: i + 1]) + "/" for i in range(len(codes))]


async def assignee_candidates(db_session: AsyncSession, event: Event, *, transfer: bool) -> Select[tuple[int]]:
    """The users the event may go to: active responders or departments below its handling jurisdiction, or
    departments above it (a county 职能部门 serves a town's event). A 流转 (``transfer``) keeps to the level of
    the current assignee and goes to someone else."""
    handling = await jurisdictions.get_jurisdiction(db_session=db_session, code=event.handling_code)
    query = (
        select(User.id)
        .join(Jurisdiction, User.jurisdiction_code == Jurisdiction.code)
        .where(
            User.is_active.is_(True),
            User.role.in_(ASSIGNABLE_ROLES),
            or_(
                Jurisdiction.path.startswith(handling.path, autoescape=True),
                and_(User.role == Role.DEPARTMENT.value, Jurisdiction.path.in_(ancestor_paths(handling.path))),
            ),
        )
    )
    if transfer and event.assignee_id is not None:
        current = await db_session.get(User, event.assignee_id)
        query = query.where(User.id != event.assignee_id)
        if current is not None:
            query = query.where(Jurisdiction.level == current.jurisdiction.level)
    return query


Guard = Callable[[AsyncSession, Event], Awaitable[str | None]]


async def _can_reopen(db_session: AsyncSession, event: Event) -> str | None:
    rejected_at = await db_session.scalar(
        select(func.max(EventAction.created_at)).where(
            EventAction.event_id == event.id, EventAction.action == Action.REJECT.value
        )
    )
    if rejected_at is None or utcnow() - rejected_at > REOPEN_WINDOW:
        return "a rejected event can be reopened within 24 hours only"
    return None


async def _can_escalate(db_session: AsyncSession, event: Event) -> str | None:
    handling = await jurisdictions.get_jurisdiction(db_session=db_session, code=event.handling_code)
    if handling.parent_code is None:
        return f"{handling.name} is the top of the tree: there is no upper level to report to"
    return None


async def _can_assign(db_session: AsyncSession, event: Event) -> str | None:
    query = await assignee_candidates(db_session, event, transfer=False)
    if await db_session.scalar(query.limit(1)) is None:
        return "nobody active may take this event at its handling level: escalate it"
    return None


async def _can_transfer(db_session: AsyncSession, event: Event) -> str | None:
    query = await assignee_candidates(db_session, event, transfer=True)
    if await db_session.scalar(query.limit(1)) is None:
        return "nobody else at the assignee's level may take this event (流转 stays at the same level)"
    return None


async def _can_evaluate(db_session: AsyncSession, event: Event) -> str | None:
    return "the event has been evaluated already" if event.rating is not None else None


async def _can_extend(db_session: AsyncSession, event: Event) -> str | None:
    return "an extension request is already waiting for approval" if event.extension_pending else None


async def _can_decide_extension(db_session: AsyncSession, event: Event) -> str | None:
    return None if event.extension_pending else "no extension request is waiting for approval"


#: What the event's own data must allow, beyond state and party, for each action that has a condition.
GUARDS: dict[Action, Guard] = {
    Action.REOPEN: _can_reopen,
    Action.ESCALATE: _can_escalate,
    Action.ASSIGN: _can_assign,
    Action.TRANSFER: _can_transfer,
    Action.EVALUATE: _can_evaluate,
    Action.EXTEND: _can_extend,
    Action.APPROVE_EXTENSION: _can_decide_extension,
}


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
    """The handling time limit (办理时限) from ``start``: the category's for the urgency, or ``hours``."""
    hours = hours if hours is not None else taxonomy.get(event.category_code).hours_for(event.urgency)
    _set_deadline(event, start, hours)


def apply_accept_deadline(event: Event, taxonomy: Taxonomy, start: datetime) -> None:
    """The acceptance time limit (受理时限) of a pending event from ``start`` (its report or reopening)."""
    _set_deadline(event, start, taxonomy.get(event.category_code).accept_hours_for(event.urgency))


def _set_deadline(event: Event, start: datetime, hours: float) -> None:
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
        version=1,
    )
    apply_accept_deadline(event, taxonomy, now)
    db_session.add(event)
    await db_session.flush()
    _record(db_session, event, Action.REPORT.value, actor, None, Change(), note=data.description[:200])
    await _audit(db_session, event, Action.REPORT.value, actor, None)
    await db_session.commit()
    return event


async def _resolve_grid(db_session: AsyncSession, actor: User, data: ReportIn) -> Jurisdiction:
    area = actor.jurisdiction.path
    if data.grid_code:
        grid = await db_session.get(Jurisdiction, data.grid_code)
        if grid is None or grid.level != Level.GRID.value or not jurisdictions.contains(area, grid.path):
            raise Unsuitable(f"grid {data.grid_code!r} is not a grid of your jurisdiction", field="grid_code")
        return grid
    if data.lat is not None and data.lon is not None:
        return await jurisdictions.locate_grid(db_session=db_session, lat=data.lat, lon=data.lon, within_path=area)
    if actor.jurisdiction.level == Level.GRID.value:
        return actor.jurisdiction
    raise Unsuitable("give grid_code or lat/lon: where did it happen?", field="grid_code")


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

    Order of refusals: unknown/invisible → NotFound; then ``refusal`` (the predicate behind
    ``allowed_actions``): step not in the table → IllegalTransition (with the allowed actions), user not a
    party the step names → Forbidden, the event's data not allowing it → Conflict; stale version →
    StaleVersion; a body the action cannot take → InvalidInput.

    Each action is one change: the version goes up by exactly one, with one timeline row and one
    ``events`` message carrying that version.
    """
    event = await load_visible_event(db_session, actor, event_id)
    parties = await parties_of(db_session, actor, event)
    refused = await refusal(db_session, event, action, parties, outcome_of(action, body))
    if refused is not None:
        if isinstance(refused, Forbidden | Conflict):
            refused.details["allowed_for_you"] = await allowed_for(db_session, event, parties)
        raise refused
    if body.version != event.version:
        raise StaleVersion(
            f"event {event.id} is at version {event.version}, you acted on {body.version}: reload it",
            current_version=event.version,
        )
    step = find_step(State(event.state), action, outcome_of(action, body))
    assert step is not None  # refusal() found it
    # The version this change makes; every flush of this transaction writes it (``version_id_generator``
    # is off), and the UPDATE still holds ``WHERE version = <the one read>``.
    event.version = body.version + 1

    change = await EFFECTS.get(action, _no_effect)(db_session, taxonomy, actor, event, body)
    from_state = event.state
    if step.target is not None:
        event.state = step.target.value
    if from_state == State.IN_PROGRESS.value and event.state != State.IN_PROGRESS.value:
        await _close_extension_requests(db_session, actor, event, change)
    event.updated_at = utcnow()
    if body.attachments:
        event.attachments = [*event.attachments, *(a.model_dump() for a in body.attachments)]
    _record(db_session, event, action.value, actor, from_state, change, note=body.note)
    await _audit(db_session, event, action.value, actor, from_state)
    try:
        await db_session.commit()
    except StaleDataError:
        await db_session.rollback()
        raise StaleVersion(f"event {event_id} changed meanwhile: reload it") from None
    return event


async def _close_extension_requests(db_session: AsyncSession, actor: User, event: Event, change: Change) -> None:
    """A request for more time lapses with the step that leaves 办理中 (handled, transferred, escalated):
    it is closed by that step, on that step's timeline row."""
    requests = await db_session.scalars(
        select(ExtensionRequest).where(ExtensionRequest.event_id == event.id, ExtensionRequest.status == "pending")
    )
    now = utcnow()
    closed = []
    for request in requests:
        request.status, request.decided_by_id, request.decided_at = "closed", actor.id, now
        closed.append(request.id)
    event.extension_pending = False
    if closed:
        change.data["extensions_closed"] = closed


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
            version=event.version,
            created_at=utcnow(),
        )
    )
    message = event_message(event, action, actor)
    # The responder's dispatch first: the relay publishes in id order, and one phone that must act
    # should not wait behind a fan-out to every screen of the county.
    # A phone shows what it is told without asking again (an extension granted or not, and until when).
    dispatched = {**message, "change": change.data} if change.dispatch_to else message
    for user_id, message_type in change.dispatch_to.items():
        db_session.add(OutboxMessage(channel=f"dispatch:{user_id}", type=message_type, data=dispatched))
    db_session.add(OutboxMessage(channel="events", type=f"event.{action}", data=message))


async def _audit(db_session: AsyncSession, event: Event, action: str, actor: User, from_state: str | None) -> None:
    """The audit row of a workflow step, committed with it (dispatch/audit.py)."""
    await audit.record(
        db_session,
        kind=f"event.{action}",
        actor_id=actor.id,
        actor_name=actor.username,
        address=None,  # the hub put the client's address on the session
        target=f"event:{event.id}",
        detail={"from": from_state, "to": event.state},
    )


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
    event.deadline_at = event.warn_at = None  # 不予受理 is terminal: no time limit runs
    return Change(data={"reason": body.reason})


async def _reopen(db_session: AsyncSession, taxonomy: Taxonomy, actor: User, event: Event, body: Any) -> Change:
    event.reject_reason = None
    apply_accept_deadline(event, taxonomy, utcnow())
    return Change()


async def _assignee(db_session: AsyncSession, event: Event, assignee_id: int, *, transfer: bool = False) -> User:
    """The user the event may go to (one of ``assignee_candidates``), or Unsuitable (409) saying why not."""
    candidates = await assignee_candidates(db_session, event, transfer=transfer)
    assignee = await db_session.get(User, assignee_id)
    if assignee is None or not assignee.is_active:
        raise Unsuitable(f"assignee {assignee_id} not found", field="assignee_id")
    if await db_session.scalar(candidates.where(User.id == assignee_id)) is not None:
        return assignee
    if assignee.role not in ASSIGNABLE_ROLES:
        raise Unsuitable("events are assigned to responders or departments", field="assignee_id")
    if transfer and event.assignee_id is not None:
        current = await db_session.get(User, event.assignee_id)
        if current is not None and current.jurisdiction.level != assignee.jurisdiction.level:
            raise Unsuitable(
                f"流转 (transfer) stays at the same level: assignee {assignee_id} works at the "
                f"{assignee.jurisdiction.level} level, the event is with a {current.jurisdiction.level}-level "
                "unit; return or escalate it instead",
                field="assignee_id",
            )
    handling = await jurisdictions.get_jurisdiction(db_session=db_session, code=event.handling_code)
    raise Unsuitable(f"assignee {assignee_id} works outside {handling.name} ({handling.code})", field="assignee_id")


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
    assert handling.parent_code is not None  # _can_escalate
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
        raise Unsuitable("the event is already with that assignee", field="assignee_id")
    assignee = await _assignee(db_session, event, body.assignee_id, transfer=True)
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
    if body.until.tzinfo is None:
        raise InvalidInput("until needs a timezone (e.g. 2026-12-01T18:00:00+08:00)", field="until")
    try:
        until = body.until.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("until is out of range", field="until") from None
    if event.deadline_at is not None and until <= event.deadline_at:
        raise Unsuitable("the new deadline must be after the current one", field="until")
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
