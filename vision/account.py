"""The detection worker's own account (contract C3): every candidate event is reported by it."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import jurisdictions
from dispatch.models import User

USERNAME = "vision"
SOURCE = "detection"


async def service_account(db_session: AsyncSession) -> User:
    """The ``vision`` service account at the root of the tree, created when missing (idempotent)."""
    root = await jurisdictions.root(db_session=db_session)
    try:
        from dispatch.users import ensure_service_account  # contract C3 (accounts)
    except ImportError:  # pragma: no cover - until C3 is on main
        return await _fallback_account(db_session, root.code)
    return await ensure_service_account(db_session, username=USERNAME, source=SOURCE, jurisdiction_code=root.code)


async def _fallback_account(db_session: AsyncSession, root_code: str) -> User:  # pragma: no cover
    from dispatch.passwords import hash_password

    user = await db_session.scalar(select(User).where(User.username == USERNAME))
    if user is None:
        user = User(
            username=USERNAME,
            display_name="视频智能发现(系统)",
            password_hash=hash_password(secrets.token_urlsafe(32) + "Aa1"),
            role="leader",
            jurisdiction_code=root_code,
        )
        db_session.add(user)
        await db_session.commit()
    return user
