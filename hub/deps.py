"""Named dependencies, read like types in every route: SessionDep, CurrentUser, AppTaxonomy, roles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from dispatch import audit
from dispatch.errors import PasswordChangeRequired
from dispatch.models import Role, User
from dispatch.taxonomy import Taxonomy
from hub.auditing import address_of, record_refusal
from hub.realtime import Realtime
from hub.security import InvalidToken, decode_token
from hub.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="The access_token from POST /api/v1/auth/login.")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.session_factory() as session:
        session.info[audit.ADDRESS_KEY] = address_of(request)  # audit rows of this request name the client
        yield session


def get_taxonomy(request: Request) -> Taxonomy:
    return request.app.state.taxonomy


def get_realtime(request: Request) -> Realtime:
    return request.app.state.realtime


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
AppTaxonomy = Annotated[Taxonomy, Depends(get_taxonomy)]
#: The realtime hub: ``await realtime.revoke_user(user.id)`` after committing an account change (C2).
RealtimeDep = Annotated[Realtime, Depends(get_realtime)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Bearer"})


async def get_logged_in_user(
    request: Request,
    db_session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise _unauthorized("log in first: Authorization: Bearer <access_token>")
    return await _user_of_token(request, credentials.credentials, db_session, settings)


async def get_media_user(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None,
        Query(max_length=4096, description="The access token, for <img>/<video> tags that cannot send headers."),
    ] = None,
) -> User:
    """The user of a media route: the bearer header, or ``?token=`` (img/video tags cannot send headers).

    Looked up in a session of its own, closed at once: a stream may last hours and must not hold a
    pooled database connection meanwhile.
    """
    raw = credentials.credentials if credentials is not None else token
    if not raw:
        raise _unauthorized("log in first: Authorization: Bearer <access_token> or ?token=<access_token>")
    async with request.app.state.session_factory() as db_session:
        return refuse_password_change(await _user_of_token(request, raw, db_session, settings))


async def media_user_of(connection: HTTPConnection, raw: str | None) -> User:
    """The user of a raw token on a WebSocket (or any connection), in a session of its own; 401 HTTPException."""
    if not raw:
        raise _unauthorized("log in first: ?token=<access_token>")
    async with connection.app.state.session_factory() as db_session:
        return refuse_password_change(await _user_of_token(connection, raw, db_session, connection.app.state.settings))


async def _user_of_token(request: HTTPConnection, raw: str, db_session: AsyncSession, settings: Settings) -> User:
    try:
        claims = decode_token(raw, secret=settings.signing_key)
    except InvalidToken:
        await record_refusal(request, kind="auth.token_refused", detail={"reason": "invalid or expired"})
        raise _unauthorized("the access token is invalid or expired") from None
    user = await db_session.scalar(select(User).where(User.id == claims.user_id))
    if user is None or not user.is_active or user.token_generation != claims.generation:
        reason = "unknown user" if user is None else "inactive" if not user.is_active else "revoked (logged out)"
        await record_refusal(
            request,
            kind="auth.token_refused",
            actor_id=claims.user_id,
            actor_name=user.username if user else None,
            detail={"reason": reason},
        )
        raise _unauthorized("the access token is no longer valid: log in again")
    request.state.user = user  # who a later refusal (403) is recorded against
    return user


#: Any logged-in account, also one that must change its password (only /auth/me, /password, /logout take it).
LoggedInUser = Annotated[User, Depends(get_logged_in_user)]


def refuse_password_change(user: User) -> User:
    """``user``, unless it must change its password first (403 ``password_change_required``)."""
    if user.must_change_password:
        raise PasswordChangeRequired(
            "this account must change its password first: POST /api/v1/auth/password", user_id=user.id
        )
    return user


async def get_current_user(user: LoggedInUser) -> User:
    """The logged-in account, refused until it changes a password it must change."""
    return refuse_password_change(user)


CurrentUser = Annotated[User, Depends(get_current_user)]
MediaUser = Annotated[User, Depends(get_media_user)]


class RequireRole:
    """A permission as a dependency: the current user must hold one of the roles."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(r.value for r in roles)

    async def __call__(self, user: CurrentUser) -> User:
        if user.role not in self.roles:
            raise HTTPException(status_code=403, detail=f"needs role {' or '.join(sorted(self.roles))}")
        return user


AdminUser = Annotated[User, Depends(RequireRole(Role.ADMIN))]
