"""Who may subscribe to which channel, and which ``events`` messages a subscriber sees.

| channel | who |
| --- | --- |
| ``events`` | any logged-in user, each message filtered (below) |
| ``cameras`` | any logged-in user: status changes of the cameras in their jurisdiction |
| ``dispatch:{user_id}`` | that user, or an admin |
| ``screen:overview.{code}`` | leader, dispatcher, admin; an existing jurisdiction in theirs (admins: any) |
| ``detections:{camera}`` | dispatcher, leader, admin; the camera must lie in their jurisdiction (``camera_visible``) |

An ``events`` message reaches a subscriber where the event's location codes (county … grid) include
the user's jurisdiction code, or the user is its assignee; admins see all.

Only the ``screen:`` channels the hub publishes are accepted (today ``screen:overview.{code}``, see
hub/overview_feed.py): a made-up name or an unknown jurisdiction is refused (``bad_channel``), so a client
cannot make the hub hold channels nobody publishes. ``subscription`` runs every check, the database ones
included; ``authorise`` only those that need no database (it also guards ``ack``).
"""

from __future__ import annotations

import re
import time
from typing import Any

from hub.security import TokenClaims

_NAME = re.compile(
    r"^(events|cameras|dispatch:\d{1,18}|screen:[A-Za-z0-9_.\-]{1,64}|detections:[A-Za-z0-9_.\-]{1,64})$"
)

#: The ``screen:`` channels the hub publishes: the big screen's overview of one jurisdiction (hub/overview_feed.py).
SCREEN_OVERVIEW_PREFIX = "screen:overview."
_SCREEN = re.compile(r"^screen:overview\.([A-Za-z0-9_\-]{1,32})$")

SCREEN_ROLES = frozenset({"leader", "dispatcher", "admin"})
DETECTION_ROLES = frozenset({"dispatcher", "leader", "admin"})


class ChannelError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def authorise(claims: TokenClaims, channel: object) -> str:
    """The channel name where ``claims`` may subscribe to it; raises ChannelError otherwise."""
    if not isinstance(channel, str) or not _NAME.match(channel):
        raise ChannelError("bad_channel", f"unknown channel {str(channel)[:100]!r}")
    role = claims.role
    if channel in ("events", "cameras"):
        return channel
    if channel.startswith("dispatch:"):
        if role == "admin" or int(channel[9:]) == claims.user_id:
            return channel
    elif channel.startswith("screen:") and role in SCREEN_ROLES:
        if not _SCREEN.match(channel):
            raise ChannelError(
                "bad_channel",
                f"unknown channel {channel!r}: screens publish {SCREEN_OVERVIEW_PREFIX}{{jurisdiction code}} "
                f"(your jurisdiction's: {SCREEN_OVERVIEW_PREFIX}{claims.jurisdiction_code})",
            )
        # Whether the jurisdiction exists and lies inside the user's: screen_visible (it needs the database).
        return channel
    elif channel.startswith("detections:") and role in DETECTION_ROLES:
        return channel
    raise ChannelError("forbidden", f"not allowed to subscribe to {channel}")


def jurisdiction_code(claims: TokenClaims) -> str:
    """The user's own jurisdiction code: the last code of its path."""
    codes = [c for c in claims.jurisdiction_path.strip("/").split("/") if c]
    return codes[-1] if codes else claims.jurisdiction_code


async def subscription(session_factory: Any, claims: TokenClaims, channel: object) -> str:
    """The channel name where ``claims`` may subscribe to it (``authorise`` plus the checks against the database:
    the camera of ``detections:``, the jurisdiction of ``screen:``); raises ChannelError otherwise."""
    name = authorise(claims, channel)
    if name.startswith("detections:") and not await camera_visible(session_factory, claims, name):
        raise ChannelError("forbidden", f"not allowed to subscribe to {name}: camera outside your area")
    if name.startswith("screen:"):
        await screen_visible(session_factory, claims, name)
    return name


#: Look-ups of the paths behind channel names (camera id / jurisdiction code → (path or None, when looked up)):
#: a reconnect storm does not query the database per client. Bounded: cleared past _PATHS_KEPT entries.
_CAMERA_PATHS: dict[int, tuple[str | None, float]] = {}
_JURISDICTION_PATHS: dict[str, tuple[str | None, float]] = {}
_PATH_TTL_S = 60.0
_PATHS_KEPT = 100_000


async def _cached_path(
    cache: dict[Any, tuple[str | None, float]], key: Any, session_factory: Any, query: Any, what: str
) -> str | None:
    """The path ``query`` (a select of one path) finds for ``key``, from ``cache`` while younger than _PATH_TTL_S.
    Unknown keys are cached too (as None): a client repeating a made-up name costs one query a minute."""
    cached = cache.get(key)
    now = time.monotonic()
    if cached is None or now - cached[1] > _PATH_TTL_S:
        try:
            async with session_factory() as db_session:
                path = await db_session.scalar(query)
        except Exception as exc:  # the database is away: refuse now, the client retries
            raise ChannelError("unavailable", f"cannot check {what} now; retry later") from exc
        if len(cache) > _PATHS_KEPT:
            cache.clear()
        cache[key] = cached = (path, now)
    return cached[0]


async def camera_visible(session_factory: Any, claims: TokenClaims, channel: str) -> bool:
    """Whether the camera of a ``detections:{camera}`` channel lies in the user's jurisdiction (admins: any)."""
    if claims.role == "admin":
        return True
    suffix = channel.partition(":")[2]
    if not suffix.isdigit():
        return False
    camera_id = int(suffix)
    from sqlalchemy import select

    from dispatch.models import Jurisdiction
    from stream.models import Camera

    query = select(Jurisdiction.path).join(Camera, Camera.grid_code == Jurisdiction.code).where(Camera.id == camera_id)
    path = await _cached_path(_CAMERA_PATHS, camera_id, session_factory, query, f"camera {camera_id}")
    return path is not None and path.startswith(claims.jurisdiction_path)


async def screen_visible(session_factory: Any, claims: TokenClaims, channel: str) -> None:
    """Refuse a ``screen:overview.{code}`` channel whose jurisdiction does not exist (``bad_channel``: nothing is
    ever published there) or lies outside the user's (``forbidden``; admins: any)."""
    code = channel.removeprefix(SCREEN_OVERVIEW_PREFIX)
    from sqlalchemy import select

    from dispatch.models import Jurisdiction

    query = select(Jurisdiction.path).where(Jurisdiction.code == code)
    path = await _cached_path(_JURISDICTION_PATHS, code, session_factory, query, f"jurisdiction {code!r}")
    if path is None:
        raise ChannelError("bad_channel", f"unknown channel {channel!r}: no jurisdiction {code!r}")
    if claims.role != "admin" and not path.startswith(claims.jurisdiction_path):
        raise ChannelError("forbidden", f"not allowed to subscribe to {channel}: outside your jurisdiction")
