"""Bearer access tokens (signed JWT, HS256) shared by every hub process through the secret key.

Tokens carry the user's id, role, jurisdiction path and token generation, so the WebSocket endpoint can
authorise a connection without touching the database; REST routes still load the user (see deps.py) so
a deactivated account or a logout (generation bump) takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jwt

from dispatch.db import utcnow
from dispatch.models import User

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    username: str
    role: str
    jurisdiction_code: str
    jurisdiction_path: str
    generation: int
    #: Expiry (Unix seconds); a live ``/ws`` connection is closed once it passes.
    expires_at: int = 0


class InvalidToken(Exception):
    pass


def issue_token(user: User, *, secret: str, ttl_minutes: int) -> str:
    now = utcnow()
    payload = {
        "sub": str(user.id),
        "usr": user.username,
        "role": user.role,
        "jur": user.jurisdiction_code,
        "path": user.jurisdiction.path,
        "gen": user.token_generation,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=ttl_minutes)).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_token(token: str, *, secret: str) -> TokenClaims:
    """The claims of a valid, unexpired token; raises InvalidToken otherwise."""
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
        return TokenClaims(
            user_id=int(payload["sub"]),
            username=str(payload["usr"]),
            role=str(payload["role"]),
            jurisdiction_code=str(payload["jur"]),
            jurisdiction_path=str(payload["path"]),
            generation=int(payload["gen"]),
            expires_at=int(payload["exp"]),
        )
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
