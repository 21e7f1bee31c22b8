"""GET /api/v1/audit: the audit trail for admins, filtered and paged, or as a CSV export (itself audited)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch import audit
from dispatch.models import Jurisdiction, User
from hub.auditing import actor
from hub.deps import AdminUser, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["audit"])

ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")
KIND_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
CSV_COLUMNS = [
    *("seq", "at", "actor_id", "actor_name", "address", "kind", "target", "outcome", "detail", "prev_hash", "hash")
]
ERROR = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            "required": ["error", "message"],
        }
    }
}
#: Rows read per query while a CSV export streams.
CSV_BATCH = 2000


class AuditRowOut(BaseModel):
    seq: int
    at: datetime
    actor_id: int | None
    actor_name: str | None
    address: str | None
    kind: str
    target: str | None
    outcome: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRowOut]
    total: int
    page: int
    page_size: int


def _conditions(
    admin: User, user: int | None, kind: str | None, start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    table = audit.AuditEntry.__table__
    where: list[ColumnElement[bool]] = []
    if admin.jurisdiction.parent_code is not None:
        # An admin below the root sees the acts of the accounts of their subtree only.
        accounts = (
            select(User.id)
            .join(Jurisdiction, User.jurisdiction_code == Jurisdiction.code)
            .where(Jurisdiction.path.startswith(admin.jurisdiction.path, autoescape=True))
        )
        where.append(table.c.actor_id.in_(accounts))
    if user is not None:
        where.append(table.c.actor_id == user)
    if kind is not None:
        where.append(or_(table.c.kind == kind, table.c.kind.startswith(kind + ".", autoescape=True)))
    if start is not None:
        where.append(table.c.at >= start)
    if end is not None:
        where.append(table.c.at < end)
    return where


def _iso_time(value: Any) -> Any:
    """Times are ISO 8601 text: a bare number (which pydantic would read as a Unix time) is refused."""
    if not isinstance(value, str) or not ISO_START.match(value):
        raise ValueError("a date-time like 2026-11-28T09:30:00+08:00")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_time)]


def _utc(value: datetime | None, timezone: str) -> datetime | None:
    """A bound in UTC (no offset: the site's zone); one past the calendar's ends is that end."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=UTC)


def _out(row: Any) -> AuditRowOut:
    return AuditRowOut(
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        address=row.address,
        kind=row.kind,
        target=row.target,
        outcome=row.outcome,
        detail=json.loads(row.detail),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _cell(value: Any) -> Any:
    """A spreadsheet must not run what an attacker typed as a username: formula-like text is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def _csv_lines(
    session_factory: async_sessionmaker[AsyncSession], where: list[ColumnElement[bool]]
) -> AsyncIterator[str]:
    """The export in chain order, read in batches in a session of its own (the request's is closed by then)."""
    table = audit.AuditEntry.__table__
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + buffer.getvalue()  # BOM: Excel opens UTF-8 CSV with Chinese correctly
    after = -1
    async with session_factory() as db_session:
        while True:
            query = select(table).where(*where, table.c.seq > after).order_by(table.c.seq).limit(CSV_BATCH)
            rows = (await db_session.execute(query)).all()
            if not rows:
                return
            buffer.seek(0)
            buffer.truncate()
            for row in rows:
                at = audit.at_text(row.at)
                writer.writerow([_cell(v) for v in (row.seq, at, *(getattr(row, c) for c in CSV_COLUMNS[2:]))])
            yield buffer.getvalue()
            after = rows[-1].seq


@router.get(
    "/audit",
    response_model=AuditPage,
    responses={
        200: {
            "description": "A page of rows, newest first; with `format=csv`, every matching row in chain order.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        401: {"description": "Not logged in", "content": ERROR},
        403: {"description": "Admins only", "content": ERROR},
        422: {"description": "Invalid filter", "content": ERROR},
    },
)
async def list_audit(
    request: Request,
    admin: AdminUser,
    db_session: SessionDep,
    settings: SettingsDep,
    user: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only the acts of this account id.")] = None,
    kind: Annotated[
        str | None,
        Query(max_length=64, pattern=KIND_PATTERN, description="A kind (`auth.login`) or a family (`auth`)."),
    ] = None,
    start: Annotated[IsoTime | None, Query(description="From this time (without offset: the site's zone).")] = None,
    end: Annotated[IsoTime | None, Query(description="Before this time.")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """安全审计: who did what, when, from where. Admins of the root see every row; an admin lower in the tree
    sees the rows of the accounts of their subtree. The CSV export is itself recorded (`export.audit`)."""
    where = _conditions(admin, user, kind, _utc(start, settings.timezone), _utc(end, settings.timezone))
    table = audit.AuditEntry.__table__
    total = await db_session.scalar(select(func.count()).select_from(table).where(*where)) or 0
    if format == "csv":
        filters = {"user": user, "kind": kind, "start": start, "end": end}
        detail = {"filters": {k: str(v) for k, v in filters.items() if v is not None}, "rows": total}
        await audit.record(db_session, kind="export.audit", **actor(admin), address=None, target="audit", detail=detail)
        await db_session.commit()
        return StreamingResponse(
            _csv_lines(request.app.state.session_factory, where),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )
    query = select(table).where(*where).order_by(table.c.seq.desc()).offset((page - 1) * page_size).limit(page_size)
    rows = (await db_session.execute(query)).all()
    return AuditPage(items=[_out(r) for r in rows], total=total, page=page, page_size=page_size)
