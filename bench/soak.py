"""Soak: does the hub stay the same size however long it runs?

    python bench/soak.py [--events 1000000] [--dispatches 100000] [--rounds 10]

One hub process (this one): the in-process bus, the outbox relay, the pending-dispatch store and the
retention sweep on a temporary SQLite database, with the default bounds (``Settings()``) except a short
retention so that it comes due during the run. In each of ``--rounds`` rounds it publishes
events/rounds county-wide ``events`` messages (~1 KB each, like a workflow change) through the bus, and
writes dispatches/rounds ``dispatch:{user}`` outbox rows for 1,000 responders, relays them (each recorded
in ``realtime_dispatch``) and acknowledges every one through ``PendingStore.ack``, then runs the
retention pass (``Realtime.retain``). The baseline is the process's RSS after the first round (100,000
events, 10,000 dispatches by default), measured in the same run; the result is the RSS after the last
round, their ratio (the target is at most 1.2) and the table sizes. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dispatch.db import utcnow
from dispatch.models import OutboxMessage
from hub.db import create_engine, create_session_factory
from hub.migrations import upgrade
from hub.realtime import Realtime
from hub.realtime.bus import EVENTS, Publication
from hub.realtime.pending import DispatchDelivery
from hub.realtime.relay import OutboxRelay
from hub.settings import Settings

USERS = 1000


def event(i: int) -> dict[str, object]:
    return {
        "event_id": i,
        "version": 3,
        "state": "assigned",
        "action": "assign",
        "title": f"人民路与幸福路口生活垃圾堆放未清运 #{i}",
        "category_code": "010101",
        "urgency": "normal",
        "county_code": "330100",
        "town_code": f"330100{i % 12 + 1:03d}",
        "village_code": f"330100{i % 12 + 1:03d}{i % 9 + 1:03d}",
        "grid_code": f"330100{i % 12 + 1:03d}{i % 9 + 1:03d}{i % 7 + 1:03d}",
        "assignee_id": i % USERS + 1,
        "deadline_at": "2026-11-30T18:00:00+00:00",
        "note": "请于今日内处置，处置后拍照上传。" * 12,
    }


def rss_mb() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / 2**20


async def run(args: argparse.Namespace) -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="gridhub-soak-"))
    settings = Settings(
        data_dir=data_dir,
        database_url="",
        redis_url="",
        secret_key="soak-" + "s" * 40,
        outbox_retention_days=1 / 86400,  # one second: the sweep has work in every round
        dispatch_retention_days=1 / 86400,
        channel_idle_s=1.0,
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings)
    factory = create_session_factory(engine)
    realtime = Realtime(settings, factory, relay=False)  # the benchmark drives the relay itself
    await realtime.start()
    pending, bus = realtime.pending, realtime.bus
    relay = OutboxRelay(bus, factory, pending)
    per_round_events = args.events // args.rounds
    per_round_dispatches = args.dispatches // args.rounds
    rounds: list[dict[str, object]] = []
    started = time.perf_counter()
    n_event = n_dispatch = 0
    for r in range(args.rounds):
        t0 = time.perf_counter()
        for _ in range(0, per_round_events, 1000):
            await bus.publish_many([Publication(EVENTS, "event.assign", event(n_event + i)) for i in range(1000)])
            n_event += 1000
            await asyncio.sleep(0)
        for _ in range(0, per_round_dispatches, 500):
            rows = [
                {
                    "channel": f"dispatch:{(n_dispatch + i) % USERS + 1}",
                    "type": "dispatch.assigned",
                    "data": event(n_dispatch + i),
                    "created_at": utcnow(),
                }
                for i in range(500)
            ]
            async with factory() as session:
                await session.execute(insert(OutboxMessage), rows)
                await session.commit()
            while await relay.relay_once():
                pass
            async with factory() as session:
                owed = (
                    await session.execute(
                        select(DispatchDelivery.user_id, DispatchDelivery.offset).where(
                            DispatchDelivery.acked_at.is_(None)
                        )
                    )
                ).all()
            acked = await asyncio.gather(*(pending.ack(user, offset, retries=0) for user, offset in owed))
            assert all(acked), "an ack found no row"
            n_dispatch += 500
        await asyncio.sleep(1.1)  # past the one-second retention
        deleted = await realtime.retain()
        gc.collect()
        rounds.append(
            {
                "round": r + 1,
                "events": n_event,
                "dispatches": n_dispatch,
                "rss_mb": round(rss_mb(), 1),
                "events_ring": len(bus.rings[EVENTS].messages),
                "events_ring_mb": round(bus.rings[EVENTS].bytes / 2**20, 1),
                "rings": len(bus.rings),
                "deleted": deleted,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(json.dumps(rounds[-1], ensure_ascii=False), file=sys.stderr, flush=True)
    async with factory() as session:
        outbox_rows = await session.scalar(select(func.count()).select_from(OutboxMessage))
        dispatch_rows = await session.scalar(select(func.count()).select_from(DispatchDelivery))
    await realtime.stop()
    await engine.dispose()
    baseline, final = rounds[0]["rss_mb"], rounds[-1]["rss_mb"]
    assert isinstance(baseline, float) and isinstance(final, float)
    return {
        "bench": "soak",
        "events": n_event,
        "acked_dispatches": n_dispatch,
        "baseline": f"RSS after round 1 ({rounds[0]['events']} events, {rounds[0]['dispatches']} dispatches)",
        "rss_baseline_mb": baseline,
        "rss_final_mb": final,
        "rss_ratio": round(final / baseline, 3),
        "target_ratio": 1.2,
        "ok": final / baseline <= 1.2,
        "outbox_rows_left": outbox_rows,
        "realtime_dispatch_rows_left": dispatch_rows,
        "settings": {
            "stream_maxlen": settings.stream_maxlen,
            "stream_max_bytes": settings.stream_max_bytes,
        },
        "seconds": round(time.perf_counter() - started, 1),
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dispatches", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
