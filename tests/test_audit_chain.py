"""The audit chain (dispatch/audit.py) on both engines: appends, tampering found by the real `gridhub audit verify`.

Each test gets a fresh database at the latest schema; rows are written through ``record``/``record_now`` as
the hub writes them, then changed behind the chain's back with plain SQL, as an intruder would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dispatch import audit
from dispatch.db import utcnow
from tests.conftest import create_pg_database, drop_pg_database

REPO = Path(__file__).resolve().parent.parent


@dataclass
class AuditDb:
    url: str
    data_dir: Path
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def sql(self, statement: str, **params: object) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text(statement), params)

    def verify_cli(self) -> subprocess.CompletedProcess[str]:
        """`gridhub audit verify` as an operator runs it, against this database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDHUB_")}
        env.update(GRIDHUB_DATABASE_URL=self.url, GRIDHUB_DATA_DIR=str(self.data_dir), PYTHONPATH=str(REPO))
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", "audit", "verify", "--batch-size", "3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )


@pytest.fixture(params=["sqlite", "postgres"])
async def adb(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditDb]:
    from hub.db import create_engine, create_session_factory
    from hub.migrations import upgrade
    from hub.settings import Settings

    url = await create_pg_database() if request.param == "postgres" else ""
    settings = Settings(data_dir=tmp_path, database_url=url, secret_key="k" * 40)
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings)
    try:
        yield AuditDb(settings.resolved_database_url, tmp_path, engine, create_session_factory(engine))
    finally:
        await engine.dispose()
        if url:
            await drop_pg_database(url)


async def write_rows(adb: AuditDb, n: int) -> None:
    for i in range(n):
        await audit.record_now(
            adb.sessions,
            kind="auth.login" if i % 2 else "event.accept",
            actor_id=i + 1,
            actor_name=f"用户{i}",
            address="127.0.0.1",
            target=f"event:{i}",
            detail={"i": i, "note": "含中文", "nested": {"b": 1, "a": [1.5, None]}},
        )


async def test_untouched_chain_verifies_and_prints_its_head(adb: AuditDb) -> None:
    await write_rows(adb, 7)
    async with adb.sessions() as session:
        verdict = await audit.verify(session)
        head = await audit.head(session)
    assert verdict.ok and verdict.rows == 7 and (verdict.first_seq, verdict.last_seq) == (1, 7)
    done = adb.verify_cli()
    assert done.returncode == 0, done.stderr
    assert "intact: 7 rows (rows 1..7)" in done.stdout
    assert head.hash in done.stdout and head.seq == 7


async def test_empty_chain_verifies(adb: AuditDb) -> None:
    done = adb.verify_cli()
    assert done.returncode == 0, done.stderr
    assert "intact: 0 rows" in done.stdout


async def test_edited_row_is_named(adb: AuditDb) -> None:
    await write_rows(adb, 6)
    await adb.sql("UPDATE audit_log SET outcome = 'failed' WHERE seq = 4")
    done = adb.verify_cli()
    assert done.returncode == 1
    assert "BROKEN at row 4" in done.stderr and "edited" in done.stderr


async def test_edited_and_rehashed_row_breaks_the_next_link(adb: AuditDb) -> None:
    """An intruder who rehashes the row they edited is caught where the next row points back."""
    await write_rows(adb, 6)
    async with adb.sessions() as session:
        row = await session.get(audit.AuditEntry, 3)
        assert row is not None
        forged = audit.row_hash(
            seq=3,
            at=row.at,
            actor_id=row.actor_id,
            actor_name="someone else",
            address=row.address,
            kind=row.kind,
            target=row.target,
            outcome=row.outcome,
            detail=row.detail,
            prev_hash=row.prev_hash,
        )
    await adb.sql("UPDATE audit_log SET actor_name = 'someone else', hash = :h WHERE seq = 3", h=forged)
    done = adb.verify_cli()
    assert done.returncode == 1
    assert "BROKEN at row 4" in done.stderr and "does not link to row 3" in done.stderr


async def test_deleted_row_is_named(adb: AuditDb) -> None:
    await write_rows(adb, 6)
    await adb.sql("DELETE FROM audit_log WHERE seq = 3")
    done = adb.verify_cli()
    assert done.returncode == 1
    assert "BROKEN at row 3" in done.stderr and "missing" in done.stderr


async def test_deleted_tail_is_found_by_the_head(adb: AuditDb) -> None:
    await write_rows(adb, 6)
    await adb.sql("DELETE FROM audit_log WHERE seq >= 5")
    done = adb.verify_cli()
    assert done.returncode == 1
    assert "BROKEN at row 5" in done.stderr and "5..6 are missing" in done.stderr


async def test_swapped_rows_are_named(adb: AuditDb) -> None:
    """Two rows trade places (their seq exchanged): the first of them no longer matches its place."""
    await write_rows(adb, 6)
    await adb.sql("UPDATE audit_log SET seq = -1 WHERE seq = 3")
    await adb.sql("UPDATE audit_log SET seq = 3 WHERE seq = 4")
    await adb.sql("UPDATE audit_log SET seq = 4 WHERE seq = -1")
    done = adb.verify_cli()
    assert done.returncode == 1
    assert "BROKEN at row 3" in done.stderr


async def test_rolled_back_transaction_leaves_no_row_and_no_gap(adb: AuditDb) -> None:
    async with adb.sessions() as session:
        await audit.record(session, kind="user.update", actor_id=1, actor_name="a", address=None)
        await session.rollback()
    await write_rows(adb, 2)
    async with adb.sessions() as session:
        await audit.record(session, kind="user.update", actor_id=1, actor_name="a", address=None)
        # closed without commit: nothing is written
    async with adb.sessions() as session:
        seqs = (await session.execute(text("SELECT seq FROM audit_log ORDER BY seq"))).scalars().all()
        assert seqs == [1, 2]
        assert (await audit.verify(session)).ok


async def test_concurrent_writers_make_one_chain(adb: AuditDb) -> None:
    """40 transactions at once, each with two rows: one gap-free chain that verifies."""

    async def writer(i: int) -> None:
        async with adb.sessions() as session:
            for k in range(2):
                await audit.record(
                    session, kind="event.urge", actor_id=i, actor_name=f"w{i}", address=None, detail={"k": k}
                )
            await session.commit()

    await asyncio.gather(*(writer(i) for i in range(40)))
    async with adb.sessions() as session:
        verdict = await audit.verify(session)
    assert verdict.ok, verdict.reason
    assert verdict.rows == 80 and verdict.last_seq == 80
    assert adb.verify_cli().returncode == 0


async def test_session_address_is_the_default(adb: AuditDb) -> None:
    async with adb.sessions() as session:
        session.info[audit.ADDRESS_KEY] = "203.0.113.9"
        await audit.record(session, kind="auth.logout", actor_id=1, actor_name="a", address=None)
        await session.commit()
        row = await session.get(audit.AuditEntry, 1)
        assert row is not None and row.address == "203.0.113.9"


async def test_prune_keeps_the_chain_verifiable(adb: AuditDb) -> None:
    await write_rows(adb, 10)
    old = utcnow() - timedelta(days=400)
    stored = old.strftime("%Y-%m-%d %H:%M:%S.%f") if adb.url.startswith("sqlite") else old
    await adb.sql("UPDATE audit_log SET at = :old WHERE seq <= 6", old=stored)
    # Rewriting `at` broke rows 1..6; prune them (they are the old ones) and the rest must verify from the anchor.
    async with adb.sessions() as session:
        pruned = await audit.prune(session, before=utcnow() - timedelta(days=180))
    assert pruned == 6
    async with adb.sessions() as session:
        verdict = await audit.verify(session)
        assert verdict.ok, verdict.reason
        assert (verdict.first_seq, verdict.last_seq, verdict.rows) == (7, 11, 5)
        last = await session.get(audit.AuditEntry, 11)
        assert last is not None and last.kind == "audit.prune"
    done = adb.verify_cli()
    assert done.returncode == 0, done.stderr
    # Deleting more old rows and moving the anchor by hand is caught: no audit.prune row records that anchor.
    async with adb.sessions() as session:
        row8 = await session.get(audit.AuditEntry, 8)
        assert row8 is not None
    await adb.sql("DELETE FROM audit_log WHERE seq <= 8")
    await adb.sql("UPDATE audit_head SET base_seq = 8, base_hash = :h", h=row8.hash)
    done = adb.verify_cli()
    assert done.returncode == 1 and "no audit.prune row records that anchor" in done.stderr


async def test_hub_upkeep_prunes_past_retention_and_logs_the_head(
    adb: AuditDb, caplog: pytest.LogCaptureFixture
) -> None:
    from hub.audit_keeper import maintain_once

    await write_rows(adb, 5)
    aged = utcnow() - timedelta(days=181)
    stored = aged.strftime("%Y-%m-%d %H:%M:%S.%f") if adb.url.startswith("sqlite") else aged
    await adb.sql("UPDATE audit_log SET at = :at WHERE seq <= 3", at=stored)
    caplog.set_level("INFO", logger="gridhub.audit")
    assert await maintain_once(adb.sessions, retention_days=180) == 3
    assert await maintain_once(adb.sessions, retention_days=180) == 0  # nothing more is that old
    async with adb.sessions() as session:
        head = await audit.head(session)
    assert (head.base_seq, head.seq) == (3, 6)
    assert f"audit head seq=6 hash={head.hash}" in caplog.text
    assert adb.verify_cli().returncode == 0


async def test_rows_added_behind_the_head_are_named(adb: AuditDb) -> None:
    """A row appended with a valid link but without moving the head (an insert by hand) is found too."""
    await write_rows(adb, 3)
    async with adb.sessions() as session:
        last = await session.get(audit.AuditEntry, 3)
        assert last is not None
        fields = {
            "seq": 4,
            "at": utcnow(),
            "actor_id": 1,
            "actor_name": "x",
            "address": None,
            "kind": "auth.login",
            "target": None,
            "outcome": "ok",
            "detail": "{}",
            "prev_hash": last.hash,
        }
        session.add(audit.AuditEntry(**fields, hash=audit.row_hash(**fields)))
        await session.commit()
    done = adb.verify_cli()
    assert done.returncode == 1 and "BROKEN at row 4" in done.stderr and "beyond the head" in done.stderr


def test_bench_audit_verify_smoke() -> None:
    """bench/audit_verify.py keeps working: a tiny trail, verified in-process and by the CLI."""
    import json

    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "audit_verify.py"), "--rows", "300", "--batch-size", "100"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["verify_ok"] and report["scanned"] == 300 and report["cli_exit"] == 0
    assert "intact: 300 rows" in report["cli_stdout"]
