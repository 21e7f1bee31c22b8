"""WebSocket fan-out benchmark of the gridhub realtime hub against a bare ``websockets.broadcast`` server.

    python bench/ws_fanout.py [--clients 1000,5000,10000] [--rate 5] [--duration 30] [--engine inproc|redis]

For each N, and for each server (gridhub, then the baseline), on loopback only:

1. start a fresh server process: gridhub is ``uvicorn --factory hub.app:create_app`` (one process) on a
   temporary SQLite data dir (or ``--database-url``), with N responders of one county inserted directly
   into its database beforehand and their tokens minted with ``hub.security.issue_token``; the baseline is
   bench/ws_fanout_baseline.py;
2. start the load client (bench/ws_fanout_client.py, ``--procs`` processes) and connect the N clients;
   on gridhub each authenticates with its token and subscribes to ``events`` and its own ``dispatch:{id}``;
3. publish ``--rate`` workflow changes a second for ``--duration`` seconds: on gridhub through the real
   pipeline (an ``events`` row in the outbox table, which the hub's relay publishes), plus one
   ``dispatch:{probe}`` row a second for a single responder; on the baseline by its broadcast loop;
4. wait ``--drain`` seconds, collect the clients' counts and latency histograms, stop everything.

Prints one JSON object. Exits 1 on an infrastructure failure (a server that does not start, clients that
do not connect, a phase past its timeout), still printing what it has; every child process is killed on
the way out, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from bench_process import raise_nofile  # noqa: E402
from ws_fanout_baseline import sample_event  # noqa: E402

BUCKET_MS = 0.1
SRC_IPS = ",".join(f"127.0.0.{i}" for i in range(2, 10))
PROBE_COUNTY = "BENCH"
#: A publisher that falls behind stops this long after the planned end (what it skipped is reported).
LATE_GRACE_S = 5.0
REQUEST_TIMEOUT_S = 10.0
SECRET = "bench-ws-fanout-secret-key-not-for-production-0123456789"
BENCH_PASSWORD = "bench-password-1"


class InfraError(Exception):
    """The benchmark could not run (as opposed to a server missing a target)."""


# ------------------------------------------------------------------------------------------ processes


class Children:
    """Every process this benchmark starts, killed (with its process group) on the way out."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[tuple[str, asyncio.subprocess.Process]] = []

    async def start(self, name: str, *cmd: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        log = open(self.logdir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,
            limit=1 << 26,
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def log_tail(self, name: str, chars: int = 1500) -> str:
        path = self.logdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    async def kill_all(self) -> None:
        for _, proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for _, proc in self.procs:
            with contextlib.suppress(asyncio.TimeoutError, ProcessLookupError):
                await asyncio.wait_for(proc.wait(), 10)
        self.procs.clear()


def die_with_parent() -> None:
    """In the child: SIGKILL when the benchmark dies, even by SIGKILL (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


async def read_event(proc: asyncio.subprocess.Process, event: str, timeout: float, name: str) -> dict[str, Any]:
    """The next stdout line of ``proc`` that is a JSON object with this ``event``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise InfraError(f"{name}: no {event!r} within {timeout:.0f} s")
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), left)  # type: ignore[union-attr]
        except TimeoutError:
            raise InfraError(f"{name}: no {event!r} within {timeout:.0f} s") from None
        if not line:
            raise InfraError(f"{name}: exited ({await proc.wait()}) before {event!r}")
        with contextlib.suppress(ValueError):
            obj = json.loads(line)
            if isinstance(obj, dict) and obj.get("event") == event:
                return obj


def send_line(proc: asyncio.subprocess.Process, line: str) -> None:
    if proc.returncode is None and proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(line.encode() + b"\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_http(port: int, path: str, timeout: float, proc: asyncio.subprocess.Process, name: str) -> None:
    """Until ``GET path`` answers 200 (the server is up and ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise InfraError(f"{name}: exited with {proc.returncode} while starting")
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            status = await asyncio.wait_for(reader.readline(), 5)
            writer.close()
            if b" 200 " in status:
                return
        except (TimeoutError, OSError):
            pass
        await asyncio.sleep(0.2)
    raise InfraError(f"{name}: {path} not ready within {timeout:.0f} s")


def cpu_seconds(pids: list[int], part: str = "") -> float:
    """User + system CPU seconds of these processes (or only ``part``: "user" or "system")."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += getattr(t, part) if part else t.user + t.system
    return total


def rss(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


# ------------------------------------------------------------------------------------------ statistics


def quantiles_ms(hist: Counter[int], qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> dict[str, float | None]:
    """Percentiles (ms) of a 0.1 ms histogram."""
    total = sum(hist.values())
    out: dict[str, float | None] = {f"p{round(q * 100)}": None for q in qs}
    if not total:
        return out
    keys = sorted(hist)
    for q in qs:
        rank = q * total
        seen = 0
        for k in keys:
            seen += hist[k]
            if seen >= rank:
                out[f"p{round(q * 100)}"] = round((k + 0.5) * BUCKET_MS, 1)
                break
    return out


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# ------------------------------------------------------------------------------------------ gridhub side


class HubSetup:
    """What prepare_gridhub made: the hub's environment, the load client's connections, the actors."""

    def __init__(
        self,
        env: dict[str, str],
        conns: list[dict],
        probe_id: int,
        probe_token: str,
        dispatcher_token: str,
        codes: dict[str, str],
        usernames: list[str] | None = None,
        password: str = "",
    ) -> None:
        self.env = env
        self.conns = conns
        self.probe_id = probe_id
        self.probe_token = probe_token
        self.dispatcher_token = dispatcher_token
        self.codes = codes
        #: The responders' usernames, in connection order, and their password (for login benchmarks).
        self.usernames = usernames or []
        self.password = password


async def prepare_gridhub(n: int, workdir: Path, args: argparse.Namespace, children: Children) -> HubSetup:
    """Schema (``gridhub db upgrade``), a county → town → village → grid, N responders in the grid (every
    change of an event there reaches all of them) and one county dispatcher, with tokens for all."""
    from sqlalchemy import delete, insert, select

    from dispatch.models import Jurisdiction, Level, OutboxMessage, Role, User
    from dispatch.passwords import hash_password
    from hub.db import create_engine
    from hub.security import issue_token
    from hub.settings import Settings

    env = dict(os.environ)
    env.update(
        GRIDHUB_DATA_DIR=str(workdir / "data"),
        GRIDHUB_SECRET_KEY=SECRET,
        GRIDHUB_DATABASE_URL=args.database_url,
        GRIDHUB_REDIS_URL=args.redis_url if args.engine == "redis" else "",
    )
    for key, value in args.hub_env:
        env[key] = value
    upgrade = await children.start("db-upgrade", sys.executable, "-m", "hub.cli", "db", "upgrade", env=env)
    try:
        rc = await asyncio.wait_for(upgrade.wait(), args.start_timeout)
    except TimeoutError:
        raise InfraError("gridhub db upgrade timed out") from None
    if rc != 0:
        raise InfraError(f"gridhub db upgrade failed ({rc}): {children.log_tail('db-upgrade')}")

    settings = Settings(data_dir=workdir / "data", secret_key=SECRET, database_url=args.database_url, redis_url="")
    engine = create_engine(settings)
    run = f"b{os.getpid()}x{n}"
    levels = (Level.COUNTY, Level.TOWN, Level.VILLAGE, Level.GRID)
    codes = {level.value: f"{PROBE_COUNTY}{run}{level.value[0]}"[:32] for level in levels}
    users, jurisdictions = User.__table__, Jurisdiction.__table__
    nodes: dict[str, Jurisdiction] = {}
    path, parent = "/", None
    for level in levels:
        code = codes[level.value]
        path += code + "/"
        nodes[level.value] = Jurisdiction(
            code=code,
            name=f"Bench {level.value}",
            level=level.value,
            parent_code=parent,
            path=path,
            center_lat=30.2741,
            center_lon=120.1551,
        )
        parent = code
    grid = codes[Level.GRID.value]
    password = hash_password(BENCH_PASSWORD)
    common = {"password_hash": password, "is_active": True, "failed_logins": 0, "token_generation": 0}
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(OutboxMessage.__table__).where(OutboxMessage.__table__.c.published_at.is_(None)))
            for node in nodes.values():
                await conn.execute(
                    insert(jurisdictions).values(
                        code=node.code,
                        name=node.name,
                        level=node.level,
                        parent_code=node.parent_code,
                        path=node.path,
                        center_lat=node.center_lat,
                        center_lon=node.center_lon,
                    )
                )
            dispatcher_id = (
                await conn.execute(
                    insert(users).values(
                        username=f"{run}d",
                        display_name="Bench dispatcher",
                        role=Role.DISPATCHER.value,
                        jurisdiction_code=codes[Level.COUNTY.value],
                        **common,
                    )
                )
            ).inserted_primary_key[0]
            rows = [
                {
                    "username": f"{run}u{i}",
                    "display_name": f"Responder {i}",
                    "role": Role.RESPONDER.value,
                    "jurisdiction_code": grid,
                    **common,
                }
                for i in range(n)
            ]
            await conn.execute(insert(users), rows)
            ids = sorted(
                (
                    await conn.execute(
                        select(users.c.id).where(
                            users.c.jurisdiction_code == grid, users.c.role == Role.RESPONDER.value
                        )
                    )
                ).scalars()
            )
    finally:
        await engine.dispose()

    def token(uid: int, username: str, role: str, level: str) -> str:
        user = User(id=uid, username=username, role=role, jurisdiction_code=codes[level])
        user.token_generation = 0
        user.jurisdiction = nodes[level]
        return issue_token(user, secret=SECRET, ttl_minutes=240)

    conns = []
    tokens = []
    for i, uid in enumerate(ids):
        tok = token(uid, f"{run}u{i}", Role.RESPONDER.value, Level.GRID.value)
        tokens.append(tok)
        conns.append({"path": f"/ws?token={tok}", "subscribe": ["events", f"dispatch:{uid}"], "probe": i == 0})
    env["BENCH_COUNTY"] = codes[Level.COUNTY.value]
    dispatcher_token = token(dispatcher_id, f"{run}d", Role.DISPATCHER.value, Level.COUNTY.value)
    usernames = [f"{run}u{i}" for i in range(len(ids))]
    return HubSetup(env, conns, ids[0], tokens[0], dispatcher_token, codes, usernames, BENCH_PASSWORD)


async def start_profiler(
    children: Children, output: Path, pid: int, duration: int | None
) -> asyncio.subprocess.Process:
    """``py-spy record`` of the hub (raw collapsed stacks) for ``duration`` s, or until stop_profiler."""
    output.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["py-spy", "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--nonblocking"]
    cmd += ["--output", str(output)] + (["--duration", str(duration)] if duration else [])
    return await children.start(f"py-spy-{output.stem}", *cmd)


async def stop_profiler(proc: asyncio.subprocess.Process) -> None:
    """Let py-spy write its file: SIGINT if it is still recording, then wait a little."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 2)
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 20)


def first_category() -> str:
    from dispatch.taxonomy import load_taxonomy
    from hub.settings import Settings

    return next(iter(load_taxonomy(Settings().config_dir).categories))


def hub_command(args: argparse.Namespace, port: int | str) -> list[str]:
    """``gridhub serve`` as users run it (uvicorn settings from hub/cli.py), or the bare uvicorn factory."""
    if args.hub == "serve":
        return [sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "hub.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--ws",
        args.ws,
        "--backlog",
        "2048",
    ]


class OutboxPublisher:
    """Writes workflow-change rows into the hub's outbox, as dispatch.service does, at a steady rate."""

    def __init__(self, settings_env: dict[str, str], codes: dict[str, str], args: argparse.Namespace) -> None:
        from hub.db import create_engine
        from hub.settings import Settings

        self.settings = Settings(
            data_dir=Path(settings_env["GRIDHUB_DATA_DIR"]),
            secret_key=SECRET,
            database_url=settings_env["GRIDHUB_DATABASE_URL"],
            redis_url="",
        )
        self.engine = create_engine(self.settings)
        self.codes = codes
        self.args = args
        self.sent = 0
        self.dispatch_sent = 0
        self.skipped = 0
        self.insert_ms: list[float] = []

    async def write(self, channel: str, mtype: str, data: dict[str, Any]) -> None:
        from sqlalchemy import insert

        from dispatch.models import OutboxMessage

        t0 = time.perf_counter()
        async with self.engine.begin() as conn:
            await conn.execute(insert(OutboxMessage.__table__).values(channel=channel, type=mtype, data=data))
        self.insert_ms.append((time.perf_counter() - t0) * 1000)

    async def events(self, rate: float, duration: float) -> None:
        start = time.monotonic()
        for seq in range(int(rate * duration)):
            delay = start + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > start + duration + LATE_GRACE_S:
                self.skipped += int(rate * duration) - seq
                break
            data = self.located(sample_event(seq, time.time()))
            await self.write("events", "event.assign", data)
            self.sent += 1

    async def dispatches(self, user_id: int, rate: float, duration: float) -> None:
        start = time.monotonic() + 0.5 / rate
        for seq in range(int(rate * duration)):
            delay = start + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            data = self.located(sample_event(10_000 + seq, time.time()))
            data["assignee_id"] = user_id
            await self.write(f"dispatch:{user_id}", "dispatch.assigned", data)
            self.dispatch_sent += 1

    def located(self, data: dict[str, Any]) -> dict[str, Any]:
        for level in ("county", "town", "village", "grid"):
            data[f"{level}_code"] = self.codes[level]
        data["handling_code"] = self.codes["town"]
        return data

    async def close(self) -> None:
        await self.engine.dispose()


class HttpPublisher:
    """Drives real workflow actions over the REST API: report → accept → assign (a dispatch push to the
    probe responder) → sign → handle, one action every 1/rate s. Each writes one ``events`` outbox row in
    its transaction and wakes the relay (routes call ``realtime.notify()``); clients measure latency from
    the message's ``ts`` (the outbox row's ``created_at``, ms, stamped inside the workflow transaction)."""

    STEPS = ("report", "accept", "assign", "sign", "handle")

    def __init__(self, port: int, setup: HubSetup, category_code: str) -> None:
        import httpx

        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=REQUEST_TIMEOUT_S)
        self.setup = setup
        self.category = category_code
        self.sent = 0
        self.dispatch_sent = 0
        self.failed: Counter[str] = Counter()
        self.request_ms: list[float] = []
        self.skipped = 0

    async def act(self, step: str, event: dict[str, Any] | None) -> dict[str, Any]:
        su = self.setup
        dispatcher = {"Authorization": f"Bearer {su.dispatcher_token}"}
        probe = {"Authorization": f"Bearer {su.probe_token}"}
        if step == "report":
            body = {
                "title": "占道经营 bench",
                "category_code": self.category,
                "grid_code": su.codes["grid"],
                "source": "hotline",
            }
            url, headers = "/events", dispatcher
        else:
            assert event is not None
            body = {"version": event["version"]}
            headers = probe if step in ("sign", "handle") else dispatcher
            if step == "assign":
                body["assignee_id"] = su.probe_id
            elif step == "handle":
                body["result"] = "已处置完毕 bench"
            url = f"/events/{event['id']}/{step}"
        t0 = time.perf_counter()
        response = await self.http.post(url, json=body, headers=headers)
        self.request_ms.append((time.perf_counter() - t0) * 1000)
        if response.status_code not in (200, 201):
            raise InfraError(f"{step}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    async def events(self, rate: float, duration: float) -> None:
        start = time.monotonic()
        event: dict[str, Any] | None = None
        k = 0
        deadline = start + duration + LATE_GRACE_S
        for seq in range(int(rate * duration)):
            delay = start + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > deadline:
                self.skipped = int(rate * duration) - seq
                break
            step = self.STEPS[k % len(self.STEPS)]
            try:
                event = await self.act(step, event)
            except (InfraError, OSError, ValueError) as exc:
                self.failed[str(exc)[:120]] += 1
                k = 0  # start over with a new event
                continue
            except Exception as exc:  # httpx errors
                self.failed[f"{type(exc).__name__}: {str(exc)[:100]}"] += 1
                k = 0
                continue
            self.sent += 1
            if step == "assign":
                self.dispatch_sent += 1
            k += 1

    async def close(self) -> None:
        await self.http.aclose()


# ------------------------------------------------------------------------------------------ one case


#: Extra load during a gridhub case's publishing window: ``extra(port, setup, args)`` → a coroutine whose
#: result (a dict) goes into the case's JSON as ``extra`` (bench/login_storm.py adds logins this way).
ExtraLoad = Callable[[int, HubSetup, argparse.Namespace], Awaitable[dict[str, Any]]]


async def run_case(
    server: str, n: int, args: argparse.Namespace, workroot: Path, extra: ExtraLoad | None = None
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"{server}-{n}-", dir=workroot))
    children = Children(workdir)
    result: dict[str, Any] = {"server": server, "clients": n}
    port = free_port()
    publisher: OutboxPublisher | HttpPublisher | None = None
    profiler: asyncio.subprocess.Process | None = None
    phase = "start"
    try:
        phase = "prepare"
        t0 = time.perf_counter()
        if server == "baseline":
            conns = [{"path": "/", "subscribe": []} for _ in range(n)]
            srv = await children.start(
                "server", sys.executable, str(BENCH / "ws_fanout_baseline.py"), "--port", str(port)
            )
            await read_event(srv, "listening", args.start_timeout, "baseline")
            probe_id = None
            env: dict[str, str] = {}
        else:
            setup = await asyncio.wait_for(
                prepare_gridhub(n, workdir, args, children), 2 * args.start_timeout + n / 200
            )
            env, conns, probe_id = setup.env, setup.conns, setup.probe_id
            result["prepare_s"] = round(time.perf_counter() - t0, 2)
            phase = "start hub"
            srv = await children.start("server", *hub_command(args, port), env=env)
            await wait_http(port, args.ready_path, args.start_timeout, srv, "hub")
        server_pid = srv.pid
        await asyncio.sleep(1.0)
        rss_before = rss(server_pid)

        phase = "connect"
        if args.profile and server == "gridhub":
            profiler = await start_profiler(children, args.profile / f"gridhub-{n}-connect.txt", server_pid, None)
        cpu_connect0 = cpu_seconds([server_pid])
        conns_file = workdir / "conns.jsonl"
        conns_file.write_text("".join(json.dumps(c) + "\n" for c in conns))
        clients = [
            await children.start(
                f"client{i}",
                sys.executable,
                str(BENCH / "ws_fanout_client.py"),
                "--port",
                str(port),
                "--conns",
                str(conns_file),
                "--index",
                str(i),
                "--procs",
                str(args.procs),
                "--src-ips",
                SRC_IPS,
                "--concurrency",
                str(args.concurrency),
                "--ts-key",
                "ts" if server == "gridhub" and args.publish == "http" else "sent_ts",
            )
            for i in range(args.procs)
        ]
        client_pids = [c.pid for c in clients]
        t_connect = time.perf_counter()
        connect_timeout = args.connect_timeout + n / 50
        connected = await asyncio.gather(
            *(read_event(c, "connected", connect_timeout, f"client{i}") for i, c in enumerate(clients))
        )
        times = [t for c in connected for t in c["connect_times"]]
        ok = sum(c["ok"] for c in connected)
        result["connect"] = {
            "connected": ok,
            "failed": sum(c["failed"] for c in connected),
            "errors": dict(sum((Counter(c["errors"]) for c in connected), Counter())),
            "total_s": round(time.perf_counter() - t_connect, 2),
            "p50_ms": round(pct(times, 0.5) * 1000, 1) if times else None,
            "p99_ms": round(pct(times, 0.99) * 1000, 1) if times else None,
            "max_ms": round(max(times) * 1000, 1) if times else None,
            "server_cpu_ms_per_client": round((cpu_seconds([server_pid]) - cpu_connect0) * 1000 / max(ok, 1), 2),
        }
        if ok < n:
            raise InfraError(f"only {ok} of {n} clients connected: {result['connect']['errors']}")
        await asyncio.sleep(args.settle)  # let the subscriptions land
        if profiler is not None:
            await stop_profiler(profiler)
            profiler = None
        rss_after = rss(server_pid)
        result["server_rss_mb"] = {"before": round(rss_before / 2**20, 1), "after_connect": round(rss_after / 2**20, 1)}
        result["server_rss_per_client_kb"] = round((rss_after - rss_before) / n / 1024, 1)

        phase = "measure"
        for c in clients:
            send_line(c, "measure")
        await asyncio.sleep(0.2)
        load_before = round(os.getloadavg()[0], 2)
        cpu0 = (
            cpu_seconds([server_pid]),
            cpu_seconds(client_pids),
            time.perf_counter(),
            psutil.cpu_times(),
            cpu_seconds([server_pid], "system"),
        )
        publish_timeout = args.duration + LATE_GRACE_S + REQUEST_TIMEOUT_S + 15
        t_publish = time.perf_counter()
        if server == "baseline":
            send_line(srv, f"publish {args.rate} {args.duration}")
            published = await read_event(srv, "published", publish_timeout, "baseline")
            sent, dispatch_sent = published["sent"], 0
            result["publish_skipped_late"] = published.get("skipped", 0)
        else:
            if args.profile:
                profiler = await start_profiler(
                    children, args.profile / f"gridhub-{n}-publish.txt", server_pid, int(args.duration)
                )
            if args.publish == "http":
                publisher = HttpPublisher(port, setup, first_category())
                jobs = [publisher.events(args.rate, args.duration)]
            else:
                publisher = OutboxPublisher(env, setup.codes, args)
                jobs = [publisher.events(args.rate, args.duration)]
                if args.dispatch_rate > 0:
                    jobs.append(publisher.dispatches(probe_id, args.dispatch_rate, args.duration))
            extra_job = asyncio.ensure_future(extra(port, setup, args)) if extra is not None else None
            try:
                await asyncio.wait_for(asyncio.gather(*jobs), publish_timeout)
                if extra_job is not None:
                    result["extra"] = await asyncio.wait_for(extra_job, REQUEST_TIMEOUT_S + 30)
            except TimeoutError:
                result["error"] = f"publish: past {publish_timeout:.0f} s (collected what arrived)"
            finally:
                if extra_job is not None and not extra_job.done():
                    extra_job.cancel()
            sent, dispatch_sent = publisher.sent, publisher.dispatch_sent
            result["publish_skipped_late"] = publisher.skipped
        result["publish_s"] = round(time.perf_counter() - t_publish, 1)
        await asyncio.sleep(args.drain)
        cpu1 = (
            cpu_seconds([server_pid]),
            cpu_seconds(client_pids),
            time.perf_counter(),
            psutil.cpu_times(),
            cpu_seconds([server_pid], "system"),
        )
        rss_end = rss(server_pid)

        phase = "collect"
        for c in clients:
            send_line(c, "stop")
        results = await asyncio.gather(*(read_event(c, "result", 60, f"client{i}") for i, c in enumerate(clients)))
        hist: Counter[int] = Counter()
        probe_hist: Counter[int] = Counter()
        for r in results:
            hist.update({int(k): v for k, v in r["hist"].items()})
            probe_hist.update({int(k): v for k, v in r["probe_hist"].items()})
        received = sum(r["received"] for r in results)
        # every client but the probe's dispatches gets every events message
        expected = sent * ok
        wall = cpu1[2] - cpu0[2]
        server_cpu = cpu1[0] - cpu0[0]
        client_cpu = cpu1[1] - cpu0[1]
        sys_busy = sum(
            getattr(cpu1[3], f) - getattr(cpu0[3], f)
            for f in ("user", "system", "nice", "irq", "softirq")
            if hasattr(cpu1[3], f)
        )
        lat = quantiles_ms(hist)
        result["events"] = {
            "published": sent,
            "expected": expected,
            "received": received,
            "lost": expected - received,
            "duplicates": sum(r["duplicates"] for r in results),
            "latency_ms": {**lat, "max": round(max(r["max_latency"] for r in results) * 1000, 1)},
        }
        if server != "baseline":
            probe_received = sum(r["probe_received"] for r in results)
            result["dispatch_probe"] = {
                "published": dispatch_sent,
                "received": probe_received,
                "lost": dispatch_sent - probe_received,
                "latency_ms": {
                    **quantiles_ms(probe_hist, (0.5, 0.99)),
                    "max": round(max(r["probe_max"] for r in results) * 1000, 1),
                },
            }
            if isinstance(publisher, OutboxPublisher) and publisher.insert_ms:
                result["publisher"] = {"outbox_insert_ms_p50": round(pct(publisher.insert_ms, 0.5), 1)}
            elif isinstance(publisher, HttpPublisher):
                result["publisher"] = {
                    "http_request_ms_p50": round(pct(publisher.request_ms, 0.5) or 0, 1),
                    "http_request_ms_p99": round(pct(publisher.request_ms, 0.99) or 0, 1),
                    "failed_actions": dict(publisher.failed),
                }
        result["connections"] = {
            "open_at_end": sum(r["connections_open"] for r in results),
            "closed_by_server_during_measure": sum(r["closed_during_measure"] for r in results),
            "close_codes": dict(
                sum((Counter(r["close_codes"]) for r in results), Counter())  # type: ignore[arg-type]
            ),
        }
        result["cpu"] = {
            "window_s": round(wall, 1),
            "server_percent": round(100 * server_cpu / wall, 1),
            "server_system_percent": round(100 * (cpu1[4] - cpu0[4]) / wall, 1),
            "server_cpu_s": round(server_cpu, 2),
            "load_client_percent": round(100 * client_cpu / wall, 1),
            "machine_percent": round(100 * sys_busy / wall / (psutil.cpu_count() or 1), 1),
            # whatever else ran (other processes, kernel work charged to no one), in % of one core
            "other_percent": round(100 * (sys_busy - server_cpu - client_cpu) / wall, 1),
            "loadavg_1m_before": load_before,
            "machine_cores": psutil.cpu_count(),
        }
        result["server_rss_mb"]["end"] = round(rss_end / 2**20, 1)
        result["messages_per_server_cpu_s"] = round(received / server_cpu) if server_cpu > 0 else None
        result["other_frames"] = sum(r["other_frames"] for r in results)
        return result
    except InfraError as exc:
        result["error"] = f"{phase}: {exc}"
        result["server_log_tail"] = children.log_tail("server")
        for i in range(args.procs):
            tail = children.log_tail(f"client{i}", 600)
            if tail:
                result[f"client{i}_log_tail"] = tail
        return result
    except TimeoutError:
        result["error"] = f"{phase}: timed out"
        result["server_log_tail"] = children.log_tail("server")
        return result
    finally:
        if profiler is not None:
            await stop_profiler(profiler)
        if publisher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(publisher.close(), 10)
        await children.kill_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------ main


def targets(cases: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by = {(c["server"], c["clients"]): c for c in cases}
    for n in args.clients:
        g, b = by.get(("gridhub", n)), by.get(("baseline", n))
        row: dict[str, Any] = {}
        if g and "events" in g:
            p99 = g["events"]["latency_ms"]["p99"]
            row["held_all_clients"] = g["connect"]["connected"] == n and g["connections"]["open_at_end"] == n
            row["p99_under_250ms"] = p99 is not None and p99 < 250 and g["events"]["lost"] == 0
            dp = g.get("dispatch_probe", {}).get("latency_ms", {}).get("p99")
            row["dispatch_p99_under_100ms"] = dp is not None and dp < 100
        if g and b and g.get("messages_per_server_cpu_s") and b.get("messages_per_server_cpu_s"):
            ratio = g["messages_per_server_cpu_s"] / b["messages_per_server_cpu_s"]
            row["messages_per_cpu_s_ratio_gridhub_over_baseline"] = round(ratio, 2)
            row["messages_per_cpu_s_at_least_baseline"] = ratio >= 1.0
        out[str(n)] = row
    return out


async def amain(args: argparse.Namespace) -> int:
    hard = raise_nofile()
    workroot = Path(tempfile.mkdtemp(prefix="gridhub-ws-fanout-"))
    report: dict[str, Any] = {
        "benchmark": "ws_fanout",
        "config": {
            "clients": args.clients,
            "rate_per_s": args.rate,
            "duration_s": args.duration,
            "publish": args.publish,
            "dispatch_rate_per_s": args.dispatch_rate if args.publish == "outbox" else args.rate / 5,
            "engine": args.engine,
            "database": args.database_url or "sqlite (temporary data dir)",
            "hub": " ".join(hub_command(args, "PORT")[1:]),
            "load_client_procs": args.procs,
            "servers": args.servers,
            "nofile_limit": hard,
            "cores": psutil.cpu_count(),
        },
        "cases": [],
    }
    status = 0
    redis_children = Children(workroot)
    try:
        if args.engine == "redis" and not args.redis_url:
            rport = free_port()
            await redis_children.start(
                "redis", "redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"
            )
            await asyncio.sleep(0.5)
            args.redis_url = f"redis://127.0.0.1:{rport}/0"
        for n in args.clients:
            for server in args.servers:
                case = await run_case(server, n, args, workroot)
                report["cases"].append(case)
                if "error" in case:
                    status = 1
                print(f"# {server} N={n}: {json.dumps(summary(case))}", file=sys.stderr, flush=True)
    except (KeyboardInterrupt, asyncio.CancelledError):
        report["interrupted"] = True
        status = 1
    finally:
        await redis_children.kill_all()
        if not args.keep:
            shutil.rmtree(workroot, ignore_errors=True)
        report["targets"] = targets(report["cases"], args)
        print(json.dumps(report, indent=2, ensure_ascii=False), flush=True)
    return status


def summary(case: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"error": case["error"]} if "error" in case else {}
    if "events" in case:
        out.update(
            connect_s=case["connect"]["total_s"],
            latency_ms=case["events"]["latency_ms"],
            lost=case["events"]["lost"],
            cpu=case["cpu"],
            msg_per_cpu_s=case["messages_per_server_cpu_s"],
            dispatch=case.get("dispatch_probe", {}).get("latency_ms"),
        )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", default="1000,5000,10000", help="comma-separated N values")
    p.add_argument("--rate", type=float, default=5.0, help="workflow changes a second, to all clients")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of publishing per case")
    p.add_argument(
        "--publish",
        choices=("http", "outbox"),
        default="http",
        help="gridhub changes: real workflow actions over HTTP (report/accept/assign/sign/handle; one assign "
        "in five is the probe's dispatch), or outbox rows written directly (relayed at the next poll)",
    )
    p.add_argument(
        "--dispatch-rate", type=float, default=1.0, help="with --publish outbox: dispatch rows a second for the probe"
    )
    p.add_argument("--engine", choices=("inproc", "redis"), default="inproc", help="gridhub's bus")
    p.add_argument("--redis-url", default="", help="with --engine redis; default: start a temporary redis-server")
    p.add_argument("--database-url", default="", help="default: SQLite in a temporary data dir")
    p.add_argument("--servers", default="gridhub,baseline", help="which servers to run, in order")
    p.add_argument(
        "--hub",
        choices=("serve", "uvicorn"),
        default="serve",
        help="start gridhub with `gridhub serve` (default) or `uvicorn --factory hub.app:create_app`",
    )
    p.add_argument("--ws", default="websockets", help="uvicorn --ws implementation, with --hub uvicorn")
    p.add_argument("--ready-path", default="/readyz")
    p.add_argument("--hub-env", action="append", default=[], metavar="KEY=VALUE", help="extra environment for the hub")
    p.add_argument("--procs", type=int, default=2, help="load-client processes")
    p.add_argument("--concurrency", type=int, default=200, help="handshakes in flight per load-client process")
    p.add_argument("--settle", type=float, default=2.0, help="seconds between connect and measure")
    p.add_argument("--drain", type=float, default=3.0, help="seconds to wait for late messages")
    p.add_argument("--start-timeout", type=float, default=60.0)
    p.add_argument("--connect-timeout", type=float, default=60.0, help="plus N/50 seconds")
    p.add_argument(
        "--profile", type=Path, default=None, metavar="DIR", help="py-spy the gridhub hub while publishing (raw stacks)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directories (logs, database)")
    args = p.parse_args(argv)
    args.clients = [int(x) for x in str(args.clients).split(",") if x]
    args.servers = [s for s in args.servers.split(",") if s]
    if not set(args.servers) <= {"gridhub", "baseline"}:
        p.error("--servers takes gridhub and/or baseline")
    args.hub_env = [tuple(kv.split("=", 1)) for kv in args.hub_env]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        return 1


if __name__ == "__main__":
    sys.exit(main())
