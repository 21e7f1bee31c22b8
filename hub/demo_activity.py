"""A believable day in the demo county: every few seconds one real workflow step by a real account.

Only ``gridhub demo`` runs it (``GRIDHUB_DEMO_ACTIVITY``). Grid workers report what they find on
patrol; town dispatchers accept (or turn away) what waits in 待受理 and assign it to a grid worker of
the place; assignees sign and handle; dispatchers verify. Every step goes through
:func:`dispatch.service.apply_action` / :func:`report_event` exactly as an HTTP request would (same
checks, timeline, outbox and pushes), so the screens move the way they will on a real day. Detection
events come from the vision pipeline on the demo cameras, not from here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch import service
from dispatch.errors import DomainError
from dispatch.models import Event, Jurisdiction, Role, Source, State, User
from dispatch.schemas import (
    AcceptIn,
    AssignIn,
    HandleIn,
    RejectIn,
    ReportIn,
    SignIn,
    VerifyIn,
)
from dispatch.taxonomy import Taxonomy
from dispatch.workflow import Action
from hub.seed import names

log = logging.getLogger("gridhub.demo")

#: (weight, step) — reports a little more often than any one step, so the backlog stays alive.
STEP_WEIGHTS = {"report": 5, "accept": 4, "assign": 3, "sign": 3, "handle": 3, "verify": 3}


class DemoActivity:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        taxonomy: Taxonomy,
        notify: Callable[[], None],
        *,
        interval_s: tuple[float, float] = (2.0, 6.0),
        rnd: random.Random | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.taxonomy = taxonomy
        self.notify = notify
        self.interval_s = interval_s
        self.rnd = rnd or random.Random()
        self.steps: dict[str, int] = dict.fromkeys(STEP_WEIGHTS, 0)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.rnd.uniform(*self.interval_s))
            await self.step()

    async def step(self, kind: str | None = None) -> str | None:
        """One step (of ``kind``, or a weighted random one); returns the kind done, None when nothing fit."""
        kind = kind or self.rnd.choices(list(STEP_WEIGHTS), weights=list(STEP_WEIGHTS.values()))[0]
        async with self.session_factory() as db_session:
            try:
                done = await getattr(self, f"_{kind}")(db_session)
            except DomainError as exc:  # someone else acted first: a real day has races too
                await db_session.rollback()
                log.debug("demo %s refused: %s", kind, exc)
                return None
        if done:
            self.steps[kind] += 1
            self.notify()
            return kind
        return None

    # -- the steps ----------------------------------------------------------------------------------
    async def _report(self, db_session: AsyncSession) -> bool:
        worker = await self._random(db_session, select(User).where(User.role == Role.RESPONDER.value))
        if worker is None:
            return False
        grid = await db_session.get(Jurisdiction, worker.jurisdiction_code)
        if grid is None or grid.level != "grid":
            return False
        cat = self.rnd.choice(list(self.taxonomy.categories.values()))
        road = self.rnd.choice(names.ROAD_PREFIX) + self.rnd.choice(names.ROAD_SUFFIX)
        landmark = self.rnd.choice(names.URBAN_LANDMARKS + names.RURAL_LANDMARKS)
        number = self.rnd.randint(1, 388)
        village = await db_session.get(Jurisdiction, grid.parent_code) if grid.parent_code else None
        village_name = village.name if village else grid.name
        title = self.rnd.choice(names.TITLE_TEMPLATES).format(
            town="", village=village_name, road=road, landmark=landmark, name=cat.name, number=number
        )
        kw = self.rnd.choice(cat.keywords) if cat.keywords else cat.name
        description = (
            f"{self.rnd.choice(names.SOURCE_LEADS['grid_worker'])}:{self.rnd.choice(names.TIME_PHRASES)}在"
            f"{village_name}{road}{number}号{landmark}{self.rnd.choice(names.DETAIL_TEMPLATES).format(kw=kw)},"
            f"{self.rnd.choice(names.IMPACTS[cat.platform])},{self.rnd.choice(names.REQUESTS[cat.platform])}"
        )
        urgency = self.rnd.choices(["normal", "urgent", "critical"], weights=[85, 12, 3])[0]
        lat = lon = None
        if grid.center_lat is not None and grid.center_lon is not None:
            lat = grid.center_lat + self.rnd.uniform(-0.0015, 0.0015)
            lon = grid.center_lon + self.rnd.uniform(-0.0015, 0.0015)
        data = ReportIn(
            title=title[:200], description=description[:5000], category_code=cat.code, urgency=urgency,
            source=Source.GRID_WORKER, grid_code=grid.code, lat=lat, lon=lon,
            address=f"{village_name}{road}{number}号{landmark}"[:200],
        )  # fmt: skip
        await service.report_event(db_session=db_session, taxonomy=self.taxonomy, actor=worker, data=data)
        return True

    async def _accept(self, db_session: AsyncSession) -> bool:
        event = await self._event_in(db_session, State.PENDING)
        actor = event and await self._dispatcher_of(db_session, event)
        if event is None or actor is None:
            return False
        if self.rnd.random() < 0.06:
            body: Any = RejectIn(version=event.version, reason="经核实为重复上报,已并入原事件办理")
            await self._act(db_session, actor, event, Action.REJECT, body)
        else:
            await self._act(db_session, actor, event, Action.ACCEPT, AcceptIn(version=event.version))
        return True

    async def _assign(self, db_session: AsyncSession) -> bool:
        event = await self._event_in(db_session, State.ACCEPTED)
        actor = event and await self._dispatcher_of(db_session, event)
        if event is None or actor is None:
            return False
        worker = await self._random(
            db_session,
            select(User).where(User.role == Role.RESPONDER.value, User.jurisdiction_code == event.grid_code),
        )
        if worker is None:
            return False
        await self._act(db_session, actor, event, Action.ASSIGN, AssignIn(version=event.version, assignee_id=worker.id))
        return True

    async def _sign(self, db_session: AsyncSession) -> bool:
        event = await self._event_in(db_session, State.ASSIGNED)
        actor = event and event.assignee_id and await db_session.get(User, event.assignee_id)
        if not event or not actor:
            return False
        await self._act(db_session, actor, event, Action.SIGN, SignIn(version=event.version))
        return True

    async def _handle(self, db_session: AsyncSession) -> bool:
        event = await self._event_in(db_session, State.IN_PROGRESS)
        actor = event and event.assignee_id and await db_session.get(User, event.assignee_id)
        if not event or not actor:
            return False
        body = HandleIn(version=event.version, result=self.rnd.choice(names.RESULTS))
        await self._act(db_session, actor, event, Action.HANDLE, body)
        return True

    async def _verify(self, db_session: AsyncSession) -> bool:
        event = await self._event_in(db_session, State.PENDING_VERIFY)
        actor = event and await self._dispatcher_of(db_session, event)
        if event is None or actor is None:
            return False
        passed = self.rnd.random() > 0.08
        await self._act(db_session, actor, event, Action.VERIFY, VerifyIn(version=event.version, passed=passed))
        return True

    # -- helpers ------------------------------------------------------------------------------------
    async def _act(self, db_session: AsyncSession, actor: User, event: Event, action: Action, body: Any) -> None:
        await service.apply_action(
            db_session=db_session, taxonomy=self.taxonomy, actor=actor, event_id=event.id, action=action, body=body
        )

    async def _random(self, db_session: AsyncSession, query: Any) -> Any:
        return await db_session.scalar(query.order_by(func.random()).limit(1))

    async def _event_in(self, db_session: AsyncSession, state: State) -> Event | None:
        """A random recent event in ``state`` (today's work, not last year's backlog)."""
        recent = select(Event.id).where(Event.state == state.value).order_by(Event.created_at.desc()).limit(50)
        event_id = await db_session.scalar(
            select(Event.id).where(Event.id.in_(recent)).order_by(func.random()).limit(1)
        )
        return await db_session.get(Event, event_id) if event_id else None

    async def _dispatcher_of(self, db_session: AsyncSession, event: Event) -> User | None:
        return await self._random(
            db_session,
            select(User).where(
                User.role == Role.DISPATCHER.value, User.jurisdiction_code == event.handling_code, User.is_active
            ),
        )
