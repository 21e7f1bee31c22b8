"""Big-screen layouts as versioned documents (Grafana's dashboard model), kept on the server.

A layout is one JSON document ``{uid, schemaVersion, version, tiles: [{id, type, gridPos {x, y, w, h},
options}]}`` on a 24 × 12 grid. A save sends the whole document with the ``version`` it was loaded at;
a save over a newer version is refused (HTTP 412), so two leaders editing at once never lose a change
silently. ``SCHEMA_VERSION`` steps get a migration function each (none yet: schema 1 is the first).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.db import Base, JsonType, Timestamp, utcnow

SCHEMA_VERSION = 1
COLUMNS, ROWS = 24, 12


class ScreenLayout(Base):
    __tablename__ = "screen_layouts"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JsonType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


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
        return self


class StaleLayout(Exception):
    def __init__(self, current: int) -> None:
        super().__init__(f"the layout was saved by someone else meanwhile (now version {current}): reload it")
        self.current = current


async def get_layout(*, db_session: AsyncSession, name: str) -> dict[str, Any] | None:
    row = await db_session.get(ScreenLayout, name)
    return None if row is None else {**row.document, "version": row.version}


async def save_layout(*, db_session: AsyncSession, name: str, document: LayoutDocument, user_id: int) -> dict[str, Any]:
    """Store ``document`` as the next version; StaleLayout when it was not loaded at the current one."""
    row = await db_session.get(ScreenLayout, name, with_for_update=True)
    current = row.version if row else 0
    if document.version != current:
        raise StaleLayout(current)
    body = document.model_dump(mode="json") | {"uid": name}
    if row is None:
        row = ScreenLayout(name=name, document=body, version=1, updated_by_id=user_id)
        db_session.add(row)
    else:
        row.document, row.version, row.updated_by_id, row.updated_at = body, current + 1, user_id, utcnow()
    await db_session.commit()
    return {**body, "version": row.version}
