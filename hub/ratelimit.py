"""Login rate limits: attempts per client address and per username, with Retry-After.

A key's window opens with its first attempt and lasts ``window_s``; past ``attempts`` within it, the answer
is "retry after the rest of the window".

Every attempt counts (right or wrong, known username or not), before any database or argon2 work, so the
answer says nothing about the account and a flood costs the hub almost nothing. One hub counts in
process; with ``GRIDHUB_REDIS_URL`` set the counters live in Redis and every hub shares them. Where Redis
does not answer, the hub falls back to its own counters (and says so in the log) rather than refusing every
login.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("gridhub.ratelimit")

#: INCR each key's counter, its window starting (expiry set) with the first attempt. KEYS: counters.
#: ARGV: window ms.  Returns {count, ms left} per key.
_HIT_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if n == 1 or ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
"""

#: In-process counters kept before the stale ones are swept.
_SWEEP_AT = 10_000


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``attempts`` per window for each key of one kind (``address``, ``username``); 0: no limit."""

    kind: str
    attempts: int


class LoginLimiter:
    def __init__(
        self, limits: list[Limit], *, window_s: float = 60.0, redis_url: str = "", prefix: str = "gridhub:rl:"
    ) -> None:
        self.limits = [limit for limit in limits if limit.attempts > 0]
        self.window_s = window_s
        self.prefix = prefix
        self._counts: dict[tuple[str, str], tuple[float, int]] = {}  # (kind, key) → (window start, count)
        self._redis: aioredis.Redis | None = (
            aioredis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2) if redis_url else None
        )
        self._script = self._redis.register_script(_HIT_LUA) if self._redis is not None else None
        self._warned = False

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def hit(self, **keys: str | None) -> int | None:
        """Count one attempt under each key (``address=…, username=…``); the seconds to wait (Retry-After)
        when any limit is exceeded, else None."""
        wanted = [(limit, keys.get(limit.kind)) for limit in self.limits]
        counted = [(limit, key.lower() if limit.kind == "username" else key) for limit, key in wanted if key]
        if not counted:
            return None
        if self._script is not None:
            try:
                names = [f"{self.prefix}{limit.kind}:{key}" for limit, key in counted]
                reply = await self._script(keys=names, args=[int(self.window_s * 1000)])
                self._warned = False
                waits = [
                    int(reply[2 * i + 1]) / 1000
                    for i, (limit, _) in enumerate(counted)
                    if int(reply[2 * i]) > limit.attempts
                ]
                return max(1, math.ceil(max(waits))) if waits else None
            except (RedisError, OSError) as exc:
                if not self._warned:
                    log.warning("login rate limits: Redis unavailable (%s); counting on this hub only", exc)
                    self._warned = True
        return self._hit_local(counted)

    def _hit_local(self, counted: list[tuple[Limit, str]]) -> int | None:
        now = time.monotonic()
        if len(self._counts) > _SWEEP_AT:
            self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.window_s}
        waits: list[float] = []
        for limit, key in counted:
            start, count = self._counts.get((limit.kind, key), (now, 0))
            if now - start >= self.window_s:
                start, count = now, 0
            count += 1
            self._counts[(limit.kind, key)] = (start, count)
            if count > limit.attempts:
                waits.append(start + self.window_s - now)
        return max(1, math.ceil(max(waits))) if waits else None
