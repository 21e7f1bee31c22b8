"""The ``gridhub`` command line (DESIGN section 9): demo, serve, db upgrade, user add/reset, seed, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from hub.settings import Settings, get_settings

log = logging.getLogger("gridhub")

#: Who the audit trail names for account changes made on the command line (an operator at the server).
CLI_ACTOR = {"actor_id": None, "actor_name": "gridhub-cli", "address": None}

#: What `gridhub demo` seeds when its database is empty: a believable county with a year of events at the
#: rate of a real one (Kaifeng: 21,920 a year), so every view and every demo login has an open backlog.
DEMO_EVENTS = 20000
DEMO_CAMERAS = 300


def _migrate(settings: Settings) -> None:
    from hub.migrations import upgrade

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from hub.app import create_app
    from hub.logs import install_log_filters

    config = uvicorn.Config(
        create_app(settings, freeze_gc_after_start=True),
        host=host,
        port=port,
        # The sans-I/O websockets protocol holds ~3x more clients per CPU than the legacy one (bench/ws_fanout.py);
        # the hub never compresses frames, so no zlib context per connection either.
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=settings.ws_max_message_bytes,
        ws_ping_interval=None,  # the /ws endpoint runs its own application-level heartbeat
        access_log=False,
        # uvicorn's INFO lines are one per WebSocket handshake (thousands on a reconnect): warnings only.
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    install_log_filters()  # after uvicorn configured its loggers
    log.info("gridhub listening on http://%s:%d", host, port)
    server.run()


async def _is_empty(settings: Settings) -> bool:
    from sqlalchemy import func, select

    from dispatch.models import Jurisdiction
    from hub.db import create_engine

    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            return not await conn.scalar(select(func.count()).select_from(Jurisdiction))
    finally:
        await engine.dispose()


async def _seed(
    settings: Settings, events: int, cameras: int, replace: bool, passwords: dict[str, str] | None = None
) -> None:
    from hub.db import create_engine
    from hub.seed import seed_county

    engine = create_engine(settings)
    try:
        report = await seed_county(
            engine, events=events, cameras=cameras, replace=replace, passwords=passwords, progress=print
        )
    finally:
        await engine.dispose()
    print(report)


async def _demo_footage(settings: Settings) -> list[int]:
    from hub.db import create_engine
    from hub.seed.footage import attach_demo_footage

    engine = create_engine(settings)
    try:
        return await attach_demo_footage(engine)
    finally:
        await engine.dispose()


def cmd_demo(args: argparse.Namespace) -> int:
    settings = Settings(data_dir=Path(args.data_dir)) if args.data_dir else get_settings()
    # the grid workers' phones connect to this hub's own /ws (on loopback when it listens on every address)
    own = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(args.host, args.host)
    own = f"[{own}]" if ":" in own and not own.startswith("[") else own
    phones = "" if args.quiet else f"ws://{own}:{args.port}/ws"
    settings = settings.model_copy(update={"demo_activity": not args.quiet, "demo_phones_url": phones})
    from hub.seed import DEMO_LOGINS, demo_passwords

    _migrate(settings)
    if asyncio.run(_is_empty(settings)):
        print(f"seeding the demo county ({DEMO_EVENTS} events over the past year, {DEMO_CAMERAS} cameras)…")
        passwords = demo_passwords(settings.data_dir)
        asyncio.run(_seed(settings, DEMO_EVENTS, DEMO_CAMERAS, replace=False, passwords=passwords))
    else:
        passwords = demo_passwords(settings.data_dir, create=False)
    live_cameras = asyncio.run(_demo_footage(settings))

    base = f"http://{args.host}:{args.port}"
    analytics = None if args.no_analytics else _start_analytics(args.host, args.analytics_port, base)
    if analytics is not None:
        settings = settings.model_copy(update={"analytics_url": f"http://{args.host}:{args.analytics_port}"})
    print("\n gridhub demo (SQLite + in-process bus)")
    print(f"  big screen        {base}/screens/overview      (leader)")
    print(f"  dispatcher        {base}/screens/console       (county_dispatcher, town01_dispatcher)")
    print(f"  responder phone   {base}/screens/mobile        (grid_worker_001; open it at phone size)")
    if analytics is not None:
        print(f"  analytics         http://{args.host}:{args.analytics_port}/   (linked from the console)")
    print(f"  API docs          {base}/docs")
    print(f"  health            {base}/healthz")
    print(f"  events (pending)  {base}/api/v1/events?view=pending   (after login)")
    print(f"  live push         ws://{args.host}:{args.port}/ws?token=…")
    if live_cameras:
        ids = ",".join(str(i) for i in live_cameras)
        print(f"  live cameras      {base}/screens/player?camera={ids}   (the bundled footage, looped)")
    if passwords:
        print(f"\n demo logins (passwords generated for this install, kept in {settings.data_dir}/demo-logins.json):")
    else:
        print("\n demo logins (this database was not seeded by this demo: `gridhub user reset NAME` sets a password):")
    for login in DEMO_LOGINS:
        password = passwords.get(login.username, "")
        print(f"  {login.username:<24} {password:<16} {login.role:<11} {login.jurisdiction}  {login.purpose}")
    print(flush=True)
    try:
        _serve(settings, args.host, args.port)
    finally:
        if analytics is not None:
            analytics.terminate()
    return 0


def _start_analytics(host: str, port: int, hub: str) -> subprocess.Popen[bytes]:
    """The Streamlit analytics beside the demo hub (its own process, reading the hub's API)."""
    return subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "analytics", "--host", host, "--port", str(port), "--hub", hub],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not args.no_migrate:
        _migrate(settings)
    _serve(settings, args.host, args.port)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    _migrate(get_settings())
    print("database is at the latest schema")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from dispatch import audit, users
    from dispatch.errors import DomainError
    from hub.db import create_engine, create_session_factory

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    settings = get_settings()

    async def run() -> None:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                user = await users.new_user(
                    db_session=session,
                    username=args.name,
                    password=password,
                    role=args.role,
                    jurisdiction_code=args.jurisdiction,
                    display_name=args.display_name,
                    report_source=args.source,
                )
                detail = {"username": user.username, "role": user.role, "jurisdiction_code": user.jurisdiction_code}
                await audit.record(session, kind="user.create", target=f"user:{user.id}", detail=detail, **CLI_ACTOR)
                await session.commit()
                print(f"created user {user.username} (id {user.id}, {user.role}, {user.jurisdiction_code})")
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except DomainError as exc:
        print(f"gridhub: {exc.message}", file=sys.stderr)
        return 2
    return 0


def cmd_user_reset(args: argparse.Namespace) -> int:
    """Set an account's password: the one read from stdin, or a temporary one printed once (changed at login)."""
    from sqlalchemy import select

    from dispatch import audit, users
    from dispatch.errors import DomainError, NotFound
    from dispatch.models import User
    from hub.db import create_engine, create_session_factory

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    settings = get_settings()

    async def run() -> str | None:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                user = await session.scalar(select(User).where(User.username == args.name))
                if user is None:
                    raise NotFound(f"no account is named {args.name!r}")
                temporary = await users.set_password(db_session=session, user=user, password=password)
                await audit.record(session, kind="user.password_reset", target=f"user:{user.id}", **CLI_ACTOR)
                await session.commit()
                return temporary
        finally:
            await engine.dispose()

    try:
        temporary = asyncio.run(run())
    except DomainError as exc:
        print(f"gridhub: {exc.message}", file=sys.stderr)
        return 2
    if temporary:
        print(f"temporary password of {args.name}: {temporary}  (to be changed at the next login)")
    else:
        print(f"password of {args.name} set")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    settings = get_settings()
    _migrate(settings)
    try:
        asyncio.run(_seed(settings, args.events, args.cameras, replace=args.replace))
    except RuntimeError as exc:
        print(f"gridhub: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from hub.detect import detect
    from vision.detectors import ModelError

    try:
        asyncio.run(
            detect(
                args.source,
                backend=args.backend,
                model=args.model,
                fps=args.fps,
                max_frames=args.max_frames,
                min_score=args.min_score,
                settings=get_settings(),
            )
        )
    except (ModelError, ValueError, RuntimeError) as exc:
        print(f"gridhub: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return 0


def cmd_export_model(args: argparse.Namespace) -> int:
    """Export an ultralytics model for CPU speed (ONNX, OpenVINO, OpenVINO INT8); prints the exported path."""
    from vision.detectors import ModelError, load_detector
    from vision.detectors.calibration import calibration_frames

    try:
        detector = load_detector("ultralytics", args.model, imgsz=args.imgsz)
        pictures = calibration_frames(args.calibration) if args.int8 else None
        out = detector.export(args.format, imgsz=args.imgsz, int8=args.int8, calibration=pictures)  # type: ignore[attr-defined]
    except (ModelError, ValueError) as exc:
        print(f"gridhub: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


def cmd_worker_vision(args: argparse.Namespace) -> int:
    from hub.worker import run_vision_worker

    asyncio.run(run_vision_worker(get_settings(), worker_id=args.worker_id))
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Walk the audit chain; exit 0 with a summary when intact, 1 naming the first bad row otherwise."""
    from dispatch import audit
    from hub.db import create_engine, create_session_factory

    async def run() -> audit.Verdict:
        engine = create_engine(get_settings())
        try:
            async with create_session_factory(engine)() as session:
                return await audit.verify(session, batch_size=args.batch_size)
        finally:
            await engine.dispose()

    verdict = asyncio.run(run())
    head = f"head seq {verdict.head_seq} hash {verdict.head_hash}"
    if not verdict.ok:
        print(f"audit trail BROKEN at row {verdict.bad_seq}: {verdict.reason}", file=sys.stderr)
        print(f"({verdict.rows} rows verified before it; {head})", file=sys.stderr)
        return 1
    span = f"rows {verdict.first_seq}..{verdict.last_seq}" if verdict.rows else "no rows"
    print(f"audit trail intact: {verdict.rows} rows ({span}); {head}")
    return 0


def cmd_analytics(args: argparse.Namespace) -> int:
    """Run the Streamlit analytics (screens/analytics.py) as a client of the hub at ``--hub``."""
    import os

    import screens

    app = Path(screens.__file__).resolve().parent / "analytics.py"
    env = {**os.environ, "GRIDHUB_HUB_URL": args.hub}
    command = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.port", str(args.port), "--server.address", args.host, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--global.developmentMode", "false", "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    print(f"gridhub analytics on http://{args.host}:{args.port} (data from {args.hub})", flush=True)
    os.execvpe(sys.executable, command, env)  # become Streamlit: a signal to this process reaches it


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridhub", description="Command-centre hub for grassroots governance.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run everything on embedded defaults with demo data")
    demo.add_argument(
        "--quiet", action="store_true", help="no simulated activity (reports, workflow steps, grid workers' phones)"
    )
    demo.add_argument("--no-analytics", action="store_true", help="do not start the Streamlit analytics beside it")
    demo.add_argument("--analytics-port", type=int, default=8501)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--data-dir", default=None, help="default: GRIDHUB_DATA_DIR or ./gridhub-data")
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="run a hub with the configured settings")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations at start")
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db)

    user = sub.add_parser("user", help="accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument(
        "--role", required=True, choices=["admin", "dispatcher", "leader", "responder", "department", "service"]
    )
    add.add_argument("--jurisdiction", default=None, help="jurisdiction code (default: the root of the tree)")
    add.add_argument("--display-name", default=None)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument(
        "--source",
        default=None,
        choices=["citizen", "grid_worker", "hotline", "detection", "department", "import", "dispatcher"],
        help="fix the source of every report of this account (required for --role service, e.g. hotline)",
    )
    add.set_defaults(func=cmd_user_add)
    reset = user_sub.add_parser("reset", help="set a password: a temporary one printed once, or --password-stdin")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read the new password from standard input")
    reset.set_defaults(func=cmd_user_reset)

    seed = sub.add_parser("seed", help="generate a realistic county with N events over the past year")
    seed.add_argument("--events", type=int, required=True)
    seed.add_argument("--cameras", type=int, default=2800)
    seed.add_argument("--replace", action="store_true", help="delete seeded data first")
    seed.set_defaults(func=cmd_seed)

    detect = sub.add_parser("detect", help="run a detector over an image, video file, stream URL or camera id")
    detect.add_argument("source", help="image or video file, rtsp://… URL, or a camera id")
    detect.add_argument("--backend", default="fastestdet", choices=["fastestdet", "ultralytics"])
    detect.add_argument("--model", default=None, help="model path (.pt, .onnx, OpenVINO folder); default: bundled")
    detect.add_argument("--fps", type=float, default=5.0, help="frames a second from a stream or camera")
    detect.add_argument("--max-frames", type=int, default=None)
    detect.add_argument("--min-score", type=float, default=None)
    detect.set_defaults(func=cmd_detect)

    export = sub.add_parser("export-model", help="export an ultralytics model for CPU speed (ONNX, OpenVINO, INT8)")
    export.add_argument("model", help="a .pt (or a .yaml: the architecture, untrained)")
    export.add_argument("--format", default="openvino", choices=["openvino", "onnx"])
    export.add_argument("--imgsz", type=int, default=640, help="the input size the detector will run at")
    export.add_argument("--int8", action="store_true", help="INT8 quantization (OpenVINO, NNCF): faster on CPUs")
    export.add_argument(
        "--calibration", default=None, help="INT8: a video or folder of pictures of your cameras (default: bundled)"
    )
    export.set_defaults(func=cmd_export_model)

    worker = sub.add_parser("worker", help="background workers")
    worker_sub = worker.add_subparsers(dest="worker_command", required=True)
    vision_worker = worker_sub.add_parser("vision", help="a detection worker taking cameras from the shared pool")
    vision_worker.add_argument("--worker-id", default=None)
    vision_worker.set_defaults(func=cmd_worker_vision)

    analytics = sub.add_parser("analytics", help="run the Streamlit analytics (事件处理统计, trends, comparisons)")
    analytics.add_argument("--host", default="127.0.0.1")
    analytics.add_argument("--port", type=int, default=8501)
    analytics.add_argument("--hub", default="http://127.0.0.1:8000", help="the hub whose API it reads")
    analytics.set_defaults(func=cmd_analytics)

    audit_cmd = sub.add_parser("audit", help="the security audit trail")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain; prints the head hash to keep elsewhere")
    verify.add_argument("--batch-size", type=int, default=5000, help="rows read per query")
    verify.set_defaults(func=cmd_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
