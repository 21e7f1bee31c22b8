"""Benchmark of the dispatcher's two hottest reads on a seeded county: the 待受理 list and an event's detail.

    python bench/event_queries.py [--events 1000000] [--database-url postgresql+asyncpg://postgres@127.0.0.1/postgres]

Creates a fresh PostgreSQL database (``gridhub_bench``, dropped and re-created; ``--reuse`` keeps a
seeded one), applies the migrations, seeds N events with ``hub.seed.seed_county``, then measures for a
town dispatcher and for the county dispatcher:

- ``pending``: the 待受理 list (state pending in the user's area, newest first, 20 a page, a few pages),
- ``pending_category``: the same with a category filter,
- ``detail``: one event with its timeline,
- and, for context (not a target), ``area_closed``: 辖区已办结, whose total counts most of the table,

each (a) raw, as SQLAlchemy Core straight on the engine (the same queries the API runs, list + count),
and (b) through the HTTP API served by a uvicorn subprocess on 127.0.0.1. Prints one JSON object:
seed time, row counts, count/p50/p95/p99/max in ms per measurement, the API/raw ratio, and the
``EXPLAIN ANALYZE`` plan of each raw query. ``--events 20000`` is the quick check (under a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import Select, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dispatch.queries import COUNT_CAP

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dispatch.models  # noqa: E402
import stream.models  # noqa: E402, F401
from dispatch.db import Base  # noqa: E402
from dispatch.passwords import hash_password  # noqa: E402
from hub.seed import seed_county  # noqa: E402

EVENTS = dispatch.models.Event.__table__
ACTIONS = dispatch.models.EventAction.__table__
USERS = dispatch.models.User.__table__
TARGET_P95_MS = 50.0
DISPATCHERS = ("town01_dispatcher", "county_dispatcher")
#: Seeded accounts carry no known password: the benchmark sets this one on the accounts it logs in as.
BENCH_PASSWORD = "Bench2026queries"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def stats(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms)
    return {
        "count": len(samples_ms),
        "p50": round(float(np.percentile(a, 50)), 2),
        "p95": round(float(np.percentile(a, 95)), 2),
        "p99": round(float(np.percentile(a, 99)), 2),
        "max": round(float(a.max()), 2),
    }


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        await fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


# -- database --------------------------------------------------------------------------------------------


async def recreate_database(admin_url: str, name: str) -> str:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def create_schema(url: str, engine: AsyncEngine) -> str:
    """Alembic where hub/migrations exists (what production runs), else ``create_all``."""
    try:
        from hub.migrations import upgrade
    except ImportError:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        return "create_all"
    await asyncio.to_thread(upgrade, url)
    return "alembic"


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    out = {}
    async with engine.connect() as conn:
        for table in ("jurisdictions", "users", "cameras", "events", "event_actions"):
            out[table] = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        rows = await conn.execute(text("SELECT state, count(*) FROM events GROUP BY state ORDER BY 2 DESC"))
        out["events_by_state"] = dict(rows.all())  # type: ignore[assignment]
    return out


# -- the queries, raw --------------------------------------------------------------------------------------


def pending_query(
    level: str, code: str, category: str | None, page: int, state: str = "pending"
) -> tuple[Select[Any], Select[Any]]:
    """What ``GET /api/v1/events?view=pending`` runs: one page newest first, and the view's total."""
    where = [EVENTS.c[f"{level}_code"] == code, EVENTS.c.state == state]
    if category:
        where.append(EVENTS.c.category_code == category)
    page_q = (
        select(EVENTS)
        .where(*where)
        .order_by(EVENTS.c.created_at.desc(), EVENTS.c.id.desc())
        .offset((page - 1) * 20)
        .limit(20)
    )
    # The API counts at most COUNT_CAP + 1 rows (dispatch.queries): a capped count, like it.
    capped = select(EVENTS.c.id).where(*where).limit(COUNT_CAP + 1).subquery()
    count_q = select(func.count()).select_from(capped)
    return page_q, count_q


def detail_queries(event_id: int) -> tuple[Select[Any], Select[Any]]:
    event_q = select(EVENTS).where(EVENTS.c.id == event_id)
    timeline_q = (
        select(ACTIONS, USERS.c.display_name)
        .outerjoin(USERS, USERS.c.id == ACTIONS.c.actor_id)
        .where(ACTIONS.c.event_id == event_id)
        .order_by(ACTIONS.c.id)
    )
    return event_q, timeline_q


async def explain(engine: AsyncEngine, query: Select[Any]) -> list[str]:
    compiled = query.compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))
        return [r[0] for r in rows]


# -- the API, as a subprocess -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_api(url: str, data_dir: str) -> tuple[subprocess.Popen[bytes], str] | None:
    try:
        import hub.app  # noqa: F401
    except ImportError:
        return None
    port = free_port()
    env = {**os.environ, "GRIDHUB_DATABASE_URL": url, "GRIDHUB_DATA_DIR": data_dir, "GRIDHUB_REDIS_URL": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hub.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"API exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return proc, base
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    proc.terminate()
    raise RuntimeError("API did not answer /healthz in 30 s")


# -- the benchmark ----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"events_requested": args.events, "target_p95_ms": TARGET_P95_MS}
    name = args.db_name
    url = args.database_url.rsplit("/", 1)[0] + f"/{name}"
    engine: AsyncEngine | None = None
    if args.reuse:
        try:
            engine = create_async_engine(url)
            counts = await row_counts(engine)
            if counts["events"] != args.events:
                raise RuntimeError("different size")
            log(f"reusing {name} with {counts['events']} events")
            result["seed"] = "reused"
        except Exception:
            if engine is not None:
                await engine.dispose()
            engine = None
    if engine is None:
        url = await recreate_database(args.database_url, name)
        engine = create_async_engine(url, pool_size=5)
        result["schema"] = await create_schema(url, engine)
        log(f"database {name} created ({result['schema']}); seeding {args.events} events")
        report = await seed_county(engine, events=args.events, rng_seed=args.seed, progress=log)
        result["seed"] = report.as_dict()
    result["rows"] = await row_counts(engine)
    async with engine.begin() as conn:  # also on a reused database, whatever its accounts' passwords were
        await conn.execute(
            update(USERS).where(USERS.c.username.in_(DISPATCHERS)).values(password_hash=hash_password(BENCH_PASSWORD))
        )

    rnd = random.Random(args.seed)
    async with engine.connect() as conn:
        users = {
            r.username: r
            for r in (
                await conn.execute(
                    select(USERS.c.username, USERS.c.jurisdiction_code, dispatch.models.Jurisdiction.level)
                    .join(dispatch.models.Jurisdiction)
                    .where(USERS.c.username.in_(DISPATCHERS))
                )
            ).all()
        }
        area: dict[str, dict[str, Any]] = {}
        for username in DISPATCHERS:
            u = users[username]
            col = EVENTS.c[f"{u.level}_code"]
            pending = (
                await conn.execute(select(func.count()).where(col == u.jurisdiction_code, EVENTS.c.state == "pending"))
            ).scalar_one()
            top_category = (
                await conn.execute(
                    select(EVENTS.c.category_code)
                    .where(col == u.jurisdiction_code, EVENTS.c.state == "pending")
                    .group_by(EVENTS.c.category_code)
                    .order_by(func.count().desc())
                    .limit(1)
                )
            ).scalar()
            max_id = (await conn.execute(select(func.max(EVENTS.c.id)).where(col == u.jurisdiction_code))).scalar()
            # Detail targets: events of the area spread over the whole id range (cold and hot pages).
            ids = list(
                (
                    await conn.execute(
                        select(EVENTS.c.id)
                        .where(
                            col == u.jurisdiction_code, EVENTS.c.id.in_([rnd.randint(1, max_id) for _ in range(5000)])
                        )
                        .limit(args.repeat)
                    )
                ).scalars()
            )
            pages = max(1, min(5, -(-pending // 20)))
            area[username] = {
                "level": u.level, "code": u.jurisdiction_code, "pending": pending, "pages": pages,
                "category": top_category or "010101", "ids": ids or [1],
            }  # fmt: skip
    result["areas"] = {k: {x: v[x] for x in ("level", "code", "pending", "pages", "category")} for k, v in area.items()}

    measurements: dict[str, dict[str, Any]] = {}
    plans: dict[str, list[str]] = {}
    for a in area.values():
        who = "town" if a["level"] == "town" else "county"
        cases: dict[str, Callable[[int], Any]] = {
            "pending": lambda i, a=a: pending_query(a["level"], a["code"], None, 1 + i % a["pages"]),
            "pending_category": lambda i, a=a: pending_query(a["level"], a["code"], a["category"], 1),
            "detail": lambda i, a=a: detail_queries(a["ids"][i % len(a["ids"])]),
            # Not a target of this bench, but the big view beside it: 辖区已办结 counts most of the table.
            "area_closed": lambda i, a=a: pending_query(a["level"], a["code"], None, 1 + i % 5, state="closed"),
        }
        for case, make in cases.items():
            counter = iter(range(10**9))

            async def raw_once(make: Callable[[int], Any] = make, counter: Any = counter) -> None:
                q1, q2 = make(next(counter))
                async with engine.connect() as conn:
                    (await conn.execute(q1)).all()
                    (await conn.execute(q2)).all()

            samples = await timed(raw_once, args.repeat)
            measurements[f"{who}_{case}"] = {"raw": stats(samples)}
            for q, label in zip(make(0), ("main", "second"), strict=True):
                plans[f"{who}_{case}_{label}"] = await explain(engine, q)
    await engine.dispose()

    api = None if args.no_api else await start_api(url, tempfile.mkdtemp(prefix="gridhub-bench-"))
    if api is None:
        result["api"] = "skipped" if args.no_api else "hub.app not importable"
    else:
        proc, base = api
        result["api"] = f"uvicorn subprocess at {base}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                for username, a in area.items():
                    who = "town" if a["level"] == "town" else "county"
                    r = await client.post("/api/v1/auth/login", json={"username": username, "password": BENCH_PASSWORD})
                    r.raise_for_status()
                    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                    counter = iter(range(10**9))

                    async def get(
                        path: str, params: dict[str, Any] | None = None, headers: dict[str, str] = headers
                    ) -> None:
                        r = await client.get(path, params=params, headers=headers)
                        if r.status_code != 200:
                            raise RuntimeError(f"{path} {params}: {r.status_code} {r.text[:300]}")

                    api_cases: dict[str, Callable[[], Awaitable[None]]] = {
                        "pending": lambda a=a, c=counter: get(
                            "/api/v1/events", {"view": "pending", "page": 1 + next(c) % a["pages"], "page_size": 20}
                        ),
                        "pending_category": lambda a=a: get(
                            "/api/v1/events",
                            {"view": "pending", "page": 1, "page_size": 20, "category_code": a["category"]},
                        ),
                        "detail": lambda a=a, c=counter: get(f"/api/v1/events/{a['ids'][next(c) % len(a['ids'])]}"),
                        "area_closed": lambda c=counter: get(
                            "/api/v1/events", {"view": "area_closed", "page": 1 + next(c) % 5, "page_size": 20}
                        ),
                    }
                    for case, fn in api_cases.items():
                        m = measurements[f"{who}_{case}"]
                        m["api"] = stats(await timed(fn, args.repeat))
                        m["ratio_api_raw_p50"] = round(m["api"]["p50"] / max(m["raw"]["p50"], 1e-6), 2)
                        m["ratio_api_raw_p95"] = round(m["api"]["p95"] / max(m["raw"]["p95"], 1e-6), 2)
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    result["measurements"] = measurements
    targets = [v for k, v in measurements.items() if not k.endswith("area_closed")]
    worst = max(v[p]["p95"] for v in targets for p in ("raw", "api") if p in v)
    result["worst_p95_ms"] = worst
    result["meets_target"] = worst < TARGET_P95_MS
    result["plans"] = plans
    if not args.keep:
        admin = create_async_engine(args.database_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GRIDHUB_BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL whose server the bench may create databases on",
    )
    parser.add_argument("--db-name", default="gridhub_bench")
    parser.add_argument("--repeat", type=int, default=200, help="timed requests per measurement")
    parser.add_argument("--seed", type=int, default=2018)
    parser.add_argument("--reuse", action="store_true", help="reuse gridhub_bench if it holds N events")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (for --reuse)")
    parser.add_argument("--no-api", action="store_true", help="measure the raw queries only")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
