"""The demo's day: real reports and workflow steps by real accounts, through the domain service."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dispatch.models import Event, EventAction, State
from dispatch.workflow import Action, Outcome, find_step
from tests.county import insert_county


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[object, object]]:
    from dispatch.taxonomy import load_taxonomy
    from hub.db import create_engine, create_session_factory
    from hub.demo_activity import DemoActivity
    from hub.migrations import upgrade
    from hub.settings import Settings

    settings = Settings(data_dir=tmp_path, database_url="", secret_key="demo-secret-" + "d" * 32, redis_url="")
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    async with factory() as session:
        await insert_county(session)
    notified: list[int] = []
    activity = DemoActivity(
        factory, load_taxonomy(settings.config_dir), lambda: notified.append(1), rnd=random.Random(7)
    )
    yield activity, factory
    await engine.dispose()


async def test_a_day_moves_events_through_the_whole_loop(demo: tuple) -> None:
    activity, factory = demo
    for _ in range(3):
        assert await activity.step("report") == "report"
    for kind in ("accept", "assign", "sign", "handle", "verify") * 6:
        await activity.step(kind)
    async with factory() as session:
        states = dict((await session.execute(select(Event.state, func.count()).group_by(Event.state))).all())
        assert sum(states.values()) == 3
        assert states.get("closed", 0) + states.get("rejected", 0) >= 1, states
        events = (await session.scalars(select(Event))).all()
        for event in events:
            assert event.title and "{" not in event.title and event.description.startswith("网格员")
            assert event.lat is not None and event.source == "grid_worker"
        # Every timeline is a legal path through the workflow table (the steps went through the service).
        rows = (await session.scalars(select(EventAction).order_by(EventAction.event_id, EventAction.id))).all()
        for row in rows:
            if row.from_state is not None:
                steps = [find_step(State(row.from_state), Action(row.action), o) for o in Outcome]
                assert any(steps), (row.from_state, row.action)
    assert sum(activity.steps.values()) >= 8


async def test_random_steps_never_fail_when_nothing_fits(demo: tuple) -> None:
    activity, _ = demo
    assert await activity.step("verify") is None  # nothing waits for verification yet
    results = [await activity.step() for _ in range(40)]
    assert any(results)
