"""``seed_county``: writes the generated county and its event history into the database.

PostgreSQL gets the bulk path: rows are generated in a worker thread while the previous batch streams in
through ``COPY`` (asyncpg ``copy_records_to_table``), all in one transaction, then the id sequences are
moved past the explicit ids and the tables vacuumed and analysed. SQLite gets batched ``executemany``
Core inserts. No outbox rows are written: history is not news.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dispatch.models import Event, EventAction, ExtensionRequest, Jurisdiction, OutboxMessage, User
from dispatch.passwords import check_complexity, hash_password, unusable_hash
from dispatch.taxonomy import load_taxonomy
from hub.db import analyze_sqlite
from hub.seed.county import County, build_county
from hub.seed.events import (
    ACTION_COLUMNS,
    ACTION_JSON_COLUMNS,
    EVENT_COLUMNS,
    EVENT_JSON_COLUMNS,
    EXTENSION_COLUMNS,
    RESOLUTION_SHARES,
    Batch,
    EventGenerator,
)
from stream.models import Camera


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    role: str
    jurisdiction: str
    purpose: str


#: The accounts ``gridhub demo`` prints, each with its own password generated per install (hub/seed/demo.py);
#: usernames are stable across seeds.
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "admin", "苕溪区 330110", "jurisdictions, users, cameras, rules"),
    DemoLogin("county_dispatcher", "dispatcher", "苕溪区 330110", "区指挥中心坐席: the whole county's queue"),
    DemoLogin("town01_dispatcher", "dispatcher", "城东街道 330110001", "镇街指挥室坐席: one town's queue"),
    DemoLogin("town06_dispatcher", "dispatcher", "塘栖镇 330110101", "a rural town's command room"),
    DemoLogin("leader", "leader", "苕溪区 330110", "big screen and drill-down"),
    DemoLogin("town01_leader", "leader", "城东街道 330110001", "a town leader's view"),
    DemoLogin("grid_worker_001", "responder", "城东街道, a grid", "mobile page: sign, handle, report"),
    DemoLogin("village_head_001", "responder", "城东街道, a 村社", "村社网格长: village-level handling"),
    DemoLogin("town01_zhifa", "department", "城东街道 330110001", "综合行政执法中队: department inbox"),
    DemoLogin("county_shichang", "department", "苕溪区 330110", "区市场监督管理局: county department"),
)

_SEEDED_TABLES: tuple[Table, ...] = tuple(
    m.__table__  # type: ignore[misc]
    for m in (EventAction, ExtensionRequest, OutboxMessage, Event, Camera, User, Jurisdiction)
)
_SEQUENCED = ("events", "event_actions", "extension_requests", "users", "cameras")


class SeedError(RuntimeError):
    """The database is not in a state the seed can write to (e.g. a county is already there)."""


@dataclass(slots=True)
class SeedReport:
    counts: dict[str, int] = field(default_factory=dict)
    jurisdictions_per_level: dict[str, int] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    #: Share of closed events resolved at each level (grid, village, town, county).
    resolution_shares: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0
    events_elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "jurisdictions_per_level": self.jurisdictions_per_level,
            "states": self.states,
            "resolution_shares": self.resolution_shares,
            "elapsed_s": round(self.elapsed_s, 2),
            "events_elapsed_s": round(self.events_elapsed_s, 2),
        }


async def seed_county(
    engine: AsyncEngine,
    *,
    events: int,
    cameras: int = 2800,
    rng_seed: int = 2018,
    passwords: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    replace: bool = False,
    now: datetime | None = None,
    config_dir: Path | None = None,
    batch_size: int = 25_000,
) -> SeedReport:
    """Generate a county (jurisdictions, users, cameras) and ``events`` events over the year to ``now``.

    No account carries a known password: those named in ``passwords`` (username → password; the demo's
    generated ones, a benchmark's) get theirs, every other one an unusable hash until an administrator
    resets it (``gridhub user reset NAME``). The same ``rng_seed`` (and ``now``) gives the same data.
    Tables must exist. Refuses a database that
    already holds jurisdictions unless ``replace`` (which first deletes events, users, cameras and
    jurisdictions, and on PostgreSQL whatever references them).
    """
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    passwords = dict(passwords or {})
    for password in passwords.values():
        check_complexity(password)
    if config_dir is None:
        from hub.settings import get_settings

        config_dir = get_settings().config_dir
    taxonomy = load_taxonomy(config_dir)
    now = now or datetime.now(UTC).replace(second=0, microsecond=0)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    county = build_county(random.Random(rng_seed), cameras=cameras)
    unknown = set(passwords) - {user.username for user in county.users}
    if unknown:
        raise ValueError(f"no seeded account is named {', '.join(sorted(unknown))}")
    # argon2 is slow on purpose: only the few named accounts get a real hash.
    password_hashes = {name: await asyncio.to_thread(hash_password, pw) for name, pw in passwords.items()}
    is_pg = engine.dialect.name == "postgresql"
    report = SeedReport()

    async with engine.begin() as conn:
        existing = (await conn.execute(select(func.count()).select_from(Jurisdiction.__table__))).scalar_one()
        if existing:
            if not replace:
                raise SeedError(
                    f"the database already holds {existing} jurisdictions; seed an empty database "
                    "or replace it (replace=True; `gridhub seed --replace`), which deletes the existing data first"
                )
            say("deleting the existing county")
            await _clear(conn, is_pg)
        await _write_county(conn, county, password_hashes, now)
        say(f"county: {len(county.nodes)} jurisdictions, {len(county.users)} users, {len(county.cameras)} cameras")
        generator = EventGenerator(
            county, taxonomy, events=events, rng_seed=rng_seed, now=now, json_text=is_pg, batch_size=batch_size
        )
        t0 = time.perf_counter()
        stats = _Stats()
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of short tuples: the cyclic collector only slows the load down
        try:
            if is_pg:
                indexes = await _bulk_mode(conn)
                await _copy_events(conn, generator, stats, say, t0)
                say(f"rebuilding {len(indexes)} indexes")
                for definition in indexes:
                    await conn.execute(text(definition))
            else:
                await _insert_events(conn, generator, stats, say, t0)
        finally:
            if gc_was_enabled:
                gc.enable()
        report.events_elapsed_s = time.perf_counter() - t0
        if is_pg:
            for table in _SEQUENCED:
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                    )
                )
    if is_pg:
        # VACUUM, not only ANALYZE: it sets the visibility map, without which PostgreSQL cannot answer the
        # views' counts from an index alone (a town's 辖区已办结 total: 650 ms seq scan → 57 ms index-only
        # at 1M events), and it sets the hint bits now rather than during the first reads.
        say("vacuum analyze")
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("jurisdictions", "users", "cameras", "events", "event_actions", "extension_requests"):
                await conn.execute(text(f"VACUUM (ANALYZE) {table}"))
    else:
        say("analyze")
        await analyze_sqlite(engine)

    levels = Counter(node.level.value for node in county.nodes)
    report.jurisdictions_per_level = dict(levels)
    report.counts = {
        "jurisdictions": len(county.nodes),
        "users": len(county.users),
        "cameras": len(county.cameras),
        "events": stats.events,
        "event_actions": stats.actions,
        "extension_requests": stats.extensions,
    }
    report.states = dict(stats.states)
    closed = sum(stats.resolution.values()) or 1
    report.resolution_shares = {level: round(stats.resolution[level] / closed, 4) for level in RESOLUTION_SHARES}
    report.elapsed_s = time.perf_counter() - started
    say(f"seeded {stats.events} events, {stats.actions} actions in {report.elapsed_s:.1f} s")
    return report


@dataclass(slots=True)
class _Stats:
    events: int = 0
    actions: int = 0
    extensions: int = 0
    states: Counter[str] = field(default_factory=Counter)
    resolution: Counter[str] = field(default_factory=Counter)

    def add(self, batch: Batch) -> None:
        self.events += len(batch.events)
        self.actions += len(batch.actions)
        self.extensions += len(batch.extensions)
        state_i = EVENT_COLUMNS.index("state")
        level_i = EVENT_COLUMNS.index("resolution_level")
        for row in batch.events:
            self.states[row[state_i]] += 1
            if row[level_i] is not None:
                self.resolution[row[level_i]] += 1


async def _clear(conn: AsyncConnection, is_pg: bool) -> None:
    if is_pg:
        names = ", ".join(t.name for t in _SEEDED_TABLES)
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))
        return
    for table in _SEEDED_TABLES:
        if table is Jurisdiction.__table__:
            # Children before parents: the tree's foreign key restricts deletes row by row.
            for level in ("grid", "village", "town", "county"):
                await conn.execute(delete(table).where(table.c.level == level))
            await conn.execute(delete(table))
        else:
            await conn.execute(delete(table))


async def _write_county(
    conn: AsyncConnection, county: County, password_hashes: Mapping[str, str], now: datetime
) -> None:
    await conn.execute(insert(Jurisdiction.__table__), [node.row() for node in county.nodes])
    await conn.execute(
        insert(User.__table__),
        [user.row(password_hashes.get(user.username) or unusable_hash(), now) for user in county.users],
    )
    if county.cameras:
        await conn.execute(insert(Camera.__table__), [{**cam, "created_at": now} for cam in county.cameras])


async def _bulk_mode(conn: AsyncConnection) -> list[str]:
    """Make the COPY cheap: foreign-key triggers off where allowed, secondary indexes dropped.

    Returns the ``CREATE INDEX`` statements to run once the rows are in. Everything happens inside the
    seed's transaction, so a failure rolls the indexes back too. The rows are consistent by construction
    (explicit ids, codes taken from the tree), which is what makes skipping the per-row checks safe.
    """
    try:
        async with conn.begin_nested():
            # Superuser only; lasts to the end of the transaction. Without it COPY still works, slower.
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
    except Exception:
        pass
    await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    rows = (
        await conn.execute(
            text(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                "WHERE i.schemaname = current_schema() "
                "AND i.tablename IN ('events', 'event_actions', 'extension_requests') "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
            )
        )
    ).all()
    for name, _definition in rows:
        await conn.execute(text(f'DROP INDEX "{name}"'))
    return [definition for _name, definition in rows]


def _progress(say: Callable[[str], None], stats: _Stats, total: int, t0: float) -> None:
    elapsed = time.perf_counter() - t0
    say(f"events: {stats.events}/{total} ({stats.actions} actions) in {elapsed:.1f} s")


async def _copy_events(
    conn: AsyncConnection, generator: EventGenerator, stats: _Stats, say: Callable[[str], None], t0: float
) -> None:
    """Generate batch k+1 in a thread while batch k streams into PostgreSQL with COPY."""
    raw = await conn.get_raw_connection()
    pg = raw.driver_connection
    assert pg is not None

    async def copy(batch: Batch) -> None:
        await pg.copy_records_to_table("events", records=batch.events, columns=list(EVENT_COLUMNS))
        await pg.copy_records_to_table("event_actions", records=batch.actions, columns=list(ACTION_COLUMNS))
        if batch.extensions:
            await pg.copy_records_to_table(
                "extension_requests", records=batch.extensions, columns=list(EXTENSION_COLUMNS)
            )

    ranges = [(s, min(generator.n, s + generator.batch_size)) for s in range(0, generator.n, generator.batch_size)]
    pending: asyncio.Task[None] | None = None
    for start, stop in ranges:
        batch = await asyncio.to_thread(generator.batch, start, stop)
        if pending is not None:
            await pending
            _progress(say, stats, generator.n, t0)
        stats.add(batch)
        pending = asyncio.create_task(copy(batch))
    if pending is not None:
        await pending
        _progress(say, stats, generator.n, t0)


async def _insert_events(
    conn: AsyncConnection, generator: EventGenerator, stats: _Stats, say: Callable[[str], None], t0: float
) -> None:
    events_table: Table = Event.__table__  # type: ignore[assignment]
    actions_table: Table = EventAction.__table__  # type: ignore[assignment]
    extensions_table: Table = ExtensionRequest.__table__  # type: ignore[assignment]
    for batch in generator.batches():
        await conn.execute(insert(events_table), _dicts(EVENT_COLUMNS, batch.events))
        await conn.execute(insert(actions_table), _dicts(ACTION_COLUMNS, batch.actions))
        if batch.extensions:
            await conn.execute(insert(extensions_table), _dicts(EXTENSION_COLUMNS, batch.extensions))
        stats.add(batch)
        _progress(say, stats, generator.n, t0)


def _dicts(columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


# JSON columns are handed over as text on PostgreSQL (asyncpg's jsonb codec takes str).
assert set(EVENT_JSON_COLUMNS) <= set(EVENT_COLUMNS) and set(ACTION_JSON_COLUMNS) <= set(ACTION_COLUMNS)
