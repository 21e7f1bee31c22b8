"""POST /api/v1/auth/login, /logout, /password and GET /me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import audit, users
from dispatch.errors import AccountLocked, AuthenticationFailed, LockedOut, WrongPassword
from dispatch.models import User
from dispatch.passwords import COMPLEXITY_PATTERN, MIN_LENGTH
from dispatch.schemas import Storable
from hub.auditing import actor, record_refusal
from hub.deps import LoggedInUser, RealtimeDep, SessionDep, SettingsDep
from hub.security import issue_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(Storable):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"username": "town01_dispatcher", "password": "Gridhub2026"}]}
    )
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=200)]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    must_change_password: bool = Field(
        default=False,
        description="True: this token opens only /auth/me, /auth/password and /auth/logout until the password "
        "is changed (every other route answers 403 password_change_required).",
    )


class PasswordChangeIn(Storable):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"old_password": "Gridhub2026", "new_password": "Zhang2026spring"}]},
    )
    old_password: Annotated[str, Field(min_length=1, max_length=200)]
    new_password: Annotated[
        str,
        Field(
            min_length=MIN_LENGTH,
            max_length=200,
            json_schema_extra={"pattern": COMPLEXITY_PATTERN},
            description="At least 8 characters with an ASCII letter and a digit, not the current password.",
        ),
    ]


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    jurisdiction_code: str
    jurisdiction_name: str
    jurisdiction_level: str
    must_change_password: bool


@router.post("/login", response_model=TokenOut, responses={401: {"description": "wrong credentials"}})
async def login(body: LoginIn, request: Request, db_session: SessionDep, settings: SettingsDep) -> TokenOut:
    """Exchange a username and password for a bearer token (accounts lock after repeated failures)."""
    try:
        user = await users.authenticate(
            db_session=db_session,
            username=body.username,
            password=body.password,
            max_failures=settings.login_max_failures,
            lockout_minutes=settings.login_lockout_minutes,
        )
    except (AuthenticationFailed, AccountLocked) as exc:
        await _record_failure(request, db_session, body.username, exc)
        raise
    await audit.record(db_session, kind="auth.login", **actor(user), address=None, target=f"user:{user.id}")
    await db_session.commit()
    token = issue_token(user, secret=settings.signing_key, ttl_minutes=settings.token_ttl_minutes)
    return TokenOut(
        access_token=token, expires_in=settings.token_ttl_minutes * 60, must_change_password=user.must_change_password
    )


@router.post(
    "/password",
    response_model=TokenOut,
    responses={
        401: {"description": "not logged in, or the token is no longer valid"},
        403: {"description": "the current password is wrong (wrong_password)"},
        409: {"description": "the new password is the current one"},
    },
)
async def change_password(
    body: PasswordChangeIn,
    request: Request,
    user: LoggedInUser,
    db_session: SessionDep,
    settings: SettingsDep,
    realtime: RealtimeDep,
) -> TokenOut:
    """Change your own password. Every other session of the account ends; the answer carries a new token."""
    try:
        await users.change_password(
            db_session=db_session, user=user, old_password=body.old_password, new_password=body.new_password
        )
    except WrongPassword:
        await record_refusal(
            request,
            kind="user.password_change",
            user=user,
            outcome="failed",
            target=f"user:{user.id}",
            detail={"reason": "wrong current password"},
        )
        raise
    await audit.record(db_session, kind="user.password_change", **actor(user), address=None, target=f"user:{user.id}")
    await db_session.commit()
    await realtime.revoke_user(user.id)
    token = issue_token(user, secret=settings.signing_key, ttl_minutes=settings.token_ttl_minutes)
    return TokenOut(access_token=token, expires_in=settings.token_ttl_minutes * 60)


@router.post("/logout", status_code=204)
async def logout(user: LoggedInUser, db_session: SessionDep, realtime: RealtimeDep) -> None:
    """Invalidate every token of the current user and close their live connections on every hub."""
    await audit.record(db_session, kind="auth.logout", **actor(user), address=None, target=f"user:{user.id}")
    await users.logout(db_session=db_session, user=user)
    await realtime.revoke_user(user.id)


async def _record_failure(request: Request, db_session: AsyncSession, username: str, exc: Exception) -> None:
    """auth.login_failed for every refused login, and auth.lockout for the failure that locked the account."""
    user_id = await db_session.scalar(select(User.id).where(User.username == username))
    reason = "locked" if isinstance(exc, AccountLocked) else "wrong username or password"
    who = {"actor_id": user_id, "actor_name": username, "target": f"user:{user_id}" if user_id else None}
    await record_refusal(request, kind="auth.login_failed", outcome="failed", detail={"reason": reason}, **who)
    if isinstance(exc, LockedOut):
        await record_refusal(request, kind="auth.lockout", outcome="ok", detail={"after": "repeated failures"}, **who)


@router.get("/me", response_model=MeOut)
async def me(user: LoggedInUser) -> MeOut:
    return MeOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        jurisdiction_code=user.jurisdiction_code,
        jurisdiction_name=user.jurisdiction.name,
        jurisdiction_level=user.jurisdiction.level,
        must_change_password=user.must_change_password,
    )
