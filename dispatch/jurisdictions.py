"""Reading the jurisdiction tree and answering "is this inside that?"."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from dispatch.errors import NotFound, Unsuitable
from dispatch.geo import polygon_contains
from dispatch.models import Jurisdiction, Level, User


def contains(outer_path: str, inner_path: str) -> bool:
    """Whether the node at ``inner_path`` is ``outer_path`` or lies beneath it."""
    return inner_path.startswith(outer_path)


async def get_jurisdiction(*, db_session: AsyncSession, code: str) -> Jurisdiction:
    node = await db_session.get(Jurisdiction, code)
    if node is None:
        raise NotFound(f"jurisdiction {code!r} not found")
    return node


def visible_clause(user: User) -> ColumnElement[bool]:
    """The nodes a user sees: their own, its subtree and its ancestors (the tree, its map, the command rooms
    near a point)."""
    path = user.jurisdiction.path
    ancestors = [c for c in path.strip("/").split("/") if c]
    return or_(Jurisdiction.path.startswith(path, autoescape=True), Jurisdiction.code.in_(ancestors))


async def visible_tree(
    *, db_session: AsyncSession, user: User, level: Level | None = None, boundaries: bool = False
) -> list[Jurisdiction]:
    """The user's node, its subtree and its ancestors (so the client can draw the path to the root); only the
    nodes of ``level`` when given. The boundaries (a polygon each, the bulk of a row) are read only when asked:
    a county's tree is ~800 of them."""
    query = select(Jurisdiction).where(visible_clause(user)).order_by(Jurisdiction.path)
    if level is not None:
        query = query.where(Jurisdiction.level == level.value)
    if not boundaries:
        query = query.options(defer(Jurisdiction.boundary, raiseload=True))
    return list(await db_session.scalars(query))


async def root(*, db_session: AsyncSession) -> Jurisdiction:
    node = await db_session.scalar(select(Jurisdiction).where(Jurisdiction.parent_code.is_(None)).limit(1))
    if node is None:
        raise NotFound("the jurisdiction tree is empty: run `gridhub seed` or import one")
    return node


async def locate_grid(*, db_session: AsyncSession, lat: float, lon: float, within_path: str = "/") -> Jurisdiction:
    """The grid whose boundary holds the point (nearest centres first); Unsuitable (409) where none does."""
    box = 0.05  # degrees, ~5 km: grids are far smaller
    candidates = await db_session.scalars(
        select(Jurisdiction).where(
            Jurisdiction.level == Level.GRID.value,
            Jurisdiction.center_lat.between(lat - box, lat + box),
            Jurisdiction.center_lon.between(lon - box, lon + box),
            Jurisdiction.path.startswith(within_path, autoescape=True),
        )
    )
    ordered = sorted(candidates, key=lambda g: ((g.center_lat or 0) - lat) ** 2 + ((g.center_lon or 0) - lon) ** 2)
    for grid in ordered:
        if polygon_contains(grid.boundary, lat, lon):
            return grid
    raise Unsuitable("the location lies in no grid of your jurisdiction", field="lat/lon")
