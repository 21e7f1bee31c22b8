"""Migration 0007 on data written before it (SQLite and PostgreSQL): timelines numbered, events' versions
matching them, pending events given their acceptance deadline (受理时限), dangling extension requests closed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch.db import Timestamp
from dispatch.taxonomy import load_taxonomy
from hub.migrations import upgrade
from hub.settings import PROJECT_ROOT
from tests.conftest import create_pg_database, drop_pg_database

BEFORE = "0006"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

meta = sa.MetaData()
jurisdictions = sa.Table(
    "jurisdictions", meta, sa.Column("code", sa.String), sa.Column("name", sa.String), sa.Column("level", sa.String),
    sa.Column("parent_code", sa.String), sa.Column("path", sa.String),
)  # fmt: skip
users = sa.Table(
    "users", meta, sa.Column("id", sa.Integer), sa.Column("username", sa.String), sa.Column("display_name", sa.String),
    sa.Column("password_hash", sa.String), sa.Column("role", sa.String), sa.Column("jurisdiction_code", sa.String),
    sa.Column("is_active", sa.Boolean), sa.Column("failed_logins", sa.Integer),
    sa.Column("token_generation", sa.Integer), sa.Column("created_at", Timestamp()),
)  # fmt: skip
events = sa.Table(
    "events", meta, sa.Column("id", sa.Integer), sa.Column("title", sa.String), sa.Column("description", sa.Text),
    sa.Column("category_code", sa.String), sa.Column("platform", sa.String), sa.Column("urgency", sa.String),
    sa.Column("source", sa.String), sa.Column("state", sa.String), sa.Column("county_code", sa.String),
    sa.Column("handling_code", sa.String), sa.Column("address", sa.String), sa.Column("created_at", Timestamp()),
    sa.Column("updated_at", Timestamp()), sa.Column("urge_count", sa.Integer), sa.Column("tags", sa.JSON),
    sa.Column("attachments", sa.JSON), sa.Column("extension_pending", sa.Boolean), sa.Column("version", sa.Integer),
    sa.Column("deadline_at", Timestamp()), sa.Column("warn_at", Timestamp()),
)  # fmt: skip
actions = sa.Table(
    "event_actions", meta, sa.Column("id", sa.Integer), sa.Column("event_id", sa.Integer),
    sa.Column("action", sa.String), sa.Column("from_state", sa.String), sa.Column("to_state", sa.String),
    sa.Column("note", sa.Text), sa.Column("data", sa.JSON), sa.Column("created_at", Timestamp()),
)  # fmt: skip
extensions = sa.Table(
    "extension_requests", meta, sa.Column("id", sa.Integer), sa.Column("event_id", sa.Integer),
    sa.Column("requested_by_id", sa.Integer), sa.Column("requested_deadline", Timestamp()),
    sa.Column("reason", sa.Text), sa.Column("status", sa.String), sa.Column("created_at", Timestamp()),
)  # fmt: skip


def _event(event_id: int, state: str, urgency: str, version: int, pending_ext: bool = False) -> dict[str, object]:
    return {
        "id": event_id, "title": "旧事件", "description": "", "category_code": "010101", "platform": "zonghe_zhifa",
        "urgency": urgency, "source": "grid_worker", "state": state, "county_code": "330100",
        "handling_code": "330100", "address": "", "created_at": T0, "updated_at": T0, "urge_count": 0, "tags": [],
        "attachments": [], "extension_pending": pending_ext, "version": version, "deadline_at": None, "warn_at": None,
    }  # fmt: skip


def _row(row_id: int, event_id: int, action: str, frm: str | None, to: str, minutes: int) -> dict[str, object]:
    return {
        "id": row_id, "event_id": event_id, "action": action, "from_state": frm, "to_state": to, "note": "",
        "data": {}, "created_at": T0 + timedelta(minutes=minutes),
    }  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_migration_numbers_timelines_sets_acceptance_deadlines_and_closes_requests(
    backend: str, tmp_path: Path
) -> None:
    url = await create_pg_database() if backend == "postgres" else f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    try:
        await asyncio.to_thread(upgrade, url, BEFORE)
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(
                jurisdictions.insert(),
                [{"code": "330100", "name": "测试区", "level": "county", "parent_code": None, "path": "/330100/"}],
            )
            await conn.execute(
                users.insert(),
                [{"id": 1, "username": "w", "display_name": "w", "password_hash": "x", "role": "responder",
                  "jurisdiction_code": "330100", "is_active": True, "failed_logins": 0, "token_generation": 0,
                  "created_at": T0}],
            )  # fmt: skip
            await conn.execute(
                events.insert(),
                [
                    _event(1, "pending", "critical", 1),  # seeded: version 1
                    _event(2, "pending", "normal", 3),  # rejected and reopened at minute 30
                    _event(3, "pending_verify", "normal", 9, pending_ext=True),  # handled with a request waiting
                ],
            )
            await conn.execute(
                actions.insert(),
                [
                    _row(1, 1, "report", None, "pending", 0),
                    _row(2, 2, "report", None, "pending", 0),
                    _row(3, 2, "reject", "pending", "rejected", 10),
                    _row(4, 2, "reopen", "rejected", "pending", 30),
                    _row(5, 3, "report", None, "pending", 0),
                    _row(6, 3, "accept", "pending", "accepted", 1),
                    _row(7, 3, "assign", "accepted", "assigned", 2),
                    _row(8, 3, "sign", "assigned", "in_progress", 3),
                    _row(9, 3, "extend", "in_progress", "in_progress", 4),
                    _row(10, 3, "handle", "in_progress", "pending_verify", 5),
                ],
            )
            await conn.execute(
                extensions.insert(),
                [{"id": 1, "event_id": 3, "requested_by_id": 1, "requested_deadline": T0 + timedelta(days=3),
                  "reason": "", "status": "pending", "created_at": T0 + timedelta(minutes=4)}],
            )  # fmt: skip
        await engine.dispose()

        await asyncio.to_thread(upgrade, url)

        engine = create_async_engine(url)
        async with engine.connect() as conn:
            versions = (await conn.execute(sa.text("SELECT id, version FROM event_actions ORDER BY id"))).all()
            assert [v for _, v in versions] == [1, 1, 2, 3, 1, 2, 3, 4, 5, 6]
            rows = (await conn.execute(sa.select(events).order_by(events.c.id))).all()
            ext = (await conn.execute(sa.select(extensions.c.status))).scalar_one()
        await engine.dispose()
        assert [e.version for e in rows] == [1, 3, 6]
        accept = load_taxonomy(PROJECT_ROOT / "config").categories["010101"]
        assert rows[0].deadline_at == T0 + timedelta(hours=accept.accept_hours_for("critical"))
        assert rows[0].warn_at == T0 + timedelta(hours=accept.accept_hours_for("critical") * 0.8)
        # Reopened: the acceptance limit runs from the reopening.
        assert rows[1].deadline_at == T0 + timedelta(minutes=30) + timedelta(hours=accept.accept_hours_for("normal"))
        assert rows[2].deadline_at is None and rows[2].extension_pending is False and ext == "closed"
    finally:
        if backend == "postgres":
            await drop_pg_database(url)
