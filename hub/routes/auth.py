"""POST /api/v1/auth/login, /logout, /password and GET /me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dispatch import users
from dispatch.passwords import COMPLEXITY_PATTERN, MIN_LENGTH
from dispatch.schemas import Storable
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
async def login(body: LoginIn, db_session: SessionDep, settings: SettingsDep) -> TokenOut:
    """Exchange a username and password for a bearer token (accounts lock after repeated failures)."""
    user = await users.authenticate(
        db_session=db_session,
        username=body.username,
        password=body.password,
        max_failures=settings.login_max_failures,
        lockout_minutes=settings.login_lockout_minutes,
    )
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
    body: PasswordChangeIn, user: LoggedInUser, db_session: SessionDep, settings: SettingsDep, realtime: RealtimeDep
) -> TokenOut:
    """Change your own password. Every other session of the account ends; the answer carries a new token."""
    await users.change_password(
        db_session=db_session, user=user, old_password=body.old_password, new_password=body.new_password
    )
    await db_session.commit()
    await realtime.revoke_user(user.id)
    token = issue_token(user, secret=settings.signing_key, ttl_minutes=settings.token_ttl_minutes)
    return TokenOut(access_token=token, expires_in=settings.token_ttl_minutes * 60)


@router.post("/logout", status_code=204)
async def logout(user: LoggedInUser, db_session: SessionDep, realtime: RealtimeDep) -> None:
    """Invalidate every token of the current user and close their live connections on every hub."""
    await users.logout(db_session=db_session, user=user)
    await realtime.revoke_user(user.id)


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
