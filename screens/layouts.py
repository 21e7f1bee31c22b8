"""Big-screen layouts as versioned documents (Grafana's dashboard model), kept on the server.

A layout is one JSON document ``{uid, schemaVersion, version, tiles: [{id, type, gridPos {x, y, w, h},
options}]}`` on a 24 × 12 grid. A save sends the whole document with the ``version`` it was loaded at;
a save over a newer version is refused (HTTP 412), so two leaders editing at once never lose a change
silently. Tiles may not overlap (each cell shows one tile). ``SCHEMA_VERSION`` steps get a migration function
each (none yet: schema 1 is the first).

Each screen belongs to a jurisdiction (``owner_code``): the first saver's, and for the built-in default screen
``overview``, which every wall shows until it is given another, the top of the tree's. Its leaders, the leaders
above them and admins may change it; a town's leaders arrange their own walls (``?screen=NAME`` on the page),
not the county's.
"""

from __future__ import annotations

import json
from datetime import datetime
from itertools import combinations
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from dispatch import jurisdictions
from dispatch.db import Base, JsonType, Timestamp, utcnow
from dispatch.errors import DomainError, Forbidden
from dispatch.models import Role, User

SCHEMA_VERSION = 1
COLUMNS, ROWS = 24, 12
#: The screen every wall shows unless told another (``?screen=``): it belongs to the top of the tree.
DEFAULT_SCREEN = "overview"
#: Largest ``options`` of one tile, as JSON (layers, data choices: small).
MAX_OPTIONS_BYTES = 4096


class ScreenLayout(Base):
    __tablename__ = "screen_layouts"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JsonType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    #: The jurisdiction the screen belongs to; None: saved before screens had owners (the top of the tree's).
    owner_code: Mapped[str | None] = mapped_column(String(32))


class GridPos(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # strict: `false` is not the integer 0
    x: Annotated[int, Field(ge=0, lt=COLUMNS)]
    y: Annotated[int, Field(ge=0, lt=ROWS)]
    w: Annotated[int, Field(ge=1, le=COLUMNS)]
    h: Annotated[int, Field(ge=1, le=ROWS)]

    @model_validator(mode="after")
    def inside(self) -> GridPos:
        if self.x + self.w > COLUMNS or self.y + self.h > ROWS:
            raise ValueError(f"the tile must fit the {COLUMNS}×{ROWS} grid")
        return self


class Tile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    title: Annotated[str | None, Field(max_length=40)] = None
    gridPos: GridPos
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def small_options(self) -> Tile:
        if len(json.dumps(self.options, ensure_ascii=False).encode()) > MAX_OPTIONS_BYTES:
            raise ValueError(f"a tile's options may hold at most {MAX_OPTIONS_BYTES} bytes of JSON")
        return self

    def overlaps(self, other: Tile) -> bool:
        a, b = self.gridPos, other.gridPos
        return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


class LayoutDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    uid: Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]
    schemaVersion: Annotated[int, Field(ge=1, le=SCHEMA_VERSION)]
    version: Annotated[int, Field(ge=0, description="The version this document was loaded at (0: never saved).")]
    tiles: Annotated[list[Tile], Field(max_length=40)]

    @model_validator(mode="after")
    def unique_ids(self) -> LayoutDocument:
        ids = [t.id for t in self.tiles]
        if len(ids) != len(set(ids)):
            raise ValueError("tile ids must be unique")
        for a, b in combinations(self.tiles, 2):
            if a.overlaps(b):
                raise ValueError(f"tiles {a.id!r} and {b.id!r} overlap: each cell of the grid shows one tile")
        return self


class StaleLayout(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the layout was saved by someone else meanwhile (now version {current}): reload it")
        self.current = current


class NotYourScreen(Forbidden):
    """The editor's jurisdiction does not contain the screen's (HTTP 403)."""


async def get_layout(*, db_session: AsyncSession, name: str) -> dict[str, Any] | None:
    row = await db_session.get(ScreenLayout, name)
    return None if row is None else {**row.document, "version": row.version}


async def _owner_path(db_session: AsyncSession, row: ScreenLayout | None, name: str, editor: User) -> str | None:
    """The path of the jurisdiction the screen belongs to; None: the top of the tree's."""
    if row is not None and row.owner_code is not None:
        try:
            return (await jurisdictions.get_jurisdiction(db_session=db_session, code=row.owner_code)).path
        except DomainError:  # the owning jurisdiction was removed: the screen falls to the top of the tree
            return None
    if row is None and name != DEFAULT_SCREEN:
        return editor.jurisdiction.path  # a new screen: the editor's
    return None


async def save_layout(*, db_session: AsyncSession, name: str, document: LayoutDocument, editor: User) -> dict[str, Any]:
    """Store ``document`` as the next version; StaleLayout when it was not loaded at the current one,
    NotYourScreen when the screen belongs to a jurisdiction outside the editor's."""
    row = await db_session.get(ScreenLayout, name, with_for_update=True)
    owner = await _owner_path(db_session, row, name, editor)
    top = editor.jurisdiction.parent_code is None
    allowed = editor.role == Role.ADMIN or (
        top if owner is None else jurisdictions.contains(editor.jurisdiction.path, owner)
    )
    if not allowed:
        raise NotYourScreen(
            f"screen {name!r} belongs to another jurisdiction: its leaders or those above them change it "
            "(a wall of your own: open the big screen with ?screen=NAME)"
        )
    current = row.version if row else 0
    if document.version != current:
        raise StaleLayout(current)
    body = document.model_dump(mode="json") | {"uid": name}
    if row is None:
        owner_code = None if name == DEFAULT_SCREEN else editor.jurisdiction_code
        row = ScreenLayout(name=name, document=body, version=1, updated_by_id=editor.id, owner_code=owner_code)
        db_session.add(row)
    else:
        row.document, row.version, row.updated_by_id, row.updated_at = body, current + 1, editor.id, utcnow()
    await db_session.commit()
    return {**body, "version": row.version}
