"""The hub's side of the audit trail: the request's client address, refusals recorded on their own."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import HTTPConnection

from dispatch import audit
from dispatch.models import User
from hub.addresses import client_address

log = logging.getLogger("gridhub.audit")


class RefusalThrottle:
    """At most ``limit`` refusal rows per client address per ``window_s``; beyond that they are counted.

    Refusals cost nothing to send (a garbage token, a wrong password): without a bound, one client could
    write audit rows as fast as it can send requests. The count of what was left out is logged and carried in
    ``detail.suppressed`` of the next refusal recorded for that address.
    """

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window_s, self.max_addresses, self.clock = limit, window_s, max_addresses, clock
        self._windows: dict[str | None, list[float]] = {}  # address → [window start, rows, suppressed]

    def admit(self, address: str | None) -> tuple[bool, int]:
        """(record this one?, how many were left out before it and not yet reported)."""
        now = self.clock()
        window = self._windows.get(address)
        if window is None:
            if len(self._windows) >= self.max_addresses:
                self._forget(now)
            window = self._windows[address] = [now, 0, 0]
        elif now - window[0] >= self.window_s:
            window[0], window[1] = now, 0  # a new window; what was left out is still to be reported
        window[1] += 1
        if window[1] <= self.limit:
            reported, window[2] = int(window[2]), 0
            return True, reported
        if window[2] == 0:
            log.warning("audit: more than %d refusals a minute from %s; counting the rest", self.limit, address)
        window[2] += 1
        return False, 0

    def _forget(self, now: float) -> None:
        for key in [k for k, w in self._windows.items() if now - w[0] >= self.window_s and not w[2]]:
            del self._windows[key]
        if len(self._windows) >= self.max_addresses:  # an address spray: keep recording, forget the counts
            self._windows.clear()


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
    address = address_of(connection)
    state = connection.app.state
    throttle = getattr(state, "audit_throttle", None)
    if throttle is None:
        throttle = state.audit_throttle = RefusalThrottle(state.settings.audit_refusals_per_minute)
    admitted, suppressed = throttle.admit(address)
    if not admitted:
        return
    if suppressed:
        detail = {**(detail or {}), "suppressed": suppressed}
    try:
        await audit.record_now(
            state.session_factory,
            kind=kind,
            address=address,
            target=target if target is not None else connection.url.path,
            outcome=outcome,
            detail=detail,
            **fields,
        )
    except Exception:
        log.exception("could not write the audit row for %s", kind)
