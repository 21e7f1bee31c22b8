"""Who may subscribe to which channel, and which ``events`` messages a subscriber sees.

| channel | who |
| --- | --- |
| ``events`` | any logged-in user, each message filtered (below) |
| ``cameras`` | any logged-in user: status changes of the cameras in their jurisdiction |
| ``dispatch:{user_id}`` | that user, or an admin |
| ``screen:{name}`` | leader, dispatcher, admin; ``screen:{name}.{code}`` only inside their jurisdiction |
| ``detections:{camera}`` | dispatcher, leader, admin; the camera must lie in their jurisdiction (``camera_visible``) |

An ``events`` message reaches a subscriber where the event's location codes (county … grid) include
the user's jurisdiction code, or the user is its assignee; admins see all.
"""

from __future__ import annotations

import re
import time
from typing import Any

from hub.security import TokenClaims

_NAME = re.compile(
    r"^(events|cameras|dispatch:\d{1,18}|screen:[A-Za-z0-9_.\-]{1,64}|detections:[A-Za-z0-9_.\-]{1,64})$"
)

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
    elif channel.startswith("screen:"):
        _, _, code = channel.partition(".")
        # Jurisdiction codes are hierarchical (统计用区划代码): a node's code starts with its ancestors'.
        if role in SCREEN_ROLES and (not code or role == "admin" or code.startswith(claims.jurisdiction_code)):
            return channel
    elif channel.startswith("detections:") and role in DETECTION_ROLES:
        return channel
    raise ChannelError("forbidden", f"not allowed to subscribe to {channel}")


def jurisdiction_code(claims: TokenClaims) -> str:
    """The user's own jurisdiction code: the last code of its path."""
    codes = [c for c in claims.jurisdiction_path.strip("/").split("/") if c]
    return codes[-1] if codes else claims.jurisdiction_code


#: camera id → (its grid's path, when looked up): a reconnect storm does not query the database per client.
_CAMERA_PATHS: dict[int, tuple[str | None, float]] = {}
_CAMERA_PATH_TTL_S = 60.0


async def camera_visible(session_factory: Any, claims: TokenClaims, channel: str) -> bool:
    """Whether the camera of a ``detections:{camera}`` channel lies in the user's jurisdiction (admins: any)."""
    if claims.role == "admin":
        return True
    suffix = channel.partition(":")[2]
    if not suffix.isdigit():
        return False
    camera_id = int(suffix)
    cached = _CAMERA_PATHS.get(camera_id)
    now = time.monotonic()
    if cached is None or now - cached[1] > _CAMERA_PATH_TTL_S:
        from sqlalchemy import select

        from dispatch.models import Jurisdiction
        from stream.models import Camera

        query = select(Jurisdiction.path).join(Camera, Camera.grid_code == Jurisdiction.code)
        try:
            async with session_factory() as db_session:
                path = await db_session.scalar(query.where(Camera.id == camera_id))
        except Exception as exc:  # the database is away: refuse now, the client retries
            raise ChannelError("unavailable", f"cannot check camera {camera_id} now; retry later") from exc
        if len(_CAMERA_PATHS) > 100_000:
            _CAMERA_PATHS.clear()
        _CAMERA_PATHS[camera_id] = cached = (path, now)
    path = cached[0]
    return path is not None and path.startswith(claims.jurisdiction_path)
