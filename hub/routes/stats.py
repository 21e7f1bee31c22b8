"""GET /api/v1/stats/events: 事件处理统计 with each metric's explanation; CSV and Excel exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response
from openpyxl import Workbook

from dispatch import audit, jurisdictions
from dispatch.errors import InvalidInput, NotFound
from dispatch.schemas import NO_NUL, StorableText
from dispatch.stats import METRICS, StatsRow, event_stats
from hub.auditing import actor
from hub.deps import CurrentUser, SessionDep, SettingsDep
from hub.openapi import errors

#: Text query parameters are checked by storable_text: the document says "no NUL".
NUL_FREE = {"pattern": NO_NUL}

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _table(total: StatsRow, rows: list[StatsRow]) -> list[list[Any]]:
    header = ["辖区", "编码", *(name for name, _ in METRICS.values())]
    body = [[r.name, r.code, *(r.values.get(k) for k in METRICS)] for r in (total, *rows)]
    return [header, *body]


def _midnight(day: date, zone: ZoneInfo, field: str, days_after: int = 0) -> datetime:
    """The start of ``day`` (plus ``days_after``) in the site's zone, in UTC; InvalidInput at the calendar's ends."""
    try:
        return datetime.combine(day + timedelta(days=days_after), time.min, zone).astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{field} is out of range", field=field) from None


STATS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The table as JSON (default), CSV (UTF-8 with BOM) or an Excel workbook (`format`).",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **errors(s404="The jurisdiction does not exist or is outside yours."),
}


@router.get("/events", responses=STATS_RESPONSES)
async def events_stats(
    user: CurrentUser,
    db_session: SessionDep,
    settings: SettingsDep,
    jurisdiction: Annotated[
        StorableText | None,
        Query(max_length=32, description="Default: your own.", json_schema_extra=NUL_FREE),
    ] = None,
    start: Annotated[date | None, Query(description="First day (default: the 1st of this month).")] = None,
    end: Annotated[date | None, Query(description="Last day, included (default: today).")] = None,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Any:
    """The metrics of DESIGN section 4 for a jurisdiction and each of its children, with explanations."""
    zone = ZoneInfo(settings.timezone)
    today = datetime.now(zone).date()
    start = start or today.replace(day=1)
    end = end or today
    if end < start:
        raise InvalidInput("end is before start", field="end")
    if (end - start).days > 3 * 366:
        raise InvalidInput("the period is limited to three years", field="start")
    node = await jurisdictions.get_jurisdiction(db_session=db_session, code=jurisdiction or user.jurisdiction_code)
    if not jurisdictions.contains(user.jurisdiction.path, node.path):
        raise NotFound(f"jurisdiction {node.code!r} not found")
    since = _midnight(start, zone, "start")
    until = _midnight(end, zone, "end", days_after=1)
    total, rows = await event_stats(db_session=db_session, node=node, start=since, end=until)

    filename = f"events-{node.code}-{start}-{end}"
    if format != "json":
        detail = {"format": format, "start": start.isoformat(), "end": end.isoformat()}
        await audit.record(
            db_session,
            kind="export.stats",
            **actor(user),
            address=None,
            target=f"jurisdiction:{node.code}",
            detail=detail,
        )
        await db_session.commit()
    if format == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(_table(total, rows))
        return Response(
            "\ufeff" + buffer.getvalue(),  # BOM: Excel opens UTF-8 CSV with Chinese correctly
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    if format == "xlsx":
        book = Workbook()
        sheet = book.active
        sheet.title = "事件处理统计"
        for line in _table(total, rows):
            sheet.append(line)
        notes = book.create_sheet("指标说明")
        notes.append(["指标", "说明"])
        for name, explanation in METRICS.values():
            notes.append([name, explanation])
        out = io.BytesIO()
        book.save(out)
        return Response(
            out.getvalue(), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'}
        )
    return {
        "jurisdiction": {"code": node.code, "name": node.name, "level": node.level},
        "start": start.isoformat(),
        "end": end.isoformat(),
        "metrics": [{"key": k, "name": n, "explanation": e} for k, (n, e) in METRICS.items()],
        "total": total.values,
        "rows": [{"code": r.code, "name": r.name, "level": r.level, **r.values} for r in rows],
    }
