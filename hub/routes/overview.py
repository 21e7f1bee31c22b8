"""GET /api/v1/screens/overview: the big screen's tiles for one jurisdiction (运行概览大屏).

The same document is pushed live on ``screen:overview.{code}`` by :mod:`hub.overview_feed`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from dispatch import jurisdictions
from dispatch.errors import NotFound
from dispatch.models import Role, User
from hub.deps import RequireRole, SessionDep

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
    return await request.app.state.overview_feed.compute(node, db_session)
