"""The hub's side of the audit trail: the request's client address, refusals recorded on their own."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import HTTPConnection

from dispatch import audit
from dispatch.models import User
from hub.addresses import client_address

log = logging.getLogger("gridhub.audit")


def address_of(connection: HTTPConnection) -> str | None:
    """The client address of a request or WebSocket, X-Forwarded-For believed from trusted proxies only."""
    return client_address(connection, connection.app.state.settings.trusted_networks)


def actor(user: User | None) -> dict[str, Any]:
    """The ``actor_id``/``actor_name`` keywords of ``audit.record`` for a user (or nobody)."""
    return {"actor_id": user.id if user else None, "actor_name": user.username if user else None}


async def record_refusal(
    connection: HTTPConnection,
    *,
    kind: str,
    user: User | None = None,
    outcome: str = "denied",
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    **who: Any,
) -> None:
    """Record a refused or failed act in a transaction of its own; a failure to record is logged, not raised.

    ``who`` (``actor_id``, ``actor_name``) overrides what ``user`` gives.
    """
    fields = {**actor(user), **who}
    try:
        await audit.record_now(
            connection.app.state.session_factory,
            kind=kind,
            address=address_of(connection),
            target=target if target is not None else connection.url.path,
            outcome=outcome,
            detail=detail,
            **fields,
        )
    except Exception:
        log.exception("could not write the audit row for %s", kind)
