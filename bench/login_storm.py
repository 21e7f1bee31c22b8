"""Login storm: do logins stall the WebSocket fan-out? (issue 6, "Must show" 3)

    python bench/login_storm.py [--clients 1000] [--rate 5] [--duration 20] [--logins 50] [--rounds 1]

Runs bench/ws_fanout.py's gridhub case (a fresh ``gridhub serve`` on SQLite, N responders on ``/ws``, ``--rate``
workflow changes a second to all of them) twice per round, each on a fresh hub: once as it is (the baseline)
and once with ``--logins`` real ``POST /api/v1/auth/login`` of distinct responders (right password, so argon2
runs) spread evenly over the publishing window, each in its own task (``--burst``: all at once, 2 s in).
Prints one JSON object: both cases as ws_fanout reports them, the logins' own latencies, and
``p99_ratio`` = events p99 with logins ÷ without (target ≤ 1.2). Exits 1 on an infrastructure failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import ws_fanout  # noqa: E402
from bench_process import raise_nofile  # noqa: E402

TARGET_RATIO = 1.2


def storm(logins: int, burst: bool) -> ws_fanout.ExtraLoad:
    """The extra load: ``logins`` logins of distinct responders over the publishing window."""

    async def run(port: int, setup: ws_fanout.HubSetup, args: argparse.Namespace) -> dict[str, Any]:
        import httpx

        users = setup.usernames[1 : logins + 1]  # not the probe
        times: list[float] = []
        statuses: dict[str, int] = {}

        async def one(client: httpx.AsyncClient, username: str, delay: float) -> None:
            await asyncio.sleep(delay)
            started = time.perf_counter()
            try:
                r = await client.post("/api/v1/auth/login", json={"username": username, "password": setup.password})
                key = str(r.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            times.append(time.perf_counter() - started)
            statuses[key] = statuses.get(key, 0) + 1

        spread = max(0.0, args.duration - 2.0)
        delays = [2.0] * len(users) if burst else [1.0 + spread * i / max(1, len(users)) for i in range(len(users))]
        limits = httpx.Limits(max_connections=len(users) + 1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=limits) as client:
            await asyncio.gather(*(one(client, u, d) for u, d in zip(users, delays, strict=True)))
        return {
            "logins": len(users),
            "statuses": statuses,
            "mode": "burst" if burst else f"spread over {spread:.0f} s",
            "login_latency_ms": {
                "p50": round((ws_fanout.pct(times, 0.5) or 0) * 1000, 1),
                "p99": round((ws_fanout.pct(times, 0.99) or 0) * 1000, 1),
                "max": round(max(times, default=0) * 1000, 1),
            },
        }

    return run


def p99(case: dict[str, Any]) -> float | None:
    return case.get("events", {}).get("latency_ms", {}).get("p99")


async def amain(args: argparse.Namespace) -> int:
    hard = raise_nofile()
    workroot = Path(tempfile.mkdtemp(prefix="gridhub-login-storm-"))
    n = args.clients[0]
    report: dict[str, Any] = {
        "benchmark": "login_storm",
        "config": {
            "clients": n,
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "logins": args.logins,
            "burst": args.burst,
            "rounds": args.rounds,
            "publish": args.publish,
            "hub": " ".join(ws_fanout.hub_command(args, "PORT")[1:]),
            "hub_env": dict(args.hub_env),
            "nofile_limit": hard,
        },
        "rounds": [],
    }
    status = 0
    try:
        for _ in range(args.rounds):
            base = await ws_fanout.run_case("gridhub", n, args, workroot)
            print(f"# without logins: {json.dumps(ws_fanout.summary(base))}", file=sys.stderr, flush=True)
            loaded = await ws_fanout.run_case("gridhub", n, args, workroot, extra=storm(args.logins, args.burst))
            print(f"# with logins: {json.dumps(ws_fanout.summary(loaded))}", file=sys.stderr, flush=True)
            entry: dict[str, Any] = {"without_logins": base, "with_logins": loaded}
            if "error" in base or "error" in loaded:
                status = 1
            b, w = p99(base), p99(loaded)
            if b and w:
                entry["events_p99_ms"] = {"without_logins": b, "with_logins": w}
                entry["p99_ratio"] = round(w / b, 2)
            report["rounds"].append(entry)
    except (KeyboardInterrupt, asyncio.CancelledError):
        report["interrupted"] = True
        status = 1
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
        ratios = [r["p99_ratio"] for r in report["rounds"] if "p99_ratio" in r]
        logins_ok = all(
            r["with_logins"].get("extra", {}).get("statuses", {}).get("200") == args.logins for r in report["rounds"]
        )
        report["result"] = {
            "p99_ratios": ratios,
            "target_ratio_max": TARGET_RATIO,
            "all_logins_succeeded": logins_ok and bool(report["rounds"]),
            "met": bool(ratios) and max(ratios) <= TARGET_RATIO and logins_ok,
        }
        print(json.dumps(report, indent=2, ensure_ascii=False), flush=True)
    return status


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--logins", type=int, default=50)
    own.add_argument("--rounds", type=int, default=1)
    own.add_argument("--burst", action="store_true", help="all logins at once (2 s into the window)")
    mine, rest = own.parse_known_args(argv)
    defaults = ["--clients", "1000", "--duration", "20", "--servers", "gridhub"]
    args = ws_fanout.parse_args(defaults + rest)
    if len(args.clients) != 1:
        raise SystemExit("login_storm takes one --clients value")
    args.logins, args.rounds, args.burst = mine.logins, mine.rounds, mine.burst
    if args.logins > args.clients[0] - 1:
        raise SystemExit("--logins must be below --clients (each login is a distinct responder)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
