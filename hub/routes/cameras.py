"""GET/POST /api/v1/cameras: the camera registry on the map (摄像头上图)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from dispatch import jurisdictions
from dispatch.errors import NotFound, Unsuitable
from dispatch.models import Jurisdiction, Level
from dispatch.schemas import Storable
from hub.deps import AdminUser, CurrentUser, SessionDep
from hub.openapi import errors
from stream.models import Camera
from stream.registry import camera_dict

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


class CameraIn(Storable):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "人民路与幸福路口", "lat": 30.41, "lon": 119.98, "source_url": "rtsp://10.0.0.5/main"}
            ]
        },
    )
    name: Annotated[str, Field(min_length=1, max_length=100)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    source_url: Annotated[str, Field(max_length=500)] = ""
    grid_code: Annotated[str | None, Field(max_length=32)] = None


class CameraPage(BaseModel):
    items: list[dict[str, Any]]
    total: int


@router.get("", response_model=CameraPage)
async def list_cameras(
    user: CurrentUser,
    db_session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> CameraPage:
    """Cameras in the user's jurisdiction, with position and status."""
    query = (
        select(Camera)
        .join(Jurisdiction, Camera.grid_code == Jurisdiction.code)
        .where(Jurisdiction.path.startswith(user.jurisdiction.path, autoescape=True))
    )
    total = await db_session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await db_session.scalars(query.order_by(Camera.id).offset((page - 1) * page_size).limit(page_size))
    return CameraPage(items=[camera_dict(c) for c in rows], total=int(total or 0))


@router.post("", status_code=201, responses=errors(409))
async def add_camera(body: CameraIn, user: AdminUser, db_session: SessionDep) -> dict[str, Any]:
    """Register a camera (admin); its grid is found from its position when not given."""
    if body.grid_code:
        try:
            grid = await jurisdictions.get_jurisdiction(db_session=db_session, code=body.grid_code)
        except NotFound:
            raise Unsuitable(f"{body.grid_code!r} is not a grid", field="grid_code") from None
        if grid.level != Level.GRID.value:
            raise Unsuitable(f"{body.grid_code!r} is not a grid", field="grid_code")
    else:
        grid = await jurisdictions.locate_grid(db_session=db_session, lat=body.lat, lon=body.lon)
    camera = Camera(name=body.name, lat=body.lat, lon=body.lon, source_url=body.source_url, grid_code=grid.code)
    db_session.add(camera)
    await db_session.commit()
    return camera_dict(camera)
