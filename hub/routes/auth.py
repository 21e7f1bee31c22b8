"""POST /api/v1/auth/login, /logout and GET /me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dispatch import users
from dispatch.schemas import Storable
from hub.deps import CurrentUser, RealtimeDep, SessionDep, SettingsDep
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


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    jurisdiction_code: str
    jurisdiction_name: str
    jurisdiction_level: str


@router.post(
    "/login",
    response_model=TokenOut,
    responses=errors(s401="Wrong username or password.", s423="The account is locked after too many failed logins."),
)
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
    return TokenOut(access_token=token, expires_in=settings.token_ttl_minutes * 60)


@router.post("/logout", status_code=204)
async def logout(user: CurrentUser, db_session: SessionDep, realtime: RealtimeDep) -> None:
    """Invalidate every token of the current user and close their live connections on every hub."""
    await users.logout(db_session=db_session, user=user)
    await realtime.revoke_user(user.id)


@router.get("/me", response_model=MeOut)
async def me(user: CurrentUser) -> MeOut:
    return MeOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        jurisdiction_code=user.jurisdiction_code,
        jurisdiction_name=user.jurisdiction.name,
        jurisdiction_level=user.jurisdiction.level,
    )
