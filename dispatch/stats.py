"""事件处理统计 (DESIGN section 4): the event metrics of a jurisdiction over a period, per child node.

Three grouped queries whatever the size of the data: the cohort of events reported in the period with
what has happened to them since, the actions taken in the period, and the closures in the period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import LEVEL_ORDER, Event, EventAction, Jurisdiction, Level, State

#: metric key → (中文, 指标说明). Counts first, then rates.
METRICS: dict[str, tuple[str, str]] = {
    "new": ("新增事件量", "统计期内上报的事件数 N"),
    "signed": ("已签收", "统计期内有签收操作的事件数"),
    "handled": ("已办理", "统计期内有办理(处置)操作的事件数"),
    "transferred": ("已流转", "统计期内有流转操作的事件数"),
    "escalated": ("已上报", "统计期内有上报上级操作的事件数"),
    "assigned": ("已交办", "统计期内有交办操作的事件数"),
    "closed": ("已办结", "统计期内核查通过而办结的事件数"),
    "verified": ("已核查", "统计期内有核查操作(通过或不通过)的事件数"),
    "evaluated": ("已评价", "统计期内有评价操作的事件数"),
    "sign_rate": ("新增签收率", "N 中至今已签收的事件数 ÷ N"),
    "transfer_rate": ("流转率", "N 中至少流转过一次的事件数 ÷ N"),
    "handle_rate": ("新增办理率", "N 中至今已办理的事件数 ÷ N"),
    "close_rate": ("新增办结率", "N 中至今已办结的事件数 ÷ N"),
    "satisfaction_rate": ("新增满意率", "N 中评价为 4 或 5 分的事件数 ÷ N 中已评价的事件数"),
    "on_time_rate": ("按时办结率", "统计期内办结且未超过办理时限的事件数 ÷ 统计期内办结的事件数"),
}

#: The actions counted by "events with at least one such action in the period".
ACTION_COUNTS: dict[str, str] = {
    "signed": "sign",
    "handled": "handle",
    "transferred": "transfer",
    "escalated": "escalate",
    "assigned": "assign",
    "verified": "verify",
    "evaluated": "evaluate",
}


@dataclass
class StatsRow:
    code: str
    name: str
    level: str
    values: dict[str, float | int | None] = field(default_factory=dict)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _column(level: str) -> Any:
    return getattr(Event, f"{level}_code")


async def event_stats(
    *, db_session: AsyncSession, node: Jurisdiction, start: datetime, end: datetime
) -> tuple[StatsRow, list[StatsRow]]:
    """The metrics for ``node`` and for each of its children over ``[start, end)``."""
    level_index = LEVEL_ORDER.index(Level(node.level))
    child_level = LEVEL_ORDER[level_index + 1].value if level_index + 1 < len(LEVEL_ORDER) else None
    area: ColumnElement[bool] = _column(node.level) == node.code
    group = _column(child_level) if child_level else _column(node.level)

    raw: dict[str, dict[str, int]] = {}

    def bucket(key: str | None) -> dict[str, int]:
        return raw.setdefault(key or node.code, {})

    # 1. The cohort N: events reported in the period, and what has happened to them by now.
    flags = (
        select(
            EventAction.event_id.label("event_id"),
            func.max(case((EventAction.action == "sign", 1), else_=0)).label("signed"),
            func.max(case((EventAction.action == "transfer", 1), else_=0)).label("transferred"),
            func.max(case((EventAction.action == "handle", 1), else_=0)).label("handled"),
        )
        .join(Event, Event.id == EventAction.event_id)
        .where(area, Event.created_at >= start, Event.created_at < end)
        .group_by(EventAction.event_id)
        .subquery()
    )
    cohort = await db_session.execute(
        select(
            group,
            func.count(Event.id),
            func.coalesce(func.sum(flags.c.signed), 0),
            func.coalesce(func.sum(flags.c.transferred), 0),
            func.coalesce(func.sum(flags.c.handled), 0),
            func.sum(case((Event.state == State.CLOSED.value, 1), else_=0)),
            func.sum(case((Event.rating >= 4, 1), else_=0)),
            func.count(Event.rating),
        )
        .outerjoin(flags, flags.c.event_id == Event.id)
        .where(area, Event.created_at >= start, Event.created_at < end)
        .group_by(group)
    )
    for key, n, signed, transferred, handled, closed, satisfied, rated in cohort:
        b = bucket(key)
        b.update(
            new=int(n),
            n_signed=int(signed),
            n_transferred=int(transferred),
            n_handled=int(handled),
            n_closed=int(closed or 0),
            n_satisfied=int(satisfied or 0),
            n_rated=int(rated),
        )

    # 2. Activity in the period: events with at least one such action in [start, end).
    closing = and_(EventAction.action == "verify", EventAction.to_state == State.CLOSED.value)
    kind = case(
        (closing, "closed"),
        *((EventAction.action == action, key) for key, action in ACTION_COUNTS.items()),
        else_=None,
    )
    activity = await db_session.execute(
        select(group, kind, func.count(func.distinct(EventAction.event_id)))
        .join(Event, Event.id == EventAction.event_id)
        .where(area, EventAction.created_at >= start, EventAction.created_at < end, kind.is_not(None))
        .group_by(group, kind)
    )
    for key, metric, count in activity:
        bucket(key)[metric] = int(count)
    # A closing verify is also a verify.
    verified = await db_session.execute(
        select(group, func.count(func.distinct(EventAction.event_id)))
        .join(Event, Event.id == EventAction.event_id)
        .where(area, EventAction.action == "verify", EventAction.created_at >= start, EventAction.created_at < end)
        .group_by(group)
    )
    for key, count in verified:
        bucket(key)["verified"] = int(count)

    # 3. Closures in the period and how many met their deadline.
    on_time = await db_session.execute(
        select(
            group,
            func.count(Event.id),
            func.sum(case((and_(Event.deadline_at.is_not(None), Event.closed_at <= Event.deadline_at), 1), else_=0)),
        )
        .where(area, Event.closed_at >= start, Event.closed_at < end)
        .group_by(group)
    )
    for key, closed, in_time in on_time:
        b = bucket(key)
        b["closed_in_period"], b["closed_on_time"] = int(closed), int(in_time or 0)

    children = []
    if child_level:
        nodes = await db_session.scalars(
            select(Jurisdiction).where(Jurisdiction.parent_code == node.code).order_by(Jurisdiction.code)
        )
        children = [
            StatsRow(code=c.code, name=c.name, level=c.level, values=_finish(raw.get(c.code, {}))) for c in nodes
        ]
    total: dict[str, int] = {}
    for values in raw.values():
        for k, v in values.items():
            total[k] = total.get(k, 0) + v
    return StatsRow(code=node.code, name=node.name, level=node.level, values=_finish(total)), children


def _finish(raw: dict[str, int]) -> dict[str, float | int | None]:
    n = raw.get("new", 0)
    out: dict[str, float | int | None] = {"new": n}
    for key in (*ACTION_COUNTS, "closed"):
        out[key] = raw.get(key, 0)
    out["sign_rate"] = _ratio(raw.get("n_signed", 0), n)
    out["transfer_rate"] = _ratio(raw.get("n_transferred", 0), n)
    out["handle_rate"] = _ratio(raw.get("n_handled", 0), n)
    out["close_rate"] = _ratio(raw.get("n_closed", 0), n)
    out["satisfaction_rate"] = _ratio(raw.get("n_satisfied", 0), raw.get("n_rated", 0))
    out["on_time_rate"] = _ratio(raw.get("closed_on_time", 0), raw.get("closed_in_period", 0))
    return out
