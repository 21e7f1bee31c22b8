"""PUT /api/v1/me/position: a responder's phone reports where it is (网格力量 on the map, nearby search)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from hub.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api/v1/me", tags=["auth"])


class PositionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"lat": 30.41, "lon": 119.98}]}
    )
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    accuracy_m: Annotated[float | None, Field(ge=0, le=100_000, allow_inf_nan=False)] = None


@router.put("/position", status_code=204, responses={401: {"description": "Not logged in."}})
async def put_position(body: PositionIn, user: CurrentUser, db_session: SessionDep) -> None:
    """The caller's current position (WGS-84), as the phone's browser measured it; the last one is kept."""
    user.lat, user.lon = body.lat, body.lon
    await db_session.commit()
