"""Accounts: creation with a complexity check, login with lockout (MLPS level 2), logout."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import jurisdictions
from dispatch.db import utcnow
from dispatch.errors import AccountLocked, AuthenticationFailed, Conflict, InvalidInput, LockedOut
from dispatch.models import Role, User
from dispatch.passwords import check_complexity, hash_password, verify_password

#: Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = hash_password("not-a-real-password-0")


async def create_user(
    *,
    db_session: AsyncSession,
    username: str,
    password: str,
    role: str,
    jurisdiction_code: str | None = None,
    display_name: str | None = None,
    phone: str | None = None,
) -> User:
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}", field="role")
    check_complexity(password)
    if await db_session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken")
    node = (
        await jurisdictions.get_jurisdiction(db_session=db_session, code=jurisdiction_code)
        if jurisdiction_code
        else await jurisdictions.root(db_session=db_session)
    )
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        jurisdiction_code=node.code,
        phone=phone,
    )
    db_session.add(user)
    await db_session.commit()
    await db_session.refresh(user)
    return user


async def authenticate(
    *, db_session: AsyncSession, username: str, password: str, max_failures: int, lockout_minutes: int
) -> User:
    """The user for a correct username and password; counts failures and locks the account."""
    user = await db_session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        verify_password(_DUMMY_HASH, password)
        raise AuthenticationFailed("wrong username or password")
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked(
            f"too many failed logins: the account is locked until {user.locked_until.isoformat()}",
            locked_until=user.locked_until.isoformat(),
        )
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        locked = user.failed_logins >= max_failures
        if locked:
            user.locked_until, user.failed_logins = now + timedelta(minutes=lockout_minutes), 0
        await db_session.commit()
        raise (LockedOut if locked else AuthenticationFailed)("wrong username or password")
    if user.failed_logins or user.locked_until:
        user.failed_logins, user.locked_until = 0, None
        await db_session.commit()
    return user


async def logout(*, db_session: AsyncSession, user: User) -> None:
    """Invalidate every token of the user (they carry the generation)."""
    user.token_generation += 1
    await db_session.commit()
