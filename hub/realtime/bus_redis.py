"""The production engine: durable channels on Redis Streams, live delivery on Redis pub/sub.

Per channel ``C`` (keys share the hash tag ``{C}``):

* ``gridhub:{C}:c`` the offset counter and ``gridhub:{C}:e`` its epoch (the counter's first value, from
  Redis ``TIME``: a Redis that lost its data starts a new, higher epoch);
* ``gridhub:{C}:s`` the stream, entry id ``<offset>-0``, field ``f`` = the message's JSON frame, trimmed
  to ``MAXLEN ~ stream_maxlen``;
* ``gridhub:{C}:x`` a sorted set outbox id → offset of the rows already appended (the relay's
  idempotence: re-publishing a row after a crash returns its offset and appends nothing);
* ``gridhub:{C}:l`` the latest frame of a transient (``screen:``) channel;
* pub/sub channel ``gridhub:m:C`` carries each frame as it is appended.

A channel's keys expire after ``idle_ttl_s`` without a publish or a subscribe (default 7 days; 0 keeps them
forever): the ``dispatch:<user>`` of a departed responder or the ``screen:overview.<code>`` of a removed
grid do not stay in Redis for good. A channel that comes back starts a new epoch (its counter restarts from
Redis ``TIME``), so a client still holding an old offset gets a reset, as after a Redis that lost its data.

One Lua script assigns the offset, builds the frame, appends and publishes atomically, so every hub
sees a channel's frames in offset order. A hub reads pub/sub on ONE connection for all the channels it
has clients for (one reader task per process) and keeps, per channel, the last offset it delivered: a
gap (after a reconnect or a lost pub/sub message) is filled from the stream with ``XRANGE``; where the
stream no longer holds it (trimmed, or Redis lost its data) the fan-out gets ``on_reset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hub import tasks
from hub.realtime.bus import (
    CONTROL,
    Bus,
    BusUnavailable,
    History,
    Message,
    Publication,
    dumps,
    frame_tail,
    is_durable,
    now_ms,
)
from hub.tasks import supervise

log = logging.getLogger("gridhub.realtime.redis")

# Creates the counter and epoch of a channel seen for the first time. ``ttl`` (seconds, 0: none) must be set.
_INIT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  local base = string.format('%d', tonumber(t[1]) * 1000000 + math.floor(tonumber(t[2]) / 1000) * 1000)
  redis.call('SET', KEYS[1], base)
  redis.call('SET', KEYS[2], base)
end
"""

# Pushes back the expiry of the keys named (all of the channel's durable keys that exist).
_TOUCH = """
local function touch(n)
  if ttl > 0 then
    for i = 1, n do redis.call('EXPIRE', KEYS[i], ttl) end
  end
end
"""

# KEYS: counter, epoch, stream, relayed, latest.  ARGV: channel (JSON), frame tail, outbox id or '',
# maxlen, pub/sub channel, durable ('1'/'0'), idle ttl seconds.  Returns the offset (string).
PUBLISH_LUA = (
    """
local ttl = tonumber(ARGV[7])
"""
    + _TOUCH
    + """
local oid = ARGV[3]
if oid ~= '' then
  local prev = redis.call('ZSCORE', KEYS[4], oid)
  if prev then return prev end
end
"""
    + _INIT
    + """
local offs = string.format('%d', redis.call('INCR', KEYS[1]))
local frame = '{"channel":' .. ARGV[1] .. ',"offset":' .. offs .. ARGV[2]
if ARGV[6] == '1' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], offs .. '-0', 'f', frame)
else
  redis.call('SET', KEYS[5], frame, 'EX', 86400)
end
if oid ~= '' then
  redis.call('ZADD', KEYS[4], offs, oid)
  if redis.call('ZCARD', KEYS[4]) > 20000 then redis.call('ZREMRANGEBYRANK', KEYS[4], 0, 9999) end
end
redis.call('PUBLISH', ARGV[5], frame)
touch(4)
return offs
"""
)

# KEYS: counter, epoch, stream.  ARGV: since or '', limit, idle ttl seconds.
# Returns {latest, epoch, reset(0/1), frames…}.
HISTORY_LUA = (
    """
local ttl = tonumber(ARGV[3])
"""
    + _TOUCH
    + _INIT
    + """
touch(3)
local latest = redis.call('GET', KEYS[1])
local epoch = redis.call('GET', KEYS[2]) or latest
if ARGV[1] == '' then return {latest, epoch, 0} end
local since = tonumber(ARGV[1])
local lat = tonumber(latest)
if since == nil then return {latest, epoch, 1} end
if since == lat then return {latest, epoch, 0} end
if since > lat or lat - since > tonumber(ARGV[2]) then return {latest, epoch, 1} end
local start = string.format('%d', since + 1) .. '-0'
local entries = redis.call('XRANGE', KEYS[3], start, '+', 'COUNT', ARGV[2])
if #entries == 0 or entries[1][1] ~= start then return {latest, epoch, 1} end
local out = {latest, epoch, 0}
for _, e in ipairs(entries) do out[#out + 1] = e[2][2] end
return out
"""
)

# Relay leadership: acquire or renew a lock with a TTL. KEYS: lock.  ARGV: token, ttl ms.
LEAD_LUA = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBus(Bus):
    def __init__(
        self, url: str, *, maxlen: int = 100_000, prefix: str = "gridhub:", idle_ttl_s: int = 7 * 86400
    ) -> None:
        super().__init__()
        self.url = url
        self.maxlen = maxlen
        self.idle_ttl_s = max(0, int(idle_ttl_s))
        self.prefix = prefix
        self.redis: aioredis.Redis | None = None
        #: channel → last offset delivered to the sink (``None`` while the watch is being set up); the
        #: control channel is always watched (subscribed on every (re)connect of the reader).
        self.pos: dict[str, int | None] = {CONTROL: 0}
        self._pending_frames: dict[str, list[Message]] = {}
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._pubsub: aioredis.client.PubSub | None = None
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    # keys -----------------------------------------------------------------------------------------
    def _keys(self, channel: str) -> list[str]:
        base = f"{self.prefix}{{{channel}}}:"
        return [base + "c", base + "e", base + "s", base + "x", base + "l"]

    def _mchan(self, channel: str) -> str:
        return f"{self.prefix}m:{channel}"

    # life cycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        self.redis = aioredis.Redis.from_url(
            self.url, retry=Retry(NoBackoff(), 0), socket_timeout=10, socket_connect_timeout=3
        )
        self._publish = self.redis.register_script(PUBLISH_LUA)
        self._history = self.redis.register_script(HISTORY_LUA)
        self._lead = self.redis.register_script(LEAD_LUA)
        self._release = self.redis.register_script(RELEASE_LUA)
        self._reader = supervise("bus-reader", self._read_loop)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 3)

    async def close(self) -> None:
        self._closing = True
        await tasks.stop(self._reader)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()

    async def ready(self) -> bool:
        try:
            assert self.redis is not None
            return bool(await self.redis.ping()) and self._connected.is_set()
        except (RedisError, OSError):
            return False

    # publishing -----------------------------------------------------------------------------------
    async def publish_many(self, items: Sequence[Publication]) -> list[int]:
        assert self.redis is not None
        if not items:
            return []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for item in items:
                    durable = is_durable(item.channel)
                    await self._publish(
                        keys=self._keys(item.channel),
                        args=[
                            dumps(item.channel),
                            frame_tail(item.type, item.data, item.ts or now_ms()),
                            "" if item.outbox_id is None else str(item.outbox_id),
                            self.maxlen,
                            self._mchan(item.channel),
                            "1" if durable else "0",
                            self.idle_ttl_s,
                        ],
                        client=pipe,
                    )
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BusUnavailable(str(exc)) from exc
        return [int(float(r)) for r in results]

    # reading --------------------------------------------------------------------------------------
    async def history(self, channel: str, since: int | None, limit: int) -> History:
        assert self.redis is not None
        try:
            reply = await self._history(
                keys=self._keys(channel)[:3], args=["" if since is None else str(since), limit, self.idle_ttl_s]
            )
        except (RedisError, OSError) as exc:
            raise BusUnavailable(str(exc)) from exc
        result = History(latest=int(reply[0]), epoch=int(reply[1]), reset=bool(int(reply[2])))
        result.messages = [Message.from_frame(f) for f in reply[3:]]
        return result

    async def latest_transient(self, channel: str) -> Message | None:
        assert self.redis is not None
        try:
            frame = await self.redis.get(self._keys(channel)[4])
        except (RedisError, OSError) as exc:
            raise BusUnavailable(str(exc)) from exc
        return Message.from_frame(frame) if frame else None

    async def watch(self, channel: str) -> None:
        if not self._connected.is_set() or self._pubsub is None:
            raise BusUnavailable("bus reader not connected")
        durable = is_durable(channel)
        self.pos[channel] = None
        self._pending_frames[channel] = []
        name = self._mchan(channel).encode()
        fut = self._confirm[name] = asyncio.get_running_loop().create_future()
        try:
            await self._pubsub.subscribe(name)
            await asyncio.wait_for(fut, 5)
            latest = (await self.history(channel, None, 0)).latest if durable else 0
        except (RedisError, OSError, TimeoutError) as exc:
            self.pos.pop(channel, None)
            self._pending_frames.pop(channel, None)
            raise BusUnavailable(str(exc)) from exc
        finally:
            self._confirm.pop(name, None)
        if channel not in self.pos:  # unwatched meanwhile
            return
        self.pos[channel] = latest
        for message in self._pending_frames.pop(channel, []):
            if not durable or message.offset > latest:
                self.pos[channel] = message.offset if durable else 0
                self.sink(message)

    async def unwatch(self, channel: str) -> None:
        self.pos.pop(channel, None)
        self._pending_frames.pop(channel, None)
        if self._pubsub is not None and self._connected.is_set():
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(self._mchan(channel))

    # relay leadership -------------------------------------------------------------------------------
    async def lead(self, token: str, ttl_s: float) -> bool:
        assert self.redis is not None
        try:
            return bool(await self._lead(keys=[self.prefix + "relay-lock"], args=[token, int(ttl_s * 1000)]))
        except (RedisError, OSError) as exc:
            raise BusUnavailable(str(exc)) from exc

    async def resign(self, token: str) -> None:
        assert self.redis is not None
        with contextlib.suppress(RedisError, OSError):
            await self._release(keys=[self.prefix + "relay-lock"], args=[token])

    # the reader -----------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        attempt = 0
        while not self._closing:
            assert self.redis is not None
            pubsub = self.redis.pubsub()
            try:
                channels = [c for c, p in self.pos.items() if p is not None]
                held: list[Message] = []
                if channels:
                    await pubsub.subscribe(*[self._mchan(c) for c in channels])
                    waiting = {self._mchan(c).encode() for c in channels}
                    while waiting:  # every subscription is live before we look for gaps
                        m = await pubsub.get_message(timeout=5)
                        if m is None:
                            raise TimeoutError("no subscribe confirmation")
                        if m["type"] == "subscribe":
                            waiting.discard(m["channel"])
                        elif m["type"] == "message":
                            held.append(Message.from_frame(m["data"]))
                else:
                    await pubsub.ping()
                self._pubsub = pubsub
                if attempt:
                    log.info("bus reader reconnected; resynchronising %d channels", len(channels))
                    for channel in channels:
                        if channel != CONTROL:
                            await self._fill(channel, None)
                    self.on_reconnect()
                for message in held:
                    await self._deliver(message)
                attempt = 0
                self._connected.set()
                while True:
                    m = await pubsub.get_message(timeout=None)
                    if m is None:
                        continue
                    kind = m["type"]
                    if kind == "message":
                        await self._deliver(Message.from_frame(m["data"]))
                    elif kind == "subscribe":
                        fut = self._confirm.get(m["channel"])
                        if fut is not None and not fut.done():
                            fut.set_result(None)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception as exc:  # connection lost, Redis restarting, …
                self._connected.clear()
                self._pubsub = None
                for fut in self._confirm.values():
                    if not fut.done():
                        fut.set_exception(BusUnavailable("bus reader disconnected"))
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                attempt += 1
                delay = min(5.0, 0.1 * 2 ** min(attempt, 6)) * (0.5 + random.random() / 2)
                if attempt == 1 or attempt % 20 == 0:
                    log.warning("bus reader: %s; reconnecting (attempt %d)", exc, attempt)
                await asyncio.sleep(delay)

    async def _deliver(self, message: Message) -> None:
        channel = message.channel
        if channel not in self.pos:
            return
        pos = self.pos[channel]
        if pos is None:  # the watch is still reading its starting position
            self._pending_frames.setdefault(channel, []).append(message)
            return
        if not is_durable(channel):
            self.sink(message)
            return
        if message.offset <= pos:
            return  # already delivered (gap fill overlapped the live stream)
        if message.offset != pos + 1:
            await self._fill(channel, message)
            return
        self.pos[channel] = message.offset
        self.sink(message)

    async def _fill(self, channel: str, current: Message | None) -> None:
        """Deliver what this hub missed on ``channel`` after its last offset, or reset its clients."""
        pos = self.pos.get(channel)
        if pos is None:
            return
        history = await self.history(channel, pos, max(self.maxlen, 1))
        if history.reset:
            latest = max(history.latest, current.offset if current else 0)
            self.pos[channel] = latest
            log.info("bus: %s lost continuity at %s (now %s): reset", channel, pos, latest)
            self.on_reset(channel, latest)
            return
        for message in history.messages:
            if message.offset > (self.pos.get(channel) or 0):
                self.pos[channel] = message.offset
                self.sink(message)
