"""Accounts: creation with a complexity check, login with lockout (MLPS level 2), logout."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import jurisdictions
from dispatch.db import Timestamp, utcnow
from dispatch.errors import AccountLocked, AuthenticationFailed, Conflict, InvalidInput, LockedOut
from dispatch.models import Role, User
from dispatch.passwords import check_complexity, hash_password, verify_password_async

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
    """The user for a correct username and password; counts failures and locks the account.

    Each attempt is counted *before* the (slow) password check, in one atomic UPDATE … RETURNING, so parallel
    attempts cannot read the same counter: once ``max_failures`` are counted the account is locked and every
    further attempt is refused without its password being checked. A correct password gives its count back.
    Unknown, inactive and locked accounts are refused like a wrong password, after the same argon2 work (a
    check against a dummy hash), so neither the answer nor its timing tells them apart.
    """
    now = utcnow()
    after = User.failed_logins + 1
    locks = after >= max_failures
    until = literal(now + timedelta(minutes=lockout_minutes), Timestamp())
    reserved = (
        await db_session.execute(
            update(User)
            .where(
                User.username == username,
                User.is_active.is_(True),
                or_(User.locked_until.is_(None), User.locked_until <= now),
            )
            .values(
                failed_logins=case((locks, 0), else_=after),
                locked_until=case((locks, until), else_=null()),
            )
            .returning(User.id, User.password_hash, User.failed_logins)
            .execution_options(synchronize_session=False)
        )
    ).first()
    await db_session.commit()
    if reserved is None:
        await verify_password_async(_DUMMY_HASH, password)
        locked_until = await db_session.scalar(
            select(User.locked_until).where(User.username == username, User.is_active.is_(True))
        )
        if locked_until is not None and locked_until > now:
            raise AccountLocked("wrong username or password")
        raise AuthenticationFailed("wrong username or password")
    user_id, password_hash, count = reserved
    if not await verify_password_async(password_hash, password):
        # A count of 0 after the increment: this attempt reached the limit and locked the account.
        raise (LockedOut if count == 0 else AuthenticationFailed)("wrong username or password")
    await db_session.execute(
        update(User)
        .where(User.id == user_id)
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    await db_session.commit()
    user = await db_session.scalar(select(User).where(User.id == user_id).execution_options(populate_existing=True))
    assert user is not None
    return user


async def logout(*, db_session: AsyncSession, user: User) -> None:
    """Invalidate every token of the user (they carry the generation)."""
    user.token_generation += 1
    await db_session.commit()
