"""The generated county (hub/seed): tree and boundaries, event locations, Zhejiang resolution shares,
timelines that follow the workflow table, determinism, and the COPY path on PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import dispatch.models  # noqa: F401 - registers the tables
import stream.models  # noqa: F401
from dispatch.db import Base
from dispatch.models import Event, EventAction, Jurisdiction, State, User
from dispatch.passwords import verify_password
from dispatch.taxonomy import load_taxonomy
from dispatch.workflow import Action, Outcome, find_step
from hub.db import keep_sqlite_statistics
from hub.seed import DEMO_LOGINS, SeedError, SeedReport, seed_county
from hub.seed.county import build_county, point_in_polygon
from hub.seed.events import RESOLUTION_SHARES, EventGenerator
from hub.settings import PROJECT_ROOT
from hub.tasks import stop as stop_tasks
from stream.models import Camera

NOW = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
TAXONOMY = load_taxonomy(PROJECT_ROOT / "config")
EVENTS = 3000
PASSWORD = "Seeded2026pw"


async def _sqlite_engine(path: Path) -> AsyncEngine:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return engine


@pytest.fixture(scope="module")
async def seeded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[AsyncEngine, SeedReport]]:
    engine = await _sqlite_engine(tmp_path_factory.mktemp("seed") / "seed.db")
    report = await seed_county(engine, events=EVENTS, cameras=120, now=NOW, passwords={"town01_dispatcher": PASSWORD})
    yield engine, report
    await engine.dispose()


async def _rows(engine: AsyncEngine, query: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def test_tree_levels_codes_and_boundaries(seeded: tuple[AsyncEngine, SeedReport]) -> None:
    engine, report = seeded
    nodes = {r.code: r for r in await _rows(engine, select(Jurisdiction.__table__))}
    levels = Counter(r.level for r in nodes.values())
    assert levels["county"] == 1 and levels["town"] == 10
    assert 120 <= levels["village"] <= 200 and 450 <= levels["grid"] <= 800
    assert report.jurisdictions_per_level == dict(levels)
    (root,) = [r for r in nodes.values() if r.parent_code is None]
    assert root.path == f"/{root.code}/"
    for node in nodes.values():
        assert point_in_polygon(node.center_lat, node.center_lon, node.boundary), node.code
        if node.parent_code is None:
            continue
        parent = nodes[node.parent_code]
        assert node.path == f"{parent.path}{node.code}/"
        assert node.code.startswith(parent.code) and len(node.code) == len(parent.code) + 3
        assert point_in_polygon(node.center_lat, node.center_lon, parent.boundary), node.code
        # Rectangles nest: every corner of the child lies inside the parent.
        for lon, lat in node.boundary["coordinates"][0]:
            assert point_in_polygon(lat, lon, parent.boundary), node.code


async def test_accounts_and_cameras(seeded: tuple[AsyncEngine, SeedReport]) -> None:
    engine, _ = seeded
    nodes = {r.code: r for r in await _rows(engine, select(Jurisdiction.__table__))}
    users = {u.username: u for u in await _rows(engine, select(User.__table__))}
    roles = Counter(u.role for u in users.values())
    assert 150 <= sum(1 for u in users.values() if u.username.startswith("grid_worker_")) <= 260
    assert roles["dispatcher"] >= 11 and roles["leader"] >= 1 and roles["department"] >= 10 and roles["admin"] == 1
    for login in DEMO_LOGINS:
        assert users[login.username].role == login.role
    # No seeded account shares a known password: only the one asked for has one, every other is unusable.
    assert verify_password(users["town01_dispatcher"].password_hash, PASSWORD)
    others = [u for u in users.values() if u.username != "town01_dispatcher"]
    assert all(u.password_hash.startswith("!") for u in others)
    assert not any(verify_password(u.password_hash, PASSWORD) for u in others)
    assert len({u.password_hash for u in others}) == len(others)
    for user in users.values():
        if user.username.startswith("grid_worker_"):
            assert nodes[user.jurisdiction_code].level == "grid"
            assert point_in_polygon(user.lat, user.lon, nodes[user.jurisdiction_code].boundary)
    cameras = await _rows(engine, select(Camera.__table__))
    assert len(cameras) == 120
    for cam in cameras:
        assert point_in_polygon(cam.lat, cam.lon, nodes[cam.grid_code].boundary)


async def test_event_locations_and_resolution_shares(seeded: tuple[AsyncEngine, SeedReport]) -> None:
    engine, report = seeded
    nodes = {r.code: r for r in await _rows(engine, select(Jurisdiction.__table__))}
    users = {u.id: u for u in await _rows(engine, select(User.__table__))}
    events = await _rows(engine, select(Event.__table__))
    assert len(events) == EVENTS == report.counts["events"]
    closed = [e for e in events if e.state == State.CLOSED.value]
    assert len(closed) / len(events) > 0.93
    assert 0.005 < sum(e.state == State.REJECTED.value for e in events) / len(events) < 0.03
    shares = Counter(e.resolution_level for e in closed)
    for level, expected in RESOLUTION_SHARES.items():
        assert abs(shares[level] / len(closed) - expected) <= 0.03, (level, shares)
    for e in events:
        grid = nodes[e.grid_code]
        codes = grid.path.strip("/").split("/")
        assert [e.county_code, e.town_code, e.village_code, e.grid_code] == codes
        assert point_in_polygon(e.lat, e.lon, grid.boundary), e.id
        assert e.handling_code in codes[:2]  # the town's command room, or the county's
        assert NOW - timedelta(days=367) < _utc(e.created_at) <= NOW
        if e.state == State.CLOSED.value:
            # As dispatch.service records it: the level of the assignee who resolved it.
            assert e.resolution_level == nodes[users[e.assignee_id].jurisdiction_code].level
            assert e.closed_at is not None and e.rating in (None, 1, 2, 3, 4, 5)
        else:
            assert e.resolution_level is None
        if e.accepted_at is not None:
            allowed = _utc(e.deadline_at) - _utc(e.accepted_at)
            assert abs((_utc(e.warn_at) - _utc(e.accepted_at)) - allowed * 0.8) < timedelta(seconds=1)
        elif e.state == State.PENDING.value:
            # 受理时限: the acceptance limit of the taxonomy runs from the report.
            allowed = timedelta(hours=TAXONOMY.categories[e.category_code].accept_hours_for(e.urgency))
            assert abs(_utc(e.deadline_at) - _utc(e.created_at) - allowed) < timedelta(seconds=1), e.id
            assert abs(_utc(e.warn_at) - _utc(e.created_at) - allowed * 0.8) < timedelta(seconds=1), e.id
        else:
            assert e.state == State.REJECTED.value and e.deadline_at is None


async def test_timelines_follow_the_workflow_table(seeded: tuple[AsyncEngine, SeedReport]) -> None:
    engine, report = seeded
    nodes = {r.code: r for r in await _rows(engine, select(Jurisdiction.__table__))}
    events = {e.id: e for e in await _rows(engine, select(Event.__table__))}
    actions = await _rows(engine, select(EventAction.__table__).order_by(EventAction.event_id, EventAction.id))
    assert len(actions) == report.counts["event_actions"]
    timeline: dict[int, list[Any]] = defaultdict(list)
    for a in actions:
        timeline[a.event_id].append(a)
    assert set(timeline) == set(events)
    refused: Counter[tuple[str, str]] = Counter()
    levels = {u.id: nodes[u.jurisdiction_code].level for u in await _rows(engine, select(User.__table__))}
    for event_id, rows in timeline.items():
        event = events[event_id]
        # One version per action: the report is 1, the event's version is its last row's.
        assert [a.version for a in rows] == list(range(1, len(rows) + 1)) and event.version == len(rows)
        for a in rows:
            if a.action == "transfer":  # 流转 keeps to the level of the assignee it leaves
                assert levels[a.data["from_assignee_id"]] == levels[a.data["assignee_id"]], event_id
        first, *rest = rows
        assert (first.action, first.from_state, first.to_state) == ("report", None, "pending")
        assert _utc(first.created_at) == _utc(event.created_at)
        state, when, escalations = "pending", first.created_at, 0
        for a in rest:
            assert a.from_state == state and a.created_at >= when, (event_id, a.action)
            outcome = _outcome(a.action, a.data)
            step = find_step(State(a.from_state), Action(a.action), outcome)
            if step is None:
                refused[(a.action, a.from_state)] += 1
                continue
            assert a.to_state == (step.target.value if step.target else a.from_state)
            state, when = a.to_state, a.created_at
            escalations += a.action == "escalate"
        assert state == event.state and _utc(when) == _utc(event.updated_at)
        # Escalation (上报) moves the event from the town's command room to the county's.
        assert event.handling_code == (event.county_code if escalations else event.town_code)
        assert escalations <= 1 and (escalations == 0 or event.resolution_level in (None, "county"))
        assert event.urge_count == sum(a.action == "urge" for a in rows)
    assert not refused


def test_deterministic_for_the_same_seed() -> None:
    def generate(rng_seed: int) -> tuple[Any, ...]:
        county = build_county(random.Random(rng_seed), cameras=30)
        taxonomy = load_taxonomy(PROJECT_ROOT / "config")
        gen = EventGenerator(county, taxonomy, events=400, rng_seed=rng_seed, now=NOW, json_text=True, batch_size=150)
        batches = list(gen.batches())
        nodes = [n.row() for n in county.nodes]
        users = [u.row("x", NOW) for u in county.users]
        return nodes, users, county.cameras, [(b.events, b.actions, b.extensions) for b in batches]

    assert generate(7) == generate(7)
    assert generate(7)[3] != generate(8)[3]


async def test_refuses_a_second_county(seeded: tuple[AsyncEngine, SeedReport]) -> None:
    engine, _ = seeded
    with pytest.raises(SeedError, match="replace=True"):
        await seed_county(engine, events=10, cameras=5, now=NOW)


async def test_replace_deletes_the_previous_county(tmp_path: Path) -> None:
    engine = await _sqlite_engine(tmp_path / "replace.db")
    try:
        await seed_county(engine, events=60, cameras=5, now=NOW)
        report = await seed_county(engine, events=40, cameras=5, now=NOW, rng_seed=8, replace=True)
        for table, expected in report.counts.items():
            ((count,),) = await _rows(engine, text(f"SELECT count(*) FROM {table}"))
            assert count == expected, table
        assert report.counts["events"] == 40
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_copy_path() -> None:
    from tests.conftest import create_pg_database, drop_pg_database

    url = await create_pg_database()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        report = await seed_county(engine, events=2000, cameras=100, now=NOW, batch_size=700)
        async with engine.connect() as conn:
            for table, expected in report.counts.items():
                assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == expected
            # Sequences continue after the explicit ids; the dropped indexes are back.
            next_id = (await conn.execute(text("SELECT nextval(pg_get_serial_sequence('events', 'id'))"))).scalar()
            assert next_id == report.counts["events"] + 1
            indexes = set(
                (await conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'events'"))).scalars()
            )
            assert {"ix_events_town_state_created", "ix_events_state_created"} <= indexes
            (data,) = (await conn.execute(text("SELECT data FROM event_actions WHERE action = 'assign' LIMIT 1"))).one()
            assert isinstance(data, dict) and "assignee_id" in data
    finally:
        await engine.dispose()
        await drop_pg_database(url)


def _outcome(action: str, data: dict[str, Any]) -> Outcome:
    if action == "verify":
        return Outcome.PASS if data["passed"] else Outcome.FAIL
    if action == "approve_extension":
        return Outcome.APPROVE if data["approved"] else Outcome.REFUSE
    return Outcome.DONE


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_a_seeded_sqlite_file_has_planner_statistics(seeded: tuple[AsyncEngine, SeedReport]) -> None:
    """Without sqlite_stat1 the big screen's stage query reads every action of the county through the action
    index; the seed leaves statistics behind so that the first screens are fast."""
    engine, _ = seeded
    rows = await _rows(engine, text("SELECT tbl, idx FROM sqlite_stat1"))
    assert {"events", "event_actions"} <= {tbl for tbl, _ in rows}
    assert ("event_actions", "ix_event_actions_event") in {(tbl, idx) for tbl, idx in rows}


async def test_the_hub_analyzes_a_sqlite_file_that_has_no_statistics(tmp_path: Path) -> None:
    engine = await _sqlite_engine(tmp_path / "used.db")
    try:
        await seed_county(engine, events=50, cameras=5, now=NOW)
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE sqlite_stat1"))  # as a database filled by use would be
        keeper = asyncio.get_running_loop().create_task(keep_sqlite_statistics(engine, every_s=3600))
        try:
            for _ in range(100):
                names = await _rows(engine, text("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'"))
                if names:
                    break
                await asyncio.sleep(0.05)
            assert names, "no statistics after 5 s"
            assert await _rows(engine, text("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'events'"))
        finally:
            await stop_tasks(keeper)
    finally:
        await engine.dispose()
