"""The big screen's live aggregates: computes a jurisdiction's overview and publishes it on ``screen:``.

A big screen subscribes to ``screen:overview.{code}``. For every such channel with a subscriber on this
hub, the feed recomputes the overview when the data changes and publishes it (latest wins), so 50 open
screens cost one computation per change, not 50 queries.

"The data changed" is seen by watching the outbox's highest id (every workflow change writes an outbox
row in its own transaction, whichever hub or worker wrote it) every ``poll_s`` (an indexed
``max(id)``); a change is published at once, and changes made meanwhile are coalesced into the next
publication. Slow-moving tiles (30-day trend, stage efficiency, resolution levels, hot words) are
cached for ``slow_ttl_s``; warnings age with the clock, so every screen is also refreshed every
``refresh_s`` even when nothing happens. With no screen open on a hub, its feed reads nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch import overview
from dispatch.db import utcnow
from dispatch.models import Jurisdiction, OutboxMessage
from hub import tasks
from hub.realtime.channels import SCREEN_OVERVIEW_PREFIX

CHANNEL_PREFIX = SCREEN_OVERVIEW_PREFIX  # the only screen: channels /ws accepts (hub/realtime/channels.py)
#: How long a hub's report that a phone is connected stays true without being renewed (every publication).
PRESENCE_TTL_S = 45.0
#: Overview documents kept for HTTP answers (the jurisdictions asked most recently).
DOCUMENTS_KEPT = 64


async def outbox_head(db_session: AsyncSession) -> int:
    """The highest outbox id: it moves with every workflow change, whichever hub or worker made it."""
    return int(await db_session.scalar(select(func.max(OutboxMessage.id))) or 0)


async def jurisdiction_header(node: Jurisdiction, db_session: AsyncSession) -> dict[str, Any]:
    """The jurisdiction the document is about, with what the screen's title, breadcrumbs and map need: its
    centre and its ancestors from the root (``path``, itself last), so that the page needs no jurisdiction tree."""
    codes = [c for c in node.path.strip("/").split("/") if c]
    rows = await db_session.execute(
        select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.level).where(Jurisdiction.code.in_(codes))
    )
    named = {code: {"code": code, "name": name, "level": level} for code, name, level in rows}
    return {
        "code": node.code,
        "name": node.name,
        "level": node.level,
        "center": None if node.center_lat is None else [node.center_lat, node.center_lon],
        "path": [named[c] for c in codes if c in named],
    }


def load_safety_weights(config_dir: Path) -> overview.SafetyWeights:
    """平安指数 weights from ``config/screens.yaml`` (``safety_index:``), defaults where absent."""
    path = config_dir / "screens.yaml"
    if not path.exists():
        return overview.SafetyWeights()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    weights = data.get("safety_index") or {}
    known = asdict(overview.SafetyWeights())
    unknown = set(weights) - set(known)
    if unknown:
        raise ValueError(f"{path}: unknown safety_index weights {sorted(unknown)}")
    return overview.SafetyWeights(**{k: float(v) for k, v in weights.items()})


class OverviewFeed:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        realtime: Any,
        *,
        zone: str,
        weights: overview.SafetyWeights,
        poll_s: float = 0.1,
        refresh_s: float = 15.0,
        slow_ttl_s: float = 60.0,
    ) -> None:
        self.session_factory = session_factory
        self.realtime = realtime
        self.zone = ZoneInfo(zone)
        self.weights = weights
        self.poll_s = poll_s
        self.refresh_s = refresh_s
        self.slow_ttl_s = slow_ttl_s
        self._slow: dict[str, tuple[float, dict[str, Any]]] = {}
        #: code → (monotonic time, (outbox head, phones online), document): the last document computed for the
        #: jurisdictions asked most recently (at most ``DOCUMENTS_KEPT``)
        self._documents: dict[str, tuple[float, tuple[int, frozenset[int]], dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None
        self._written: set[int] = set()
        self.published = 0

    # computing ------------------------------------------------------------------------------------
    def local_responders(self) -> set[int]:
        """Responders with a live WebSocket on this hub (the phones of 网格力量)."""
        return {s.claims.user_id for s in self.realtime.fanout.sessions if s.claims.role == "responder"}

    async def online_responders(self) -> set[int]:
        """Responders with a live WebSocket on any hub: with Redis, every hub keeps its own in a sorted set
        (score: when the entry expires) and reads everyone's; embedded, this hub's are all there are."""
        local = self.local_responders()
        redis = getattr(self.realtime.bus, "redis", None)
        if redis is None:
            return local
        key = f"{getattr(self.realtime.bus, 'prefix', 'gridhub:')}presence:responders"
        now = time.time()
        pipe = redis.pipeline(transaction=False)
        gone = self._written - local  # phones that left this hub (another hub holding one re-adds it)
        if gone:
            pipe.zrem(key, *(str(uid) for uid in gone))
        if local:
            pipe.zadd(key, {str(uid): now + PRESENCE_TTL_S for uid in local})
        self._written = local
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zrangebyscore(key, now, "+inf")
        try:
            members = (await pipe.execute())[-1]
        except Exception:  # Redis away: this hub's own phones are still known
            return local
        return local | {int(m) for m in members}

    async def document(
        self, node: Jurisdiction, db_session: AsyncSession, *, max_age_s: float | None = None
    ) -> dict[str, Any]:
        """The overview as ``GET /screens/overview`` answers it: the last computed document while nothing has
        changed since (same outbox head and phones online, younger than ``max_age_s``, default ``refresh_s``),
        else a new one. A wall of screens reloading at once (a hub restarted, a network back) costs one
        computation, not one per screen."""
        head = await outbox_head(db_session)
        online = frozenset(await self.online_responders())
        cached = self._documents.get(node.code)
        max_age_s = self.refresh_s if max_age_s is None else max_age_s
        if cached is not None and cached[1] == (head, online) and time.monotonic() - cached[0] < max_age_s:
            return cached[2]
        return await self.compute(node, db_session, head=head, online=online)

    async def compute(
        self,
        node: Jurisdiction,
        db_session: AsyncSession,
        *,
        head: int | None = None,
        online: frozenset[int] | None = None,
    ) -> dict[str, Any]:
        """The whole overview of ``node``: live tiles now, slow tiles from a cache of ``slow_ttl_s``. Given the
        outbox ``head`` it was computed at, the document is kept for :meth:`document`."""
        now = utcnow()
        online = frozenset(await self.online_responders()) if online is None else online
        live = await overview.live_tiles(
            db_session=db_session, node=node, now=now, zone=self.zone, online_user_ids=online
        )
        cached = self._slow.get(node.code)
        if cached is None or time.monotonic() - cached[0] > self.slow_ttl_s:
            since = now - timedelta(days=30)
            slow = {
                "trend": await overview.trend(db_session=db_session, node=node, now=now, zone=self.zone),
                "efficiency": await overview.efficiency(db_session=db_session, node=node, since=since),
                "levels": await overview.resolution_levels(
                    db_session=db_session, node=node, since=now - timedelta(days=365)
                ),
                "hot_words": await asyncio.to_thread(
                    overview.hot_words,
                    await overview.recent_texts(db_session=db_session, node=node, since=now - timedelta(days=7)),
                    places=await overview.place_words(db_session=db_session, node=node),
                ),
            }
            cached = (time.monotonic(), slow)
            self._slow[node.code] = cached
        month = await overview.month_metrics(
            db_session=db_session,
            node=node,
            now=now,
            zone=self.zone,
            weights=self.weights,
            open_total=live["open"]["total"],
            open_red=live["open"]["by_warning"]["red"],
        )
        slow = dict(cached[1])
        # Today's bar of the trend is live, so that it never disagrees with the "today" tile.
        slow["trend"] = [*slow["trend"][:-1], {**slow["trend"][-1], **{k: live["today"][k] for k in ("new", "closed")}}]
        document = {
            "jurisdiction": await jurisdiction_header(node, db_session),
            "generated_at": now.isoformat(),
            "timezone": self.zone.key,  # the zone of "today" and of the screen's clock
            "utc_offset_s": int((now.astimezone(self.zone).utcoffset() or timedelta()).total_seconds()),
            **live,
            **month,
            **slow,
            "visits": {
                "available": False,
                "note": "本月走访:巡查走访记录尚未接入 gridhub,暂无数据",
            },
            "base_data": {
                "available": False,
                "note": "基础数据(人口、房屋):尚未接入 gridhub,暂无数据",
            },
        }
        if head is not None:  # computed as of this outbox head and these phones: reusable until either moves
            self._documents.pop(node.code, None)
            self._documents[node.code] = (time.monotonic(), (head, online), document)
            while len(self._documents) > DOCUMENTS_KEPT:
                del self._documents[next(iter(self._documents))]
        return document

    # publishing -----------------------------------------------------------------------------------
    def watched_codes(self) -> list[str]:
        channels = self.realtime.fanout.channels
        return [name.removeprefix(CHANNEL_PREFIX) for name in channels if name.startswith(CHANNEL_PREFIX)]

    async def publish_all(self, codes: list[str] | None = None) -> None:
        """Publish the overview of every watched jurisdiction (or of ``codes``): the document already computed
        while nothing has changed since (see :meth:`document`; a screen that just opened loaded it over HTTP a
        moment ago), else a new one."""
        codes = self.watched_codes() if codes is None else codes
        if not codes:
            return
        async with self.session_factory() as db_session:
            for code in codes:
                node = await db_session.get(Jurisdiction, code)
                if node is None:
                    continue
                data = await self.document(node, db_session)
                await self.realtime.publish(CHANNEL_PREFIX + code, "overview", data)
                self.published += 1

    async def _outbox_head(self) -> int:
        async with self.session_factory() as db_session:
            return await outbox_head(db_session)

    async def run(self) -> None:
        """Watch the outbox head while screens are open; publish on change and every ``refresh_s``."""
        head = await self._outbox_head()
        watched: set[str] = set()
        last = presence = time.monotonic()
        while True:
            await asyncio.sleep(self.poll_s)
            if time.monotonic() - presence >= PRESENCE_TTL_S / 3:  # keep this hub's phones known to the others
                await self.online_responders()
                presence = time.monotonic()
            codes = set(self.watched_codes())
            joined = sorted(codes - watched)
            watched = codes
            if not codes:
                continue  # no screen open on this hub: nothing to watch (a GET computes what it needs)
            now_head = await self._outbox_head()
            if now_head != head or time.monotonic() - last >= self.refresh_s:
                # Leading edge: publish at once; changes made while computing are seen by the next poll,
                # so a burst costs one computation per poll period, not one per change.
                head = now_head
                await self.publish_all()
                last = time.monotonic()
            elif joined:  # a screen of a jurisdiction nobody watched here: the current document, to it alone
                await self.publish_all(joined)

    async def start(self) -> None:
        self._task = tasks.supervise("overview-feed", self.run)
        # off the loop, at start: the first big screen opened then does not wait for the dictionary
        self._warm = asyncio.get_running_loop().create_task(asyncio.to_thread(overview.load_word_segmenter))

    async def stop(self) -> None:
        await tasks.stop(self._task, self._warm)
