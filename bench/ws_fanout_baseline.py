"""Baseline of bench/ws_fanout.py: a bare ``websockets.broadcast`` server (no auth, no channels, no offsets).

Every connection goes into a set; on ``publish RATE DURATION`` (a line on stdin) a loop broadcasts one
JSON message with ``sent_ts`` to all of them at that rate, then prints ``{"event": "published", "sent": M}``.
Incoming frames are read and ignored (the load client sends no subscriptions here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from bench_process import raise_nofile, run
from websockets.asyncio.server import broadcast, serve

CLIENTS: set = set()


async def handler(ws) -> None:  # type: ignore[no-untyped-def]
    CLIENTS.add(ws)
    try:
        async for _ in ws:
            pass
    finally:
        CLIENTS.discard(ws)


def sample_event(seq: int, sent_ts: float) -> dict:
    """The ``data`` of one workflow change, shaped like dispatch.service.event_message (same size for both)."""
    return {
        "event_id": 100_000 + seq,
        "action": "assign",
        "state": "assigned",
        "version": 3,
        "title": "占道经营 / street vending blocking the pavement",
        "category_code": "0301",
        "urgency": "normal",
        "county_code": "BENCH",
        "town_code": None,
        "village_code": None,
        "grid_code": None,
        "handling_code": "BENCH",
        "assignee_id": 1,
        "lat": 30.2741,
        "lon": 120.1551,
        "deadline_at": None,
        "actor_id": 1,
        "seq": seq,
        "sent_ts": sent_ts,
    }


async def publish(rate: float, duration: float, grace: float = 5.0) -> tuple[int, int]:
    """Broadcast ``rate`` messages a second for ``duration`` s; stops ``grace`` s late at the latest
    (returns how many were sent and how many were skipped for being late)."""
    start = time.monotonic()
    sent = 0
    count = int(rate * duration)
    for seq in range(count):
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.monotonic() > start + duration + grace:
            return sent, count - seq
        now = time.time()
        message = json.dumps(
            {"channel": "events", "offset": seq + 1, "type": "event.assign", "data": sample_event(seq, now), "ts": now}
        )
        broadcast(CLIENTS, message)
        sent += 1
    return sent, 0


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    async with serve(handler, args.host, args.port, backlog=args.backlog, compression=None, max_queue=16):
        print(json.dumps({"event": "listening", "port": args.port}), flush=True)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().split()
            if not line or line[0] == "quit":
                break
            if line[0] == "publish":
                sent, skipped = await publish(float(line[1]), float(line[2]))
                print(
                    json.dumps({"event": "published", "sent": sent, "skipped": skipped, "clients": len(CLIENTS)}),
                    flush=True,
                )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--backlog", type=int, default=2048)
    p.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True)
    ns = p.parse_args()
    raise_nofile()
    run(main(ns), use_uvloop=ns.uvloop)
