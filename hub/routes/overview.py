"""The big screen's API (运行概览大屏): its tiles for one jurisdiction, its layout documents, and the basemap
the pages' maps draw (``map-config``).

The same document is pushed live on ``screen:overview.{code}`` by :mod:`hub.overview_feed`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from dispatch import jurisdictions
from dispatch.errors import NotFound
from dispatch.models import Role, User
from hub.deps import CurrentUser, RequireRole, SessionDep
from hub.maptiles import MapConfig, map_config
from screens import layouts

router = APIRouter(prefix="/api/v1/screens", tags=["screens"])

ScreenUser = Annotated[User, Depends(RequireRole(Role.LEADER, Role.DISPATCHER, Role.ADMIN))]


@router.get(
    "/overview",
    responses={
        401: {"description": "Not logged in."},
        403: {"description": "Only leaders, dispatchers and admins watch the big screen."},
        404: {"description": "The jurisdiction does not exist or is outside yours."},
    },
)
async def screen_overview(
    request: Request,
    user: ScreenUser,
    db_session: SessionDep,
    jurisdiction: Annotated[
        str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$", description="Default: yours.")
    ] = None,
) -> dict[str, Any]:
    """Today's counts, warnings, per-child overview, map markers, forces online, trend, efficiency,
    resolution levels, hot words, this month's metrics and 平安指数 of a jurisdiction. Subscribe to
    ``screen:overview.{code}`` on ``/ws`` for the same document whenever it changes."""
    node = await jurisdictions.get_jurisdiction(db_session=db_session, code=jurisdiction or user.jurisdiction_code)
    if not jurisdictions.contains(user.jurisdiction.path, node.path):
        raise NotFound(f"jurisdiction {node.code!r} not found")
    # A document as of the current data (same outbox head) may be up to two refresh periods old here: only the
    # clock-driven warnings can have moved since, and a screen that then subscribes is sent a fresh one at once.
    feed = request.app.state.overview_feed
    return await feed.document(node, db_session, max_age_s=2 * feed.refresh_s)


@router.get("/map-config", response_model=MapConfig)
async def get_map_config(request: Request, _: CurrentUser) -> MapConfig:
    """The basemap under the maps of the pages (``GRIDHUB_MAP_TILES`` …): none (the default: gridhub's own
    GeoJSON boundaries, offline), 天地图, 高德 or a custom tile server, with the datum its tiles are drawn in."""
    return map_config(request.app.state.settings)


LayoutName = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,32}$", description="The screen, e.g. `overview`.")]
LayoutEditor = Annotated[User, Depends(RequireRole(Role.LEADER, Role.ADMIN))]


@router.get(
    "/{name}/layout",
    responses={
        401: {"description": "Not logged in."},
        403: {"description": "Only leaders, dispatchers and admins watch the big screen."},
        204: {"description": "No layout saved for this screen yet: use the built-in default."},
    },
)
async def get_screen_layout(name: LayoutName, _: ScreenUser, db_session: SessionDep) -> Any:
    """The saved layout document of a screen (tiles on a 24 × 12 grid, each tile's data and options)."""
    document = await layouts.get_layout(db_session=db_session, name=name)
    if document is None:
        return Response(status_code=204)
    return document


@router.put(
    "/{name}/layout",
    responses={
        401: {"description": "Not logged in."},
        403: {
            "description": "Only leaders and admins edit layouts, and only of screens of their jurisdiction or below "
            "(`overview`, every wall's default, belongs to the top of the tree)."
        },
        412: {"description": "Someone saved a newer version meanwhile: reload, then edit again."},
        422: {"description": "The document is not a valid layout (tiles outside the grid or overlapping, …)."},
    },
)
async def put_screen_layout(
    name: LayoutName, document: layouts.LayoutDocument, user: LayoutEditor, db_session: SessionDep
) -> dict[str, Any]:
    """Save the whole layout document; ``version`` must be the version it was loaded at (0 for a first save)."""
    try:
        return await layouts.save_layout(db_session=db_session, name=name, document=document, editor=user)
    except layouts.StaleLayout as stale:
        raise HTTPException(status_code=412, detail=str(stale)) from None
