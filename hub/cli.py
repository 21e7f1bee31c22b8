"""The ``gridhub`` command line (DESIGN section 9): demo, serve, db upgrade, user add/reset, seed."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hub.settings import Settings, get_settings

log = logging.getLogger("gridhub")

#: What `gridhub demo` seeds when its database is empty: a believable county, a year of events.
DEMO_EVENTS = 3000
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
        create_app(settings),
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


def cmd_demo(args: argparse.Namespace) -> int:
    settings = Settings(data_dir=Path(args.data_dir)) if args.data_dir else get_settings()
    from hub.seed import DEMO_LOGINS, demo_passwords

    _migrate(settings)
    if asyncio.run(_is_empty(settings)):
        print(f"seeding the demo county ({DEMO_EVENTS} events over the past year, {DEMO_CAMERAS} cameras)…")
        passwords = demo_passwords(settings.data_dir)
        asyncio.run(_seed(settings, DEMO_EVENTS, DEMO_CAMERAS, replace=False, passwords=passwords))
    else:
        passwords = demo_passwords(settings.data_dir, create=False)

    base = f"http://{args.host}:{args.port}"
    print("\n gridhub demo (SQLite + in-process bus)")
    print(f"  API docs          {base}/docs")
    print(f"  health            {base}/healthz")
    print(f"  events (pending)  {base}/api/v1/events?view=pending   (after login)")
    print(f"  live push         ws://{args.host}:{args.port}/ws?token=…")
    if passwords:
        print(f"\n demo logins (passwords generated for this install, kept in {settings.data_dir}/demo-logins.json):")
    else:
        print("\n demo logins (this database was not seeded by this demo: `gridhub user reset NAME` sets a password):")
    for login in DEMO_LOGINS:
        password = passwords.get(login.username, "")
        print(f"  {login.username:<24} {password:<16} {login.role:<11} {login.jurisdiction}  {login.purpose}")
    print(flush=True)
    _serve(settings, args.host, args.port)
    return 0


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
    from dispatch import users
    from dispatch.errors import DomainError
    from hub.db import create_engine, create_session_factory

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    settings = get_settings()

    async def run() -> None:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session:
                user = await users.create_user(
                    db_session=session,
                    username=args.name,
                    password=password,
                    role=args.role,
                    jurisdiction_code=args.jurisdiction,
                    display_name=args.display_name,
                    report_source=args.source,
                )
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

    from dispatch import users
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
                return await users.set_password(db_session=session, user=user, password=password)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridhub", description="Command-centre hub for grassroots governance.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run everything on embedded defaults with demo data")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
