"""The async database engine and session factory (SQLite file by default, PostgreSQL when configured)."""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from hub.settings import Settings

log = logging.getLogger(__name__)

#: How often the embedded database's planner statistics are renewed (PostgreSQL's autovacuum does its own).
SQLITE_ANALYZE_EVERY_S = 24 * 3600.0


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.resolved_database_url
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_async_engine(
        url, pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size, pool_pre_ping=True
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def analyze_sqlite(engine: AsyncEngine) -> None:
    """Renew SQLite's planner statistics (``sqlite_stat1``). SQLite keeps none until asked: without them it reads
    the big screen's 30-day stage query through the action index, all 150,000 actions of a seeded county, instead
    of the month's events (284 → 39 ms at 20,000 events). A full ANALYZE: ~0.15 s per 150,000 actions."""
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


async def keep_sqlite_statistics(engine: AsyncEngine, every_s: float = SQLITE_ANALYZE_EVERY_S) -> None:
    """At start when the file has no statistics yet (a database filled by use rather than by ``gridhub seed``),
    then every ``every_s``: the data a planner sees grows from nothing to years of events."""
    async with engine.connect() as conn:
        has_stats = await conn.scalar(text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"))
    if has_stats:
        await asyncio.sleep(every_s)
    while True:
        started = time.perf_counter()
        await analyze_sqlite(engine)
        log.info("sqlite statistics renewed in %.2f s", time.perf_counter() - started)
        await asyncio.sleep(every_s)
