"""Who may say where a report came from: the source is set by the reporting account, not by the body.

An account with a fixed ``report_source`` (a detection worker's or the 12345 hotline gateway's service
account) reports with that source only. Any other account reports with its role's source, and may name
one of the few others its role legitimately relays: a grid worker or department passes on what a
resident told them (``citizen``); a command room enters calls and hand-overs (``citizen``, ``hotline``,
``department``). ``detection`` and ``import`` are never claimable: only the detection service account and
``gridhub import`` write them.
"""

from __future__ import annotations

from dispatch.errors import Forbidden
from dispatch.models import Role, Source, User

#: The source a report carries when the body names none, by role.
ROLE_SOURCE: dict[str, Source] = {
    Role.RESPONDER.value: Source.GRID_WORKER,
    Role.DEPARTMENT.value: Source.DEPARTMENT,
    Role.DISPATCHER.value: Source.DISPATCHER,
    Role.ADMIN.value: Source.DISPATCHER,
    Role.LEADER.value: Source.DISPATCHER,
}

#: What else each role may name in the body.
ROLE_CLAIMABLE: dict[str, frozenset[Source]] = {
    Role.RESPONDER.value: frozenset({Source.CITIZEN}),
    Role.DEPARTMENT.value: frozenset({Source.CITIZEN}),
    Role.DISPATCHER.value: frozenset({Source.CITIZEN, Source.HOTLINE, Source.DEPARTMENT}),
    Role.ADMIN.value: frozenset({Source.CITIZEN, Source.HOTLINE, Source.DEPARTMENT}),
    Role.LEADER.value: frozenset({Source.CITIZEN}),
}


def default_source(user: User) -> Source:
    if user.report_source:
        return Source(user.report_source)
    return ROLE_SOURCE.get(user.role, Source.CITIZEN)


def allowed_sources(user: User) -> list[Source]:
    """The sources ``user`` may report with, the default first."""
    default = default_source(user)
    if user.report_source:
        return [default]
    return [default, *sorted(ROLE_CLAIMABLE.get(user.role, frozenset()) - {default})]


def resolve_source(user: User, claimed: Source | None) -> Source:
    """The source of ``user``'s report: their default, or ``claimed`` where the account may name it (else 403)."""
    if claimed is None:
        return default_source(user)
    allowed = allowed_sources(user)
    if claimed not in allowed:
        raise Forbidden(
            f"your account may not report with source {claimed.value!r}: the source is set by who reports",
            field="source",
            allowed=[s.value for s in allowed],
        )
    return claimed
