"""The security audit trail (安全审计): one append-only, hash-chained table of who did what, when, from where.

Every row carries ``seq`` (gap-free, 1, 2, 3, …), ``prev_hash`` (the previous row's ``hash``) and ``hash`` =
SHA-256 over a canonical encoding of its own content and ``prev_hash``. ``verify`` walks the chain in order
and names the first row that was edited, deleted, inserted or moved. The one-row ``audit_head`` table holds
the chain's last ``seq`` and ``hash`` (so a deleted tail is detected too) and, after pruning, the anchor
(``base_seq``, ``base_hash``: the last pruned row) the remaining chain starts from.

Writers serialise on the head row: ``record`` only queues the row on the caller's session; just before that
session commits, the queued rows are written after the caller's own changes have been flushed, taking the
head row's lock (``UPDATE audit_head``) as the transaction's last lock. On PostgreSQL that row lock orders
concurrent writers into one chain; SQLite serialises writers by itself. A rolled-back transaction writes no
audit row and consumes no ``seq``.

Threat model: the chain detects an edit, a deletion or a reordering by anyone who writes to the table
without recomputing every later hash. Someone with write access to the database and this code can rebuild
the whole chain; to catch that, keep the head hash outside the database (``gridhub audit verify`` prints it;
the hub logs it periodically) and compare later chains against it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text, delete, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from dispatch.db import Base, Timestamp, utcnow

#: prev_hash of the first row ever written.
GENESIS = "0" * 64
#: session.info key of the rows queued by ``record`` until the session commits.
_PENDING = "gridhub.audit.pending"
#: session.info key of the client address the hub puts on each request's session (``record``'s default).
ADDRESS_KEY = "gridhub.audit.address"

OUTCOMES = ("ok", "failed", "denied")

_LIMITS = {"actor_name": 100, "address": 64, "kind": 64, "target": 200}


class AuditEntry(Base):
    """One row of the audit trail. Never updated; deleted only by ``prune``, oldest first."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(Timestamp)
    actor_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: the trail outlives accounts
    actor_name: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    #: Canonical JSON text (exactly what was hashed; JSONB would normalise it).
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_seq", "actor_id", "seq"),
        Index("ix_audit_log_kind_seq", "kind", "seq"),
    )


class AuditHead(Base):
    """The one row that says where the chain ends (``seq``, ``hash``) and where it starts (``base_*``)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    #: The last pruned row (0 / GENESIS before any pruning): the first kept row links to it.
    base_seq: Mapped[int] = mapped_column(BigInteger)
    base_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


# ---------------------------------------------------------------------------------------------- hashing


def _text(value: str | None, limit: int) -> str | None:
    """Storable on every engine (no NUL, no lone surrogate) and within the column: what is stored is hashed."""
    if value is None:
        return None
    value = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return value[:limit]


def canonical_detail(detail: dict[str, Any] | None) -> str:
    return json.dumps(detail or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def at_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def row_hash(
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor_name: str | None,
    address: str | None,
    kind: str,
    target: str | None,
    outcome: str,
    detail: str,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of the canonical encoding (version 1) of one row's content and its predecessor's hash."""
    return _digest(seq, at, actor_id, actor_name, address, kind, target, outcome, detail, prev_hash)


_ENCODE = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def _digest(
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor_name: str | None,
    address: str | None,
    kind: str,
    target: str | None,
    outcome: str,
    detail: str,
    prev_hash: str,
) -> str:
    fields = [1, seq, at_text(at), actor_id, actor_name, address, kind, target, outcome, detail, prev_hash]
    return hashlib.sha256(_ENCODE(fields).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------- writing


async def record(
    db_session: AsyncSession,
    *,
    kind: str,
    actor_id: int | None,
    actor_name: str | None,
    address: str | None,
    target: str | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one audit row to the caller's transaction; it is chained and written when the caller commits.

    ``address`` None falls back to the address the hub put on the session (``ADDRESS_KEY``). Nothing is
    written if the transaction rolls back.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
    if address is None:
        address = db_session.info.get(ADDRESS_KEY)
    entry = {
        "at": utcnow(),
        "actor_id": actor_id,
        "actor_name": _text(actor_name, _LIMITS["actor_name"]),
        "address": _text(address, _LIMITS["address"]),
        "kind": _text(kind, _LIMITS["kind"]) or "",
        "target": _text(target, _LIMITS["target"]),
        "outcome": outcome,
        "detail": canonical_detail(detail),
    }
    db_session.info.setdefault(_PENDING, []).append(entry)


async def record_now(session_factory: async_sessionmaker[AsyncSession], **fields: Any) -> None:
    """``record`` in a transaction of its own, committed at once (refusals that change nothing else)."""
    async with session_factory() as db_session:
        await record(db_session, **fields)
        await db_session.commit()


def _append(session: Session, entries: list[dict[str, Any]]) -> None:
    """Chain and insert ``entries`` after the caller's own writes, holding the head row until commit."""
    session.flush()  # the caller's changes first: the head lock is the transaction's last
    head_table = AuditHead.__table__
    # A write first: on PostgreSQL it locks the head row until commit (concurrent writers queue here);
    # on SQLite it takes the database write lock before the head is read.
    session.execute(update(head_table).where(head_table.c.id == 1).values(seq=head_table.c.seq + len(entries)))
    last_seq, prev = session.execute(select(head_table.c.seq, head_table.c.hash).where(head_table.c.id == 1)).one()
    seq = last_seq - len(entries)
    rows = []
    for entry in entries:
        seq += 1
        digest = row_hash(seq=seq, prev_hash=prev, **entry)
        rows.append({**entry, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    session.execute(AuditEntry.__table__.insert(), rows)
    session.execute(update(head_table).where(head_table.c.id == 1).values(hash=prev))


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    entries = session.info.pop(_PENDING, None)
    if entries:
        _append(session, entries)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without commit: its rows go with it
        session.info.pop(_PENDING, None)


# ---------------------------------------------------------------------------------------------- reading


async def head(db_session: AsyncSession) -> AuditHead:
    row = await db_session.get(AuditHead, 1)
    if row is None:
        raise RuntimeError("audit_head is missing: run `gridhub db upgrade`")
    return row


@dataclass(slots=True)
class Verdict:
    """What ``verify`` found: ``ok``, the rows checked, the head, and the first bad row with the reason."""

    ok: bool
    rows: int
    first_seq: int | None
    last_seq: int | None
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    reason: str = ""


async def _batches(db_session: AsyncSession, after: int, size: int) -> AsyncIterator[list[Any]]:
    table = AuditEntry.__table__
    while True:
        result = await db_session.execute(select(table).where(table.c.seq > after).order_by(table.c.seq).limit(size))
        rows = result.all()
        if not rows:
            return
        yield rows
        after = rows[-1].seq


async def verify(db_session: AsyncSession, *, batch_size: int = 5000) -> Verdict:
    """Walk the chain in ``seq`` order from its anchor; stop at the first row that does not hold."""
    top = await head(db_session)
    verdict = Verdict(ok=True, rows=0, first_seq=None, last_seq=None, head_seq=top.seq, head_hash=top.hash)

    def bad(seq: int | None, reason: str) -> Verdict:
        verdict.ok, verdict.bad_seq, verdict.reason = False, seq, reason
        verdict.rows = expected_seq - 1 - top.base_seq  # the rows that held, before this one
        return verdict

    expected_seq, prev = top.base_seq + 1, top.base_hash
    anchor_recorded = top.base_seq == 0
    async for rows in _batches(db_session, top.base_seq, batch_size):
        for row in rows:
            # Columns in table order: seq, at, actor_id, actor_name, address, kind, target, outcome, detail,
            # prev_hash, hash (tuple unpacking: this loop runs a million times on a large trail).
            seq, at, actor_id, actor_name, address, kind, target, outcome, detail, prev_hash, stored = row
            if seq != expected_seq:
                if seq > expected_seq:
                    return bad(expected_seq, f"row {expected_seq} is missing (deleted): the next row is {seq}")
                return bad(seq, f"row {seq} lies before the chain's anchor {top.base_seq}")
            if prev_hash != prev:
                return bad(
                    seq,
                    f"row {seq} does not link to row {seq - 1} (prev_hash differs): "
                    "a row was edited and rehashed, replaced, or moved",
                )
            digest = _digest(seq, at, actor_id, actor_name, address, kind, target, outcome, detail, prev_hash)
            if digest != stored:
                return bad(seq, f"row {seq} does not match its hash: its content was edited or moved")
            if kind == "audit.prune" and not anchor_recorded:
                anchor_recorded = _prune_matches(detail, top.base_seq, top.base_hash)
            expected_seq, prev = seq + 1, digest
        if verdict.first_seq is None:
            verdict.first_seq = rows[0].seq
        verdict.last_seq, verdict.rows = expected_seq - 1, expected_seq - 1 - top.base_seq
    if expected_seq - 1 != top.seq or prev != top.hash:
        if expected_seq - 1 < top.seq:
            return bad(expected_seq, f"rows {expected_seq}..{top.seq} are missing (deleted): the head says {top.seq}")
        if expected_seq - 1 > top.seq:
            return bad(top.seq + 1, f"rows {top.seq + 1}..{expected_seq - 1} lie beyond the head ({top.seq}): added")
        return bad(top.seq, f"row {top.seq} does not match the head's hash: the last row was replaced")
    if not anchor_recorded:
        return bad(
            top.base_seq + 1,
            f"the chain starts after row {top.base_seq} but no audit.prune row records that anchor",
        )
    return verdict


def _prune_matches(detail: str, base_seq: int, base_hash: str) -> bool:
    try:
        data = json.loads(detail)
    except ValueError:
        return False
    return data.get("through_seq") == base_seq and data.get("anchor_hash") == base_hash


# ---------------------------------------------------------------------------------------------- retention


async def prune(db_session: AsyncSession, *, before: datetime, max_rows: int = 100_000) -> int:
    """Delete the oldest rows written before ``before`` (at most ``max_rows``), keeping the chain verifiable.

    The rows go oldest first (a prefix of the chain); the head's anchor moves to the last deleted row and an
    ``audit.prune`` row in the chain records that anchor. Commits; returns how many rows went.
    """
    table, head_table = AuditEntry.__table__, AuditHead.__table__
    # Lock the head first: two hubs pruning at once take turns (the second finds nothing left to do).
    await db_session.execute(update(head_table).where(head_table.c.id == 1).values(base_seq=head_table.c.base_seq))
    top = await head(db_session)
    first_young = await db_session.scalar(
        select(table.c.seq).where(table.c.seq > top.base_seq, table.c.at >= before).order_by(table.c.seq).limit(1)
    )
    # seq is gap-free: the prefix to delete ends before the first young row, at most max_rows long.
    through = min(first_young - 1 if first_young is not None else top.seq, top.base_seq + max_rows)
    if through <= top.base_seq:
        return 0
    anchor_hash = await db_session.scalar(select(table.c.hash).where(table.c.seq == through))
    if anchor_hash is None:
        raise RuntimeError(f"audit row {through} is missing: run `gridhub audit verify`")
    count = through - top.base_seq
    await record(
        db_session,
        kind="audit.prune",
        actor_id=None,
        actor_name="gridhub",
        address=None,
        target=f"audit:{top.base_seq + 1}-{through}",
        detail={"through_seq": through, "anchor_hash": anchor_hash, "rows": count, "before": at_text(before)},
    )
    await db_session.execute(delete(table).where(table.c.seq <= through))
    await db_session.execute(
        update(head_table).where(head_table.c.id == 1).values(base_seq=through, base_hash=anchor_hash)
    )
    await db_session.commit()
    return count
