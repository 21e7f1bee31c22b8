"""运行概览大屏: the aggregates behind the big screen's tiles (DESIGN section 5), for one jurisdiction.

Every number comes from the definitions of 事件处理统计 (:mod:`dispatch.stats`, DESIGN section 4) or
from rows gridhub holds; nothing here is invented. Tiles whose data gridhub does not hold yet say so
(``available: False`` with a note) instead of showing a number.

The cheap tiles (today, warnings, map markers, per-child open counts) are computed on every call; the
costly ones (30-day trend, stage efficiency, resolution levels, hot words) are the caller's to cache.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import hotwords
from dispatch.hotwords import STOPWORDS
from dispatch.models import LEVEL_ORDER, Event, EventAction, Jurisdiction, Level, Role, State, User
from dispatch.stats import event_stats

OPEN_STATES = tuple(s.value for s in State if s not in (State.CLOSED, State.REJECTED))

#: The stages of 事件效能 (time per stage), each from one action to the next.
STAGES: tuple[tuple[str, str, str, str], ...] = (
    ("accept", "受理", "report", "accept"),
    ("assign", "交办", "accept", "assign"),
    ("sign", "签收", "assign", "sign"),
    ("handle", "处置", "sign", "handle"),
    ("verify", "核查", "handle", "verify"),
)

STAGE_ACTIONS = sorted({s[2] for s in STAGES} | {s[3] for s in STAGES})


@dataclass(frozen=True)
class SafetyWeights:
    """平安指数 weights (config/screens.yaml): the index is the weighted mean of four rates × 100."""

    close_rate: float = 0.3
    on_time_rate: float = 0.3
    satisfaction_rate: float = 0.2
    not_overdue_rate: float = 0.2

    @property
    def explanation(self) -> str:
        return (
            f"平安指数 = 100 × (新增办结率×{self.close_rate} + 按时办结率×{self.on_time_rate} + "
            f"新增满意率×{self.satisfaction_rate} + 在办未超期率×{self.not_overdue_rate}) ÷ 权重之和,"
            "统计期为本月;缺数据的指标不计入"
        )


def _area(node: Jurisdiction) -> ColumnElement[bool]:
    return getattr(Event, f"{node.level}_code") == node.code


def _child_level(node: Jurisdiction) -> str | None:
    index = LEVEL_ORDER.index(Level(node.level))
    return LEVEL_ORDER[index + 1].value if index + 1 < len(LEVEL_ORDER) else None


def _warning_expr(now: datetime) -> Any:
    return case(
        (and_(Event.deadline_at.is_not(None), Event.deadline_at <= now), "red"),
        (and_(Event.warn_at.is_not(None), Event.warn_at <= now), "yellow"),
        else_="none",
    )


def day_start(now: datetime, zone: ZoneInfo, days_back: int = 0) -> datetime:
    """Midnight of the site's local day ``days_back`` days before ``now``, in UTC."""
    local = now.astimezone(zone).date() - timedelta(days=days_back)
    return datetime.combine(local, time.min, zone).astimezone(UTC)


async def live_tiles(
    *, db_session: AsyncSession, node: Jurisdiction, now: datetime, zone: ZoneInfo, online_user_ids: Iterable[int]
) -> dict[str, Any]:
    """The tiles that move with every event: today, warnings, per-child open counts, markers, forces."""
    area = _area(node)
    today, _children = await event_stats(db_session=db_session, node=node, start=day_start(now, zone), end=now)
    warning = _warning_expr(now)

    pending = {"total": 0, "yellow": 0, "red": 0}
    open_by_state: dict[str, int] = {}
    rows = await db_session.execute(
        select(Event.state, warning, func.count(Event.id))
        .where(area, Event.state.in_(OPEN_STATES))
        .group_by(Event.state, warning)
    )
    open_warnings = {"none": 0, "yellow": 0, "red": 0}
    for state, level, count in rows:
        open_by_state[state] = open_by_state.get(state, 0) + int(count)
        open_warnings[level] += int(count)
        if state == State.PENDING.value:
            pending["total"] += int(count)
            if level != "none":
                pending[level] += int(count)

    children: list[dict[str, Any]] = []
    child_level = _child_level(node)
    if child_level:
        column = getattr(Event, f"{child_level}_code")
        counts: dict[str, dict[str, int]] = {}
        for code, level, count in await db_session.execute(
            select(column, warning, func.count(Event.id))
            .where(area, Event.state.in_(OPEN_STATES))
            .group_by(column, warning)
        ):
            counts.setdefault(code, {"none": 0, "yellow": 0, "red": 0})[level] += int(count)
        nodes = await db_session.scalars(
            select(Jurisdiction).where(Jurisdiction.parent_code == node.code).order_by(Jurisdiction.code)
        )
        today_by_child = {r.code: r.values for r in _children}
        for child in nodes:
            c = counts.get(child.code, {"none": 0, "yellow": 0, "red": 0})
            children.append(
                {
                    "code": child.code,
                    "name": child.name,
                    "level": child.level,
                    "center": [child.center_lat, child.center_lon] if child.center_lat is not None else None,
                    "open": sum(c.values()),
                    "yellow": c["yellow"],
                    "red": c["red"],
                    "today_new": int(today_by_child.get(child.code, {}).get("new") or 0),
                }
            )

    markers = [
        {
            "id": e_id,
            "title": title,
            "state": state,
            "urgency": urgency,
            "warning": level,
            "lat": lat,
            "lon": lon,
            "source": source,
        }
        for e_id, title, state, urgency, level, lat, lon, source in await db_session.execute(
            select(Event.id, Event.title, Event.state, Event.urgency, warning, Event.lat, Event.lon, Event.source)
            .where(area, Event.state.in_(OPEN_STATES), Event.lat.is_not(None))
            .order_by(Event.created_at.desc())
            .limit(300)
        )
    ]

    return {
        "today": {
            "new": today.values.get("new", 0),
            "handled": today.values.get("handled", 0),
            "closed": today.values.get("closed", 0),
        },
        "pending": pending,
        "open": {"total": sum(open_by_state.values()), "by_state": open_by_state, "by_warning": open_warnings},
        "children": children,
        "markers": markers,
        "forces": await _forces(db_session=db_session, node=node, online_user_ids=online_user_ids),
    }


async def _forces(*, db_session: AsyncSession, node: Jurisdiction, online_user_ids: Iterable[int]) -> dict[str, Any]:
    """网格力量在线: responders of the subtree with a live connection now, and their last positions."""
    online = set(online_user_ids)
    responders = (
        await db_session.execute(
            select(User.id, User.display_name, User.lat, User.lon)
            .join(Jurisdiction, Jurisdiction.code == User.jurisdiction_code)
            .where(User.role == Role.RESPONDER.value, User.is_active.is_(True), Jurisdiction.path.startswith(node.path))
        )
    ).all()
    people = [
        {"id": uid, "name": name, "lat": lat, "lon": lon}
        for uid, name, lat, lon in responders
        if uid in online and lat is not None
    ]
    return {"total": len(responders), "online": sum(1 for r in responders if r[0] in online), "positions": people}


async def trend(*, db_session: AsyncSession, node: Jurisdiction, now: datetime, zone: ZoneInfo, days: int = 30) -> list:
    """New and closed events per local day over the last ``days`` days, oldest first (one scan each)."""
    starts = [day_start(now, zone, back) for back in range(days - 1, -1, -1)]
    bounds = [*starts, day_start(now, zone) + timedelta(days=1)]

    def buckets(column: Any) -> list[Any]:
        return [func.sum(case((and_(column >= lo, column < hi), 1), else_=0)) for lo, hi in itertools.pairwise(bounds)]

    area = _area(node)
    new = (
        await db_session.execute(select(*buckets(Event.created_at)).where(area, Event.created_at >= bounds[0]))
    ).one()
    closed = (
        await db_session.execute(select(*buckets(Event.closed_at)).where(area, Event.closed_at >= bounds[0]))
    ).one()
    return [
        {"day": start.astimezone(zone).date().isoformat(), "new": int(n or 0), "closed": int(c or 0)}
        for start, n, c in zip(starts, new, closed, strict=True)
    ]


async def efficiency(*, db_session: AsyncSession, node: Jurisdiction, since: datetime) -> list[dict[str, Any]]:
    """事件效能: mean hours from one stage's action to the next, over events reported since ``since``."""
    first = (
        select(EventAction.event_id, EventAction.action, func.min(EventAction.created_at).label("at"))
        .join(Event, Event.id == EventAction.event_id)
        .where(_area(node), Event.created_at >= since, EventAction.action.in_(STAGE_ACTIONS))
        .group_by(EventAction.event_id, EventAction.action)
    )
    at: dict[int, dict[str, datetime]] = {}
    for event_id, action, when in await db_session.execute(first):
        at.setdefault(event_id, {})[action] = when if when.tzinfo else when.replace(tzinfo=UTC)
    out = []
    for key, name, start_action, end_action in STAGES:
        spans = [
            (times[end_action] - times[start_action]).total_seconds()
            for times in at.values()
            if start_action in times and end_action in times and times[end_action] >= times[start_action]
        ]
        out.append(
            {
                "stage": key,
                "name": name,
                "events": len(spans),
                "mean_hours": round(sum(spans) / len(spans) / 3600, 2) if spans else None,
            }
        )
    return out


async def resolution_levels(*, db_session: AsyncSession, node: Jurisdiction, since: datetime) -> dict[str, Any]:
    """事件分级: where events closed since ``since`` were resolved (网格/村社/镇街/县区), counts and shares."""
    rows = await db_session.execute(
        select(Event.resolution_level, func.count(Event.id))
        .where(_area(node), Event.closed_at >= since, Event.resolution_level.is_not(None))
        .group_by(Event.resolution_level)
    )
    counts = {level.value: 0 for level in reversed(LEVEL_ORDER)}
    for level, count in rows:
        if level in counts:
            counts[level] = int(count)
    total = sum(counts.values())
    return {
        "total": total,
        "levels": [
            {"level": k, "count": v, "share": round(v / total, 4) if total else None} for k, v in counts.items()
        ],
    }


async def month_metrics(
    *,
    db_session: AsyncSession,
    node: Jurisdiction,
    now: datetime,
    zone: ZoneInfo,
    weights: SafetyWeights,
    open_total: int,
    open_red: int,
) -> dict[str, Any]:
    """This month's 事件处理统计 for the node and its children, and the 平安指数 built from them."""
    local = now.astimezone(zone)
    start = datetime.combine(local.date().replace(day=1), time.min, zone).astimezone(UTC)
    total, rows = await event_stats(db_session=db_session, node=node, start=start, end=now)
    rates = {
        "close_rate": total.values.get("close_rate"),
        "on_time_rate": total.values.get("on_time_rate"),
        "satisfaction_rate": total.values.get("satisfaction_rate"),
        "not_overdue_rate": round(1 - open_red / open_total, 4) if open_total else None,
    }
    used = {k: v for k, v in rates.items() if v is not None}
    weight_sum = sum(getattr(weights, k) for k in used)
    index = round(100 * sum(v * getattr(weights, k) for k, v in used.items()) / weight_sum, 1) if weight_sum else None
    return {
        "month": {"total": total.values, "rows": [{"code": r.code, "name": r.name, **r.values} for r in rows]},
        "safety_index": {"value": index, "inputs": rates, "explanation": weights.explanation},
    }


_WORD = re.compile(r"^[\u4e00-\u9fff]{2,}$")


def load_word_segmenter() -> None:
    """Load the hot words' segmenter now (jieba's dictionary: about a second), so that the first big screen does
    not wait for it."""
    hotwords.segmenter()


@functools.lru_cache(maxsize=16384)
def _words(text: str) -> tuple[str, ...]:
    """The words of one event's text that count as hot words. Cached: the corpus is mostly the same texts from
    one computation to the next, and segmenting 2,000 texts again holds a core (and the GIL) for ~0.4 s."""
    tokens = hotwords.segmenter().lcut(text)
    return tuple(
        w
        for w, after in zip(tokens, [*tokens[1:], ""], strict=True)
        # a road's name (金家 of 金家路, 人民 of 人民路) says where, not what
        if _WORD.match(w) and w not in STOPWORDS and after not in hotwords.ROAD_MARKS
    )


def hot_words(texts: Iterable[str], top: int = 30, *, places: Iterable[str] = ()) -> list[dict[str, Any]]:
    """热词: the most frequent Chinese words (two characters or more, none of ``hotwords.STOPWORDS``: the filler of
    governance reports and function words, nor of ``places``: the names of where it happened, which the map and
    the tiles show already) in ``texts`` (jieba, with ``hotwords.DOMAIN_WORDS``)."""
    counter: Counter[str] = Counter()
    for text in texts:
        counter.update(_words(text))
    for place in places:
        counter.pop(place, None)
    return [{"word": w, "count": c} for w, c in counter.most_common(top)]


async def place_words(*, db_session: AsyncSession, node: Jurisdiction) -> set[str]:
    """The names of the node's subtree and of its ancestors as reports write them: 临溪街道 and its stem 临溪,
    姚岭村 and 姚岭 (a village's reports name its town too)."""
    ancestors = [code for code in node.path.strip("/").split("/") if code]
    names = await db_session.scalars(
        select(Jurisdiction.name).where(or_(Jurisdiction.path.startswith(node.path), Jurisdiction.code.in_(ancestors)))
    )
    return {word for name in names for word in hotwords.place_stems(name)}


async def recent_texts(
    *, db_session: AsyncSession, node: Jurisdiction, since: datetime, limit: int = 2000
) -> list[str]:
    """Title and description of the latest ``limit`` events reported since ``since``: the hot words' corpus."""
    rows = await db_session.execute(
        select(Event.title, Event.description)
        .where(_area(node), Event.created_at >= since)
        .order_by(Event.created_at.desc())
        .limit(limit)
    )
    return [f"{title} {description or ''}" for title, description in rows]
