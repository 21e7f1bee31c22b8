"""Accounts: creation with a complexity check, login with lockout (MLPS level 2), logout, and management.

Management (``new_user``, ``update_user``, ``change_password``) happens inside an administrator's
jurisdiction subtree: an account outside it is not found, a jurisdiction above it is refused, and no change
may leave part of the tree without an active administrator. These functions flush but do not commit: the
caller records the act (audit) in the same transaction and commits. Every change that alters what a token
stands for (role, jurisdiction, active, password) bumps ``token_generation``; ``update_user`` says whether
the caller must also close the account's live sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, func, literal, null, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import audit, jurisdictions
from dispatch.db import Timestamp, utcnow
from dispatch.errors import (
    AccountLocked,
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidInput,
    LastAdmin,
    LockedOut,
    NotFound,
    WrongPassword,
)
from dispatch.models import Jurisdiction, Role, Source, User
from dispatch.passwords import (
    check_complexity,
    generate_password,
    hash_password,
    hash_password_async,
    unusable_hash,
    verify_password_async,
)

#: Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH = hash_password("not-a-real-password-0")


def _check_role_and_source(role: str, report_source: str | None) -> None:
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}", field="role")
    if report_source is not None and report_source not in {s.value for s in Source}:
        raise InvalidInput(
            f"unknown source {report_source!r}: one of {', '.join(s.value for s in Source)}", field="report_source"
        )
    if role == Role.SERVICE.value and report_source is None:
        raise Conflict("a service account needs its report source (e.g. hotline, detection)", field="report_source")


async def new_user(
    *,
    db_session: AsyncSession,
    username: str,
    password: str | None,
    role: str,
    jurisdiction_code: str | None = None,
    display_name: str | None = None,
    phone: str | None = None,
    report_source: str | None = None,
    must_change_password: bool = False,
) -> User:
    """Add an account (flushed, not committed). ``password=None``: no usable password until a reset."""
    _check_role_and_source(role, report_source)
    if password is not None:
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
        password_hash=unusable_hash() if password is None else await hash_password_async(password),
        role=role,
        jurisdiction_code=node.code,
        phone=phone,
        report_source=report_source,
        must_change_password=must_change_password,
        is_active=True,
        failed_logins=0,
        token_generation=0,
    )
    user.jurisdiction = node
    db_session.add(user)
    await db_session.flush()
    return user


async def create_user(*, db_session: AsyncSession, **fields: object) -> User:
    """``new_user`` and commit (the command line)."""
    user = await new_user(db_session=db_session, **fields)  # type: ignore[arg-type]
    await db_session.commit()
    await db_session.refresh(user)
    return user


#: How a service account appears in timelines (its actions are read by dispatchers, in Chinese).
SERVICE_NAMES = {
    "detection": "视频智能发现(系统)",
    "hotline": "12345 热线(系统)",
    "department": "部门系统对接",
    "import": "历史数据导入",
    "citizen": "群众上报渠道(系统)",
    "grid_worker": "网格巡查系统",
    "dispatcher": "指挥中心系统",
}


def service_display_name(source: str) -> str:
    return SERVICE_NAMES.get(source, f"系统账号({source})")


async def ensure_service_account(
    db_session: AsyncSession, *, username: str, source: str, jurisdiction_code: str
) -> User:
    """The service account ``username`` reporting as ``source`` (contract C3); created when missing.

    Idempotent and safe when several processes call it at once; the account has no usable password (it
    is used in-process; give it one with a reset where a remote system must log in). Commits: call it
    while setting up, before other work in the same session. An existing account of that name that is
    not a service account is refused (Conflict) rather than silently turned into one.
    """
    _check_role_and_source(Role.SERVICE.value, source)
    for _attempt in range(2):
        user = await db_session.scalar(select(User).where(User.username == username))
        if user is not None:
            if user.role != Role.SERVICE.value:
                raise Conflict(f"{username!r} is a {user.role} account, not a service account")
            legacy_name = user.display_name == f"service: {user.report_source}"  # as created before 2026-11-29
            if user.report_source != source or legacy_name:
                user.report_source = source
                if legacy_name:
                    user.display_name = service_display_name(source)
                await db_session.commit()
            return user
        try:
            user = await new_user(
                db_session=db_session,
                username=username,
                password=None,
                role=Role.SERVICE.value,
                jurisdiction_code=jurisdiction_code,
                display_name=service_display_name(source),
                report_source=source,
            )
            await audit.record(
                db_session,
                kind="user.create",
                actor_id=None,
                actor_name="system",
                address=None,
                target=f"user:{user.id}",
                detail={"username": username, "role": Role.SERVICE.value, "report_source": source},
            )
            await db_session.commit()
            return user
        except IntegrityError:  # another process created it between our read and our insert
            await db_session.rollback()
    raise Conflict(f"could not create the service account {username!r}")


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


# ---------------------------------------------------------------------------------------------- management


@dataclass(frozen=True, slots=True)
class UserFilter:
    role: str | None = None
    jurisdiction_code: str | None = None
    active: bool | None = True
    text: str | None = None


async def node_in_subtree(db_session: AsyncSession, actor: User, code: str) -> Jurisdiction:
    """The jurisdiction ``code`` when it lies in ``actor``'s subtree: 403 above it, 404 unknown or beside it."""
    node = await db_session.get(Jurisdiction, code)
    if node is None:
        raise NotFound(f"jurisdiction {code!r} not found")
    if jurisdictions.contains(actor.jurisdiction.path, node.path):
        return node
    if jurisdictions.contains(node.path, actor.jurisdiction.path):
        raise Forbidden(f"jurisdiction {code!r} lies above your own", field="jurisdiction_code")
    raise NotFound(f"jurisdiction {code!r} not found")


async def list_users(
    *, db_session: AsyncSession, viewer: User, filters: UserFilter, page: int, page_size: int
) -> tuple[list[User], int]:
    """A page of the accounts inside the viewer's jurisdiction subtree (by id), and how many there are."""
    path = viewer.jurisdiction.path
    if filters.jurisdiction_code:
        path = (await node_in_subtree(db_session, viewer, filters.jurisdiction_code)).path
    query = (
        select(User)
        .join(Jurisdiction, User.jurisdiction_code == Jurisdiction.code)
        .where(Jurisdiction.path.startswith(path, autoescape=True))
    )
    if filters.role is not None:
        query = query.where(User.role == filters.role)
    if filters.active is not None:
        query = query.where(User.is_active.is_(filters.active))
    if filters.text:
        needle = filters.text.lower()
        query = query.where(
            or_(
                func.lower(User.username).contains(needle, autoescape=True),
                func.lower(User.display_name).contains(needle, autoescape=True),
            )
        )
    total = await db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db_session.scalars(query.order_by(User.id).offset((page - 1) * page_size).limit(page_size))
    return list(rows), total


async def managed_user(*, db_session: AsyncSession, admin: User, user_id: int) -> User:
    """The account ``user_id`` when it lies inside ``admin``'s subtree; NotFound otherwise (404 either way)."""
    user = await db_session.get(User, user_id)
    if user is None or not jurisdictions.contains(admin.jurisdiction.path, user.jurisdiction.path):
        raise NotFound(f"user {user_id} not found")
    return user


@dataclass(frozen=True, slots=True)
class UserChanges:
    """What an administrator changes on an account; None leaves a field as it is."""

    role: str | None = None
    jurisdiction_code: str | None = None
    is_active: bool | None = None
    display_name: str | None = None
    phone: str | None = None
    report_source: str | None = None
    must_change_password: bool | None = None
    reset_password: bool = False


@dataclass(slots=True)
class UserUpdate:
    """What ``update_user`` did: the changed fields (old, new), a one-time password, and whether tokens died."""

    user: User
    changed: dict[str, tuple[object, object]]
    temporary_password: str | None = None
    revoked: bool = False


async def _check_admins_remain(
    db_session: AsyncSession, target: User, after_role: str, after_active: bool, after_path: str
) -> None:
    """Refuse a change that leaves the target's area with no active administrator (LastAdmin, 409)."""
    if target.role != Role.ADMIN.value or not target.is_active:
        return
    old_path = target.jurisdiction.path
    if after_role == Role.ADMIN.value and after_active and jurisdictions.contains(after_path, old_path):
        return
    others = await db_session.execute(
        select(Jurisdiction.path)
        .join(User, User.jurisdiction_code == Jurisdiction.code)
        .where(User.role == Role.ADMIN.value, User.is_active.is_(True), User.id != target.id)
    )
    if not any(jurisdictions.contains(path, old_path) for (path,) in others):
        raise LastAdmin(
            f"{target.username} is the last active administrator of {target.jurisdiction.name}: "
            "make someone else administrator there first"
        )


async def update_user(*, db_session: AsyncSession, admin: User, target: User, changes: UserChanges) -> UserUpdate:
    """Apply ``changes`` to ``target`` (already found inside ``admin``'s subtree); flushed, not committed."""
    if target.id == admin.id and (changes.reset_password or changes.must_change_password):
        raise Forbidden("change your own password with POST /api/v1/auth/password", field="reset_password")
    role = changes.role if changes.role is not None else target.role
    source = changes.report_source if changes.report_source is not None else target.report_source
    _check_role_and_source(role, source)
    node = target.jurisdiction
    if changes.jurisdiction_code is not None and changes.jurisdiction_code != target.jurisdiction_code:
        node = await node_in_subtree(db_session, admin, changes.jurisdiction_code)
    active = changes.is_active if changes.is_active is not None else target.is_active
    await _check_admins_remain(db_session, target, role, active, node.path)

    result = UserUpdate(user=target, changed={})

    def put(field: str, value: object) -> None:
        old = getattr(target, field)
        if value is not None and value != old:
            setattr(target, field, value)
            result.changed[field] = (old, value)

    put("role", changes.role)
    if node is not target.jurisdiction:
        result.changed["jurisdiction_code"] = (target.jurisdiction_code, node.code)
        target.jurisdiction_code, target.jurisdiction = node.code, node
    put("is_active", changes.is_active)
    put("display_name", changes.display_name)
    put("phone", changes.phone)
    put("report_source", changes.report_source)
    put("must_change_password", changes.must_change_password)
    if changes.reset_password:
        result.temporary_password = generate_password()
        target.password_hash = await hash_password_async(result.temporary_password)
        target.must_change_password = True
        target.failed_logins, target.locked_until = 0, None
        result.changed["password"] = ("", "reset")
    if result.changed.keys() & {"role", "jurisdiction_code", "is_active", "password"}:
        target.token_generation += 1
        result.revoked = True
    await db_session.flush()
    return result


async def change_password(*, db_session: AsyncSession, user: User, old_password: str, new_password: str) -> None:
    """The user's own change: the current password, then a new one (complexity, not the same); flushed."""
    if not await verify_password_async(user.password_hash, old_password):
        raise WrongPassword("the current password is wrong", field="old_password")
    check_complexity(new_password)
    if new_password == old_password:
        raise Conflict("the new password must differ from the current one", field="new_password")
    user.password_hash = await hash_password_async(new_password)
    user.must_change_password = False
    user.token_generation += 1
    await db_session.flush()


async def set_password(*, db_session: AsyncSession, user: User, password: str | None) -> str | None:
    """The operator's reset (command line): ``password``, or a temporary one that is returned and must be
    changed at the next login. Unlocks the account and ends its sessions; flushed, not committed."""
    temporary = None if password is not None else generate_password()
    new = password if password is not None else temporary
    assert new is not None
    check_complexity(new)
    user.password_hash = await hash_password_async(new)
    user.must_change_password = temporary is not None
    user.failed_logins, user.locked_until = 0, None
    user.token_generation += 1
    await db_session.flush()
    return temporary
