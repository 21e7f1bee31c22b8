"""GET /api/v1/jurisdictions (the visible tree), its GeoJSON and the category taxonomy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from dispatch import jurisdictions
from dispatch.models import Level
from hub.deps import AppTaxonomy, CurrentUser, SessionDep

router = APIRouter(prefix="/api/v1", tags=["jurisdictions"])


class JurisdictionOut(BaseModel):
    code: str
    name: str
    level: str
    parent: str | None
    center_lat: float | None
    center_lon: float | None


@router.get("/jurisdictions", response_model=list[JurisdictionOut])
async def list_jurisdictions(
    user: CurrentUser,
    db_session: SessionDep,
    level: Annotated[Level | None, Query(description="Only nodes of this level.")] = None,
) -> list[JurisdictionOut]:
    """The tree the user may see: their node, its subtree and the path up to the root."""
    nodes = await jurisdictions.visible_tree(db_session=db_session, user=user, level=level)
    return [
        JurisdictionOut(
            code=n.code,
            name=n.name,
            level=n.level,
            parent=n.parent_code,
            center_lat=n.center_lat,
            center_lon=n.center_lon,
        )
        for n in nodes
    ]


@router.get("/jurisdictions.geojson")
async def jurisdictions_geojson(
    user: CurrentUser,
    db_session: SessionDep,
    level: Annotated[Level, Query(description="Which level's boundaries.")] = Level.TOWN,
) -> dict[str, Any]:
    """Boundaries as a GeoJSON FeatureCollection, served by gridhub itself (the map needs no tile server)."""
    nodes = await jurisdictions.visible_tree(db_session=db_session, user=user, level=level, boundaries=True)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": n.boundary,
                "properties": {"code": n.code, "name": n.name, "level": n.level, "parent": n.parent_code},
            }
            for n in nodes
            if n.boundary
        ],
    }


@router.get("/categories")
async def categories(_: CurrentUser, taxonomy: AppTaxonomy) -> list[dict[str, Any]]:
    """The category taxonomy 大类 → 小类 → 事项 with platform and time limits (hours)."""
    return taxonomy.as_tree()
