"""Whether the account behind a ``/ws`` token still stands: active, same token generation, role and jurisdiction.

A token is signed for 12 h, but a logout, a deactivation or a role or jurisdiction change must end what it
opened at once. The endpoint checks the account in the database on every (re)connect; the fan-out checks a
user's sockets again when a revocation for that user arrives on the bus (``Realtime.revoke_user``), all of
its sockets after the bus reconnects (a revocation may have been missed meanwhile) and every
``ws_account_recheck_s``. Connects arrive in bursts (a hub restart reconnects thousands of phones), so the
checks that arrive while a query runs share the next one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dispatch.models import Jurisdiction, User
from hub.security import TokenClaims

#: Users per ``IN (…)`` query.
CHUNK = 500


@dataclass(frozen=True, slots=True)
class AccountState:
    is_active: bool
    token_generation: int
    role: str
    jurisdiction_code: str
    jurisdiction_path: str
    #: The account may only change its password (hub/deps.py refuses every other route too).
    must_change_password: bool = False


def refusal(claims: TokenClaims, state: AccountState | None, *, now: float | None = None) -> str | None:
    """Why ``claims`` no longer hold for the account (a close reason), or None while they do."""
    if state is None:
        return "unknown account"
    if not state.is_active:
        return "account deactivated"
    if state.must_change_password:
        return "password change required"
    if state.token_generation != claims.generation:
        return "token revoked"
    if state.role != claims.role:
        return "role changed: log in again"
    if state.jurisdiction_code != claims.jurisdiction_code or state.jurisdiction_path != claims.jurisdiction_path:
        return "jurisdiction changed: log in again"
    if claims.expires_at and claims.expires_at <= (time.time() if now is None else now):
        return "token expired"
    return None


class AccountChecker:
    """Loads account states; concurrent connect checks share queries (one in flight, the rest wait for the
    next), so a lone connect is checked at once and a burst of thousands costs a few queries."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory
        self._waiting: list[tuple[int, asyncio.Future[AccountState | None]]] = []
        self._loader: asyncio.Task[None] | None = None

    async def states(self, user_ids: Iterable[int]) -> dict[int, AccountState]:
        """The current state of each existing account among ``user_ids`` (a fresh read, not batched)."""
        wanted = sorted(set(user_ids))
        found: dict[int, AccountState] = {}
        async with self.session_factory() as session:
            for start in range(0, len(wanted), CHUNK):
                rows = await session.execute(
                    select(
                        User.id,
                        User.is_active,
                        User.token_generation,
                        User.role,
                        User.jurisdiction_code,
                        Jurisdiction.path,
                        User.must_change_password,
                    )
                    .join(Jurisdiction, Jurisdiction.code == User.jurisdiction_code)
                    .where(User.id.in_(wanted[start : start + CHUNK]))
                )
                for user_id, active, generation, role, code, path, must_change in rows:
                    found[user_id] = AccountState(bool(active), generation, role, code, path, bool(must_change))
        return found

    async def check(self, claims: TokenClaims) -> str | None:
        """Why the token no longer holds (see ``refusal``), or None."""
        future: asyncio.Future[AccountState | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((claims.user_id, future))
        if self._loader is None:
            self._loader = asyncio.get_running_loop().create_task(self._load())
        return refusal(claims, await future)

    async def _load(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:CHUNK], self._waiting[CHUNK:]
                try:
                    found = await self.states(user_id for user_id, _ in batch)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for user_id, future in batch:
                    if not future.done():
                        future.set_result(found.get(user_id))
        finally:
            self._loader = None
