"""Events: report, the list views, detail with timeline, every workflow action, nearby resources."""

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import queries, service
from dispatch.errors import InvalidInput, NotFound, Unsuitable
from dispatch.models import Source, Urgency, User
from dispatch.schemas import ACTION_BODIES, NO_NUL, ActionIn, EventDetailOut, EventPage, ReportIn, StorableText
from dispatch.workflow import Action
from hub.deps import AppTaxonomy, CurrentUser, SessionDep, SettingsDep
from hub.openapi import errors
from hub.routes.cameras import lookback_links, status_of
from hub.routes.nearby import Kind, search
from stream.models import Camera
from stream.registry import visible_cameras

#: Text query parameters are checked by storable_text: the document says "no NUL".
NUL_FREE = {"pattern": NO_NUL}

router = APIRouter(prefix="/api/v1/events", tags=["events"])

EventId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The event id.")]


def local_time(value: datetime | None, timezone: str, field: str) -> datetime | None:
    """A time without an offset is read in the site's time zone (Asia/Shanghai by default); returned in UTC."""
    if value is None:
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{field} is out of range", field=field) from None


async def check_reported_camera(db_session: AsyncSession, camera_id: int, user: User) -> None:
    """Refuse a report's ``camera_id`` that names no camera the reporter sees, as an unknown grid or category is
    refused (Unsuitable, 409): an event never keeps a dangling camera id.

    Checked here, not in dispatch/service.py: cameras are stream/'s table and dispatch/ may not import stream/
    (see the packages' ``__init__``); hub/ is where both meet. Unknown and outside the reporter's jurisdiction
    read the same, as for the camera routes (``visible_cameras``)."""
    query = visible_cameras(user).with_only_columns(Camera.id).where(Camera.id == camera_id)
    if await db_session.scalar(query) is None:
        raise Unsuitable(f"camera {camera_id} is not a camera of your jurisdiction", field="camera_id")


def notify_realtime(request: Request) -> None:
    """Wake the outbox relay so the change reaches screens now rather than at the next poll."""
    realtime = getattr(request.app.state, "realtime", None)
    if realtime is not None:
        realtime.notify()


@router.post(
    "",
    response_model=EventDetailOut,
    status_code=201,
    responses=errors(409, s403="Your account may not report with that source (`allowed` lists those it may name)."),
)
async def report_event(
    body: ReportIn, request: Request, user: CurrentUser, db_session: SessionDep, taxonomy: AppTaxonomy
) -> EventDetailOut:
    """新增/上报事件: the event enters 待受理 (pending) at the town command room of its grid."""
    if body.camera_id is not None:
        await check_reported_camera(db_session, body.camera_id, user)
    event = await service.report_event(db_session=db_session, taxonomy=taxonomy, actor=user, data=body)
    notify_realtime(request)
    return await queries.event_detail(db_session=db_session, taxonomy=taxonomy, user=user, event_id=event.id)


@router.get("", response_model=EventPage)
async def list_events(
    user: CurrentUser,
    db_session: SessionDep,
    taxonomy: AppTaxonomy,
    view: Annotated[queries.View, Query(description="Which list (DESIGN section 3 views).")],
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 20,
    category_code: Annotated[StorableText | None, Query(max_length=32, json_schema_extra=NUL_FREE)] = None,
    urgency: Urgency | None = None,
    source: Source | None = None,
    q: Annotated[
        StorableText | None,
        Query(max_length=100, description="Text in the title.", json_schema_extra=NUL_FREE),
    ] = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    sort: Annotated[
        queries.Sort,
        Query(description="`newest` first (default), or by `deadline`: the most overdue first, none last."),
    ] = queries.Sort.NEWEST,
    settings: SettingsDep = None,  # type: ignore[assignment]
) -> EventPage:
    """A page of one view (newest first, or by deadline), with each open event's deadline warning."""
    filters = queries.EventFilter(
        category_code=category_code,
        urgency=urgency.value if urgency else None,
        source=source.value if source else None,
        text=q,
        created_from=local_time(created_from, settings.timezone, "created_from"),
        created_to=local_time(created_to, settings.timezone, "created_to"),
    )
    events, total, exact = await queries.list_events(
        db_session=db_session, user=user, view=view, filters=filters, page=page, page_size=page_size, sort=sort
    )
    now = service.utcnow()
    return EventPage(
        items=[queries.event_out(e, taxonomy, now) for e in events],
        total=total,
        total_exact=exact,
        page=page,
        page_size=page_size,
    )


@router.get("/{event_id}", response_model=EventDetailOut)
async def get_event(
    event_id: EventId, user: CurrentUser, db_session: SessionDep, taxonomy: AppTaxonomy
) -> EventDetailOut:
    """The event with its whole timeline, extension requests and what this user may do now."""
    return await queries.event_detail(db_session=db_session, taxonomy=taxonomy, user=user, event_id=event_id)


class NearbyOut(BaseModel):
    event_id: int
    radius_m: float
    cameras: list[dict[str, Any]]
    responders: list[dict[str, Any]]
    centres: list[dict[str, Any]]


@router.get("/{event_id}/nearby", response_model=NearbyOut)
async def nearby(
    event_id: EventId,
    request: Request,
    user: CurrentUser,
    db_session: SessionDep,
    radius_m: Annotated[float, Query(gt=0, le=20_000)] = 2000,
) -> NearbyOut:
    """事件图搜: cameras, responders and command centres within ``radius_m`` of the event, nearest first;
    each camera links its recording around the report time (``lookback``: recordings list and clip).

    The same searches and rules as ``GET /nearby`` (周边资源): the cameras of your jurisdiction, responders
    inside your own jurisdiction (their phones to dispatchers and admins only), the command rooms of your tree.
    """
    event = await service.load_visible_event(db_session, user, event_id)
    if event.lat is None or event.lon is None:
        raise NotFound(f"event {event_id} has no position")
    found = await search(
        db_session=db_session,
        viewer=user,
        lat=event.lat,
        lon=event.lon,
        radius_m=radius_m,
        kinds=(Kind.CAMERAS, Kind.RESPONDERS, Kind.CENTRES),
        camera_status=lambda camera: status_of(request, camera),
    )
    return NearbyOut(
        event_id=event.id,
        radius_m=radius_m,
        cameras=[
            {**camera, "lookback": lookback_links(camera["id"], event.created_at)}
            for camera in found[Kind.CAMERAS].items
        ],
        responders=found[Kind.RESPONDERS].items,
        centres=found[Kind.CENTRES].items,
    )


def _action_route(action: Action, body_model: type[ActionIn]) -> Any:
    async def take_action(
        event_id: EventId,
        body: Annotated[body_model, Body()],  # type: ignore[valid-type]
        request: Request,
        user: CurrentUser,
        db_session: SessionDep,
        taxonomy: AppTaxonomy,
    ) -> EventDetailOut:
        await service.apply_action(
            db_session=db_session, taxonomy=taxonomy, actor=user, event_id=event_id, action=action, body=body
        )
        notify_realtime(request)
        return await queries.event_detail(db_session=db_session, taxonomy=taxonomy, user=user, event_id=event_id)

    take_action.__name__ = f"event_{action.value}"
    take_action.__doc__ = (
        f"Workflow action `{action.value}` (DESIGN section 3). 409 lists the allowed actions when the state "
        "does not allow it, or when `version` is stale; 404 when the event is outside your jurisdiction."
    )
    return take_action


for _action in Action:
    if _action is Action.REPORT:
        continue
    router.post(
        f"/{{event_id}}/{_action.value}",
        response_model=EventDetailOut,
        summary=f"{_action.value}",
        responses={
            404: {"description": "unknown event, or outside your jurisdiction"},
            409: {"description": "illegal step from the current state, or stale version"},
            403: {"description": "your role or relation to the event does not allow it"},
        },
    )(_action_route(_action, ACTION_BODIES[_action.value]))


@router.post("/{event_id}/{action}", include_in_schema=False)
async def unknown_action(event_id: EventId, action: str, _: CurrentUser) -> None:
    raise NotFound(
        f"unknown action {action!r}",
        actions=[a.value for a in Action if a is not Action.REPORT],
    )
