"""POST /api/v1/auth/login, /logout, /password and GET /me."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import audit, users
from dispatch.errors import AccountLocked, AuthenticationFailed, LockedOut, WrongPassword
from dispatch.models import User
from dispatch.schemas import NewPassword, Storable
from hub.auditing import actor, address_of, record_refusal
from hub.deps import LoggedInUser, RealtimeDep, SessionDep, SettingsDep
from hub.metrics import LOGIN_FAILURES, LOGIN_LOCKOUTS
from hub.openapi import errors
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
        NewPassword, Field(description="At least 8 characters with an ASCII letter and a digit, not the current one.")
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


LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "wrong username or password, or the account is locked or inactive (answered alike)"},
    429: {
        "description": "too many login attempts from this address or for this username",
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    },
}


@router.post("/login", response_model=TokenOut, responses=LOGIN_RESPONSES)
async def login(body: LoginIn, request: Request, db_session: SessionDep, settings: SettingsDep) -> TokenOut:
    """Exchange a username and password for a bearer token.

    Accounts lock after repeated failures; attempts are rate-limited per client address and per username
    (429 with Retry-After). A locked, inactive or unknown account is answered exactly like a wrong password.
    """
    wait = await request.app.state.login_limiter.hit(address=address_of(request), username=body.username)
    if wait is not None:
        detail = {"reason": "rate limited", "retry_after_s": wait}
        await record_refusal(request, kind="auth.login_failed", actor_name=body.username, detail=detail)
        raise HTTPException(
            status_code=429,
            detail=f"too many login attempts: retry after {wait} s",
            headers={"Retry-After": str(wait)},
        )
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
        **errors(
            s403="The current password is wrong (`wrong_password`).",
            s409="The new password is the current one.",
        ),
        429: LOGIN_RESPONSES[429],
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
    """Change your own password. Every other session of the account ends; the answer carries a new token.

    Attempts count against the same per-address and per-username limit as logins (429 with Retry-After).
    """
    wait = await request.app.state.login_limiter.hit(address=address_of(request), username=user.username)
    if wait is not None:
        raise HTTPException(
            status_code=429,
            detail=f"too many password attempts: retry after {wait} s",
            headers={"Retry-After": str(wait)},
        )
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
    LOGIN_FAILURES.inc()
    if isinstance(exc, LockedOut):
        LOGIN_LOCKOUTS.inc()
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
