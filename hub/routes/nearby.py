"""周边资源: cameras, responders, command rooms and open events around any point (the map's quick search).

``search`` is the one composition of the four searches; ``GET /events/{id}/nearby`` (事件图搜) uses it too,
so each kind has one implementation and one visibility rule:

* cameras: ``stream.registry.visible_cameras`` (the camera list's rule: their grid lies in your jurisdiction);
* responders: ``dispatch.queries.nearby_responders`` (your subtree; phones only to the roles that dispatch);
* command rooms: ``dispatch.jurisdictions.visible_clause`` (the nodes of your tree and its ancestors);
* events: ``dispatch.visibility.visible_clause`` (the rule of every event list), open ones only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import queries
from dispatch.errors import InvalidInput
from dispatch.geo import Found
from dispatch.models import User
from hub.deps import CurrentUser, SessionDep
from hub.openapi import errors
from hub.routes.cameras import status_of
from stream.models import Camera
from stream.registry import nearby_cameras

router = APIRouter(prefix="/api/v1", tags=["nearby"])


class Kind(enum.StrEnum):
    CAMERAS = "cameras"
    RESPONDERS = "responders"
    CENTRES = "centres"
    EVENTS = "events"


#: ``kinds``: a comma list of kinds. Checked by ``parse_kinds`` with the same expression (``re.search``, as
#: JSON Schema validators read it), so the document and the route agree on every string.
KINDS_PATTERN = r"^(cameras|responders|centres|events)(,(cameras|responders|centres|events))*$"
#: Most items of each kind in one answer (``total`` says how many lie within the radius).
LIMITS = {Kind.CAMERAS: 50, Kind.RESPONDERS: 50, Kind.CENTRES: 20, Kind.EVENTS: 50}


def parse_kinds(value: str | None) -> list[Kind]:
    """The kinds asked for, in their canonical order; every kind when none is named."""
    if value is None:
        return list(Kind)
    names = [name.strip() for name in value.split(",")]
    unknown = [name for name in names if name not in {kind.value for kind in Kind}]
    if unknown or not re.search(KINDS_PATTERN, value):
        raise InvalidInput(
            f"unknown kind {(unknown or [value])[0][:40]!r}; kinds are {', '.join(Kind)} (comma-separated)",
            field="kinds",
        )
    return [kind for kind in Kind if kind.value in names]


async def search(
    *,
    db_session: AsyncSession,
    viewer: User,
    lat: float,
    lon: float,
    radius_m: float,
    kinds: Iterable[Kind],
    camera_status: Callable[[Camera], dict[str, Any]] | None = None,
) -> dict[Kind, Found[dict[str, Any]]]:
    """What the viewer may see of each kind within ``radius_m`` of the point, nearest first."""
    point = {"db_session": db_session, "viewer": viewer, "lat": lat, "lon": lon, "radius_m": radius_m}
    found: dict[Kind, Found[dict[str, Any]]] = {}
    for kind in kinds:  # one session: one query after the other
        match kind:
            case Kind.CAMERAS:
                found[kind] = await nearby_cameras(**point, limit=LIMITS[kind], status=camera_status)
            case Kind.RESPONDERS:
                found[kind] = await queries.nearby_responders(**point, limit=LIMITS[kind])
            case Kind.CENTRES:
                found[kind] = await queries.nearby_centres(**point, limit=LIMITS[kind])
            case Kind.EVENTS:
                found[kind] = await queries.nearby_events(**point, limit=LIMITS[kind])
    return found


class NearbyCamera(BaseModel):
    id: int
    name: str
    lat: float
    lon: float
    grid_code: str | None
    enabled: bool
    tags: list[str]
    status: str | None = Field(description="The reader's state: no_source, connecting, online, offline, error.")
    stream: dict[str, Any] = Field(description="The reader's true status (as on `GET /cameras/{id}`).")
    distance_m: float


class NearbyResponder(BaseModel):
    id: int
    name: str
    role: str
    phone: str | None = Field(description="Shown to dispatchers and admins only.")
    jurisdiction_code: str
    lat: float
    lon: float
    distance_m: float


class NearbyCentre(BaseModel):
    code: str
    name: str
    level: str
    lat: float
    lon: float
    distance_m: float


class NearbyEvent(BaseModel):
    id: int
    title: str
    state: str
    urgency: str
    warning: str = Field(description="none, yellow (预警) or red (超期).")
    category_code: str
    grid_code: str | None
    created_at: str
    lat: float
    lon: float
    distance_m: float


class Cameras(BaseModel):
    items: list[NearbyCamera]
    total: int = Field(description="How many lie within the radius (the items are the nearest of them).")


class Responders(BaseModel):
    items: list[NearbyResponder]
    total: int


class Centres(BaseModel):
    items: list[NearbyCentre]
    total: int


class Events(BaseModel):
    items: list[NearbyEvent]
    total: int


class NearbySearchOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lat": 30.015,
                    "lon": 120.005,
                    "radius_m": 1000,
                    "kinds": ["cameras", "responders"],
                    "cameras": {"items": [], "total": 0},
                    "responders": {
                        "items": [
                            {
                                "id": 7,
                                "name": "张伟",
                                "role": "responder",
                                "phone": "13800000001",
                                "jurisdiction_code": "330100001001001",
                                "lat": 30.0152,
                                "lon": 120.0051,
                                "distance_m": 23.9,
                            }
                        ],
                        "total": 1,
                    },
                    "centres": None,
                    "events": None,
                }
            ]
        }
    )
    lat: float
    lon: float
    radius_m: float
    kinds: list[Kind] = Field(description="The kinds searched; the others are null.")
    cameras: Cameras | None
    responders: Responders | None
    centres: Centres | None
    events: Events | None


@router.get("/nearby", response_model=NearbySearchOut, responses=errors(422))
async def nearby(
    request: Request,
    user: CurrentUser,
    db_session: SessionDep,
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="WGS-84 latitude.")],
    lon: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="WGS-84 longitude.")],
    radius_m: Annotated[float, Query(ge=1, le=20_000, allow_inf_nan=False, description="Metres.")] = 1000,
    kinds: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Comma list of `cameras`, `responders`, `centres`, `events`; default: all.",
            json_schema_extra={"pattern": KINDS_PATTERN},
        ),
    ] = None,
) -> NearbySearchOut:
    """周边资源: what lies within ``radius_m`` of a WGS-84 point, nearest first, each with ``distance_m``; each
    list holds at most 50 (command rooms 20) with the ``total`` within the radius.

    You see the cameras of your jurisdiction, the responders of your subtree (phones to dispatchers and
    admins only), the command rooms of your tree and the open events you may read.
    """
    asked = parse_kinds(kinds)
    found = await search(
        db_session=db_session,
        viewer=user,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        kinds=asked,
        camera_status=lambda camera: status_of(request, camera),
    )
    lists: dict[str, Any] = {kind.value: None for kind in Kind}
    lists.update({kind.value: {"items": f.items, "total": f.total} for kind, f in found.items()})
    return NearbySearchOut.model_validate({"lat": lat, "lon": lon, "radius_m": radius_m, "kinds": asked, **lists})
