"""Accounts over the API (DESIGN section 9): GET/POST /api/v1/users, PATCH /api/v1/users/{id}.

Everyone lists the accounts inside their own jurisdiction subtree (the assignee picker); administrators
create and edit them there. A change of role, jurisdiction or active state, or a password reset, ends
the account's sessions: its token generation moves on (dispatch/users.py) and its live sockets are
closed on every hub (``Realtime.revoke_user``, contract C2).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from dispatch import audit, users
from dispatch.models import Role, Source, User
from dispatch.passwords import generate_password
from dispatch.schemas import NewPassword, Storable, storable_text
from dispatch.service import DISPATCH_ROLES
from hub.auditing import actor
from hub.deps import AdminUser, CurrentUser, RealtimeDep, SessionDep
from hub.openapi import errors

router = APIRouter(prefix="/api/v1/users", tags=["users"])

UserId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The account id.")]
Username = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
DisplayName = Annotated[str, Field(min_length=1, max_length=100)]
Phone = Annotated[str, Field(max_length=32, pattern=r"^[0-9+() -]*$")]
JurisdictionCode = Annotated[str, Field(min_length=1, max_length=32)]
Password = NewPassword


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    jurisdiction_code: str
    jurisdiction_name: str
    phone: str | None = Field(description="Shown to dispatchers and administrators only.")
    is_active: bool
    must_change_password: bool
    report_source: str | None = Field(description="The fixed source of this account's reports (service accounts).")
    locked_until: datetime | None
    created_at: datetime


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    page: int
    page_size: int


class UserWritten(UserOut):
    temporary_password: str | None = Field(
        default=None, description="Shown once, when gridhub generated the password; the account must change it."
    )


def user_out(user: User, viewer: User, temporary_password: str | None = None) -> UserWritten:
    return UserWritten(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        jurisdiction_code=user.jurisdiction_code,
        jurisdiction_name=user.jurisdiction.name,
        phone=user.phone if viewer.role in DISPATCH_ROLES else None,
        is_active=user.is_active,
        must_change_password=user.must_change_password,
        report_source=user.report_source,
        locked_until=user.locked_until,
        created_at=user.created_at,
        temporary_password=temporary_password,
    )


class UserCreateIn(Storable):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "town01_worker_17",
                    "display_name": "网格员张伟",
                    "role": "responder",
                    "jurisdiction_code": "330110001001001",
                    "phone": "13800000017",
                },
                {"username": "hotline12345", "role": "service", "report_source": "hotline"},
            ]
        },
    )
    username: Username
    role: Role
    jurisdiction_code: JurisdictionCode | None = Field(default=None, description="Default: your own jurisdiction.")
    display_name: DisplayName | None = None
    phone: Phone | None = None
    password: Password | None = Field(
        default=None, description="Default: a temporary password, answered once as temporary_password."
    )
    must_change_password: bool = Field(default=True, description="Change the password at the first login.")
    report_source: Source | None = Field(
        default=None, description="Fix the source of every report of this account (required for role service)."
    )


class UserPatchIn(Storable):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"role": "dispatcher", "jurisdiction_code": "330110001"}, {"reset_password": True}]
        },
    )
    role: Role | None = None
    jurisdiction_code: JurisdictionCode | None = None
    is_active: bool | None = None
    display_name: DisplayName | None = None
    phone: Phone | None = None
    report_source: Source | None = None
    must_change_password: bool | None = None
    reset_password: bool = Field(
        default=False,
        description="Set a temporary password (answered once) that must be changed at the next login.",
    )


@router.get(
    "",
    response_model=UserPage,
    responses=errors(
        s403="The jurisdiction lies above your own, or the account must change its password first.",
        s404="Unknown jurisdiction, or outside yours.",
    ),
)
async def list_users(
    user: CurrentUser,
    db_session: SessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    role: Annotated[Role | None, Query()] = None,
    jurisdiction: Annotated[
        str | None, Query(min_length=1, max_length=32, description="Only this node's subtree (inside your own).")
    ] = None,
    active: Annotated[bool, Query(description="Active accounts (default) or deactivated ones.")] = True,
    q: Annotated[
        str | None, AfterValidator(storable_text), Query(max_length=100, description="Text in username or name.")
    ] = None,
) -> UserPage:
    """Accounts inside your jurisdiction subtree, by id (the assignee picker; the admin's account list)."""
    filters = users.UserFilter(
        role=role.value if role else None, jurisdiction_code=jurisdiction, active=active, text=q or None
    )
    rows, total = await users.list_users(
        db_session=db_session, viewer=user, filters=filters, page=page, page_size=page_size
    )
    return UserPage(items=[user_out(u, user) for u in rows], total=total, page=page, page_size=page_size)


@router.post(
    "",
    response_model=UserWritten,
    status_code=201,
    responses=errors(
        s403="Not an administrator, or the jurisdiction lies above your own.",
        s404="Unknown jurisdiction, or outside yours.",
        s409="The username is taken, or a service account without `report_source`.",
    ),
)
async def create_user(body: UserCreateIn, admin: AdminUser, db_session: SessionDep) -> UserWritten:
    """Create an account inside your jurisdiction (admin). Without a password, a temporary one is answered once."""
    code = body.jurisdiction_code or admin.jurisdiction_code
    await users.node_in_subtree(db_session, admin, code)
    temporary = None if body.password is not None else generate_password()
    created = await users.new_user(
        db_session=db_session,
        username=body.username,
        password=body.password if body.password is not None else temporary,
        role=body.role.value,
        jurisdiction_code=code,
        display_name=body.display_name,
        phone=body.phone,
        report_source=body.report_source.value if body.report_source else None,
        must_change_password=body.must_change_password or temporary is not None,
    )
    detail = {
        "username": created.username,
        "role": created.role,
        "jurisdiction_code": created.jurisdiction_code,
        "report_source": created.report_source,
        "must_change_password": created.must_change_password,
        "temporary_password": temporary is not None,
    }
    await audit.record(
        db_session, kind="user.create", **actor(admin), address=None, target=f"user:{created.id}", detail=detail
    )
    await db_session.commit()
    return user_out(created, admin, temporary)


@router.patch(
    "/{user_id}",
    response_model=UserWritten,
    responses=errors(
        s403="Not an administrator, or the jurisdiction lies above your own.",
        s404="Unknown account or jurisdiction, or outside yours.",
        s409="The change would leave part of the tree without an active administrator (`last_admin`), or makes "
        "a service account without `report_source`.",
    ),
)
async def update_user(
    user_id: UserId, body: UserPatchIn, admin: AdminUser, db_session: SessionDep, realtime: RealtimeDep
) -> UserWritten:
    """Edit an account inside your jurisdiction (admin).

    A change of role, jurisdiction or active state, or a reset, ends the account's sessions (tokens and sockets).
    """
    target = await users.managed_user(db_session=db_session, admin=admin, user_id=user_id)
    changes = users.UserChanges(
        role=body.role.value if body.role else None,
        jurisdiction_code=body.jurisdiction_code,
        is_active=body.is_active,
        display_name=body.display_name,
        phone=body.phone,
        report_source=body.report_source.value if body.report_source else None,
        must_change_password=body.must_change_password,
        reset_password=body.reset_password,
    )
    update = await users.update_user(db_session=db_session, admin=admin, target=target, changes=changes)
    edited = {field: [old, new] for field, (old, new) in update.changed.items() if field != "password"}
    if edited:
        await audit.record(
            db_session,
            kind="user.update",
            **actor(admin),
            address=None,
            target=f"user:{target.id}",
            detail={"changed": edited, "sessions_ended": update.revoked},
        )
    if update.temporary_password is not None:
        await audit.record(
            db_session, kind="user.password_reset", **actor(admin), address=None, target=f"user:{target.id}"
        )
    await db_session.commit()
    if update.revoked:  # its tokens died with the commit; now its live sockets on every hub (contract C2)
        await realtime.revoke_user(target.id)
    return user_out(target, admin, update.temporary_password)
