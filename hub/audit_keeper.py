"""The audit trail's upkeep in the hub: prune rows past retention and log the chain's head, once an hour.

Runs under ``hub.tasks.supervise``. Logging the head hash (``gridhub.audit``) puts an anchor outside the
database: a chain rebuilt later by someone with database access no longer contains a head logged earlier.
Several hubs may run it at once: pruning serialises on the chain's head row like every append.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch import audit
from dispatch.db import utcnow

log = logging.getLogger("gridhub.audit")

#: How often the hub prunes and logs the head.
INTERVAL_S = 3600.0


async def maintain_once(session_factory: async_sessionmaker[AsyncSession], retention_days: int) -> int:
    """Prune what is past retention (in bounded batches) and log the head; returns the rows pruned."""
    before = utcnow() - timedelta(days=retention_days)
    pruned = 0
    while True:
        async with session_factory() as db_session:
            count = await audit.prune(db_session, before=before)
        pruned += count
        if count == 0:
            break
    async with session_factory() as db_session:
        head = await audit.head(db_session)
    if pruned:
        log.info("audit trail: pruned %d rows older than %d days", pruned, retention_days)
    log.info("audit head seq=%d hash=%s (anchor seq=%d)", head.seq, head.hash, head.base_seq)
    return pruned


async def keep_audit(
    session_factory: async_sessionmaker[AsyncSession], retention_days: int, interval_s: float = INTERVAL_S
) -> None:
    while True:
        await maintain_once(session_factory, retention_days)
        await asyncio.sleep(interval_s)
