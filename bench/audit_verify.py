"""How long `gridhub audit verify` takes on a large audit trail, against a plain scan of the same rows.

    python bench/audit_verify.py [--rows 1000000] [--database-url postgresql+asyncpg://…] [--batch-size 5000]

Builds a fresh database (a temporary SQLite file unless ``--database-url`` names an empty PostgreSQL database)
at the latest schema, writes ``--rows`` chained audit rows in bulk (as ``dispatch.audit`` would have chained
them), then times in the same run:

- ``scan``: the baseline, reading every row in ``seq`` batches of ``--batch-size`` and doing nothing with them;
- ``verify``: ``dispatch.audit.verify`` (the same batched read plus the canonical encoding and SHA-256 per row);
- ``cli``: the real ``gridhub audit verify`` command in a subprocess (start-up included).

Prints one JSON object: seconds for each, rows per second, and ``verify_over_scan``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402

from dispatch import audit  # noqa: E402
from dispatch.db import utcnow  # noqa: E402

KINDS = ["auth.login", "event.accept", "event.assign", "access.denied", "export.stats"]


def chained_rows(n: int) -> list[dict[str, object]]:
    start = utcnow() - timedelta(days=30)
    prev, out = audit.GENESIS, []
    for seq in range(1, n + 1):
        entry = {
            "at": start + timedelta(milliseconds=seq),
            "actor_id": seq % 500 + 1,
            "actor_name": f"user{seq % 500}",
            "address": f"10.0.{seq % 250}.{seq % 200}",
            "kind": KINDS[seq % len(KINDS)],
            "target": f"event:{seq // 3}",
            "outcome": "ok",
            "detail": audit.canonical_detail({"from": "pending", "to": "accepted", "n": seq}),
        }
        digest = audit.row_hash(seq=seq, prev_hash=prev, **entry)
        out.append({**entry, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    return out


async def run(args: argparse.Namespace, url: str, data_dir: str) -> dict[str, object]:
    from hub.db import create_engine, create_session_factory
    from hub.migrations import upgrade
    from hub.settings import Settings

    settings = Settings(data_dir=Path(data_dir), database_url=url, secret_key="b" * 40)
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    table, head = audit.AuditEntry.__table__, audit.AuditHead.__table__
    try:
        t0 = time.perf_counter()
        rows = chained_rows(args.rows)
        t_chain = time.perf_counter() - t0
        async with engine.begin() as conn:
            for i in range(0, len(rows), 10_000):
                await conn.execute(table.insert(), rows[i : i + 10_000])
            await conn.execute(update(head).where(head.c.id == 1).values(seq=args.rows, hash=rows[-1]["hash"]))
        t_write = time.perf_counter() - t0 - t_chain
        del rows

        t0 = time.perf_counter()
        scanned, after = 0, 0
        async with sessions() as session:
            while True:
                batch = (
                    await session.execute(
                        select(table).where(table.c.seq > after).order_by(table.c.seq).limit(args.batch_size)
                    )
                ).all()
                if not batch:
                    break
                scanned, after = scanned + len(batch), batch[-1].seq
        t_scan = time.perf_counter() - t0

        t0 = time.perf_counter()
        async with sessions() as session:
            verdict = await audit.verify(session, batch_size=args.batch_size)
        t_verify = time.perf_counter() - t0
    finally:
        await engine.dispose()

    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDHUB_")}
    env.update(GRIDHUB_DATABASE_URL=settings.resolved_database_url, GRIDHUB_DATA_DIR=data_dir, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    cli = subprocess.run(
        [sys.executable, "-m", "hub.cli", "audit", "verify", "--batch-size", str(args.batch_size)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    t_cli = time.perf_counter() - t0
    return {
        "engine": "postgresql" if url else "sqlite",
        "rows": args.rows,
        "batch_size": args.batch_size,
        "chain_build_s": round(t_chain, 2),
        "write_s": round(t_write, 2),
        "scan_s": round(t_scan, 2),
        "scanned": scanned,
        "verify_s": round(t_verify, 2),
        "verify_ok": verdict.ok,
        "verify_rows_per_s": round(verdict.rows / t_verify) if t_verify else None,
        "verify_over_scan": round(t_verify / t_scan, 2) if t_scan else None,
        "cli_s": round(t_cli, 2),
        "cli_exit": cli.returncode,
        "cli_stdout": cli.stdout.strip(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--database-url", default="", help="an empty PostgreSQL database (default: temporary SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gridhub-audit-bench-") as data_dir:
        report = asyncio.run(run(args, args.database_url, data_dir))
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["verify_ok"] and report["cli_exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
