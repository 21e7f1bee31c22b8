"""Which cameras this process runs: all of them (one process), or a fair share leased in Redis (workers).

A lease is a Redis key ``gridhub:vision:camera:{id}`` holding the worker id, set with NX and a TTL and
renewed every ``ttl_s / 3``. A worker that dies stops renewing: its cameras are free within ``ttl_s`` and
the others take them at their next tick. A worker stops a camera as soon as a renewal fails, and never
processes a frame after ``valid_until`` (its last renewal + 0.8 × TTL, local clock), so no camera is
processed twice. Live workers announce themselves under ``gridhub:vision:worker:{id}``; each takes at most
ceil(cameras / workers), so cameras spread over the workers.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Protocol

PREFIX = "gridhub:vision"

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class Assigner(Protocol):
    worker_id: str

    async def assign(self, wanted: set[int]) -> set[int]: ...

    def valid(self, camera_id: int) -> bool: ...

    async def close(self) -> None: ...


class LocalAssigner:
    """One process runs every camera (``gridhub serve`` without Redis)."""

    def __init__(self) -> None:
        self.worker_id = f"local-{uuid.uuid4().hex[:8]}"
        self.owned: set[int] = set()

    async def assign(self, wanted: set[int]) -> set[int]:
        self.owned = set(wanted)
        return self.owned

    def valid(self, camera_id: int) -> bool:
        return camera_id in self.owned

    async def close(self) -> None:
        self.owned = set()


class RedisLeases:
    def __init__(self, redis_url: str, *, worker_id: str | None = None, ttl_s: float = 3.0, prefix: str = PREFIX):
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(redis_url, socket_timeout=max(0.5, ttl_s / 3), socket_connect_timeout=2)
        self.worker_id = worker_id or f"{uuid.uuid4().hex[:12]}"
        self.ttl_ms = int(ttl_s * 1000)
        self.prefix = prefix
        self.owned: dict[int, float] = {}  # camera → valid until (monotonic)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    def key(self, camera_id: int) -> str:
        return f"{self.prefix}:camera:{camera_id}"

    def valid(self, camera_id: int) -> bool:
        return self.owned.get(camera_id, 0.0) > time.monotonic()

    async def workers(self) -> int:
        count = 0
        async for _ in self.redis.scan_iter(match=f"{self.prefix}:worker:*", count=500):
            count += 1
        return max(1, count)

    async def assign(self, wanted: set[int]) -> set[int]:
        """Renew what we hold, let go of what is no longer wanted or over our share, take free cameras."""
        try:
            return await self._assign(wanted)
        except Exception:
            # Redis unreachable: we can no longer prove our leases; stop everything until it is back.
            self.owned.clear()
            raise

    async def _assign(self, wanted: set[int]) -> set[int]:
        started = time.monotonic()
        valid_for = self.ttl_ms / 1000 * 0.8
        await self.redis.set(f"{self.prefix}:worker:{self.worker_id}", "1", px=self.ttl_ms)
        for camera_id in list(self.owned):
            if camera_id not in wanted:
                await self._release(keys=[self.key(camera_id)], args=[self.worker_id])
                del self.owned[camera_id]
            elif await self._renew(keys=[self.key(camera_id)], args=[self.worker_id, self.ttl_ms]):
                self.owned[camera_id] = started + valid_for
            else:
                del self.owned[camera_id]  # lost (expired while we stalled, taken by another)
        share = math.ceil(len(wanted) / await self.workers()) if wanted else 0
        for camera_id in sorted(self.owned, reverse=True)[: max(0, len(self.owned) - share)]:
            await self._release(keys=[self.key(camera_id)], args=[self.worker_id])
            del self.owned[camera_id]
        for camera_id in sorted(wanted - set(self.owned)):
            if len(self.owned) >= share:
                break
            if await self.redis.set(self.key(camera_id), self.worker_id, nx=True, px=self.ttl_ms):
                self.owned[camera_id] = started + valid_for
        return set(self.owned)

    async def close(self) -> None:
        try:
            for camera_id in list(self.owned):
                await self._release(keys=[self.key(camera_id)], args=[self.worker_id])
            await self.redis.delete(f"{self.prefix}:worker:{self.worker_id}")
        except Exception:  # Redis away: the leases expire on their own
            pass
        self.owned.clear()
        await self.redis.aclose()
