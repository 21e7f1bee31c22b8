"""The bus: one small interface, two engines (in-process here, Redis Streams in ``bus_redis``).

Model (after Centrifugo's offsets / epochs / recovery):

* A **durable** channel (``events``, ``dispatch:{user}``, ``detections:{camera}``) is an ordered log. Every
  message gets the next integer **offset** of its channel. A channel's offsets start at its **epoch**: a
  base taken from the clock (milliseconds × 1000) when the channel's log is created, so offsets keep
  growing across a restart of the in-process bus or a Redis that lost its data, and an offset from an
  older incarnation is simply "older than what the log holds": the reader gets a ``reset``.
* A **transient** channel (``screen:{name}``) carries aggregates: latest wins, no history.
* Each message is serialised to its JSON frame ONCE, when it is published; hubs forward those bytes.
* A hub process registers one ``sink`` (its local fan-out) and ``watch``es the channels its clients
  subscribe to. The engine guarantees the sink sees each watched channel's messages in offset order
  without gaps; where it cannot (data lost), it calls ``on_reset(channel, latest)`` instead.
"""

from __future__ import annotations

import abc
import itertools
import json
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

try:  # orjson is several times faster; the stdlib is the fallback.
    import orjson

    _OPTS = orjson.OPT_NON_STR_KEYS

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value, default=str, option=_OPTS)

    loads = orjson.loads
except ImportError:  # pragma: no cover

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()

    loads = json.loads


DURABLE_PREFIXES = ("dispatch:", "detections:")
TRANSIENT_PREFIXES = ("screen:",)
EVENTS = "events"
CAMERAS = "cameras"
#: Channels whose messages carry location codes and reach only subscribers of that jurisdiction.
SCOPED = frozenset({EVENTS, CAMERAS})
#: Hub-to-hub messages (account revocations): every hub always watches it; no client may subscribe to it
#: (its name is outside the channel grammar of channels.py).
CONTROL = "_control"


def is_durable(channel: str) -> bool:
    return channel in SCOPED or channel.startswith(DURABLE_PREFIXES)


def is_transient(channel: str) -> bool:
    return channel.startswith(TRANSIENT_PREFIXES) or channel == CONTROL


def new_epoch() -> int:
    """The first offset of a channel created now: clock milliseconds × 1000 (stays < 2**53 until 2255)."""
    return int(time.time() * 1000) * 1000


def now_ms() -> int:
    return int(time.time() * 1000)


def frame_tail(type_: str, data: dict[str, Any], ts: int) -> bytes:
    """Everything of a message frame after its offset: ``,"type":…,"data":…,"ts":…}``."""
    return b',"type":' + dumps(type_) + b',"data":' + dumps(data) + b',"ts":' + str(ts).encode() + b"}"


def frame_head(channel: str, offset: int) -> bytes:
    return b'{"channel":' + dumps(channel) + b',"offset":' + str(offset).encode()


def ws_text_frame(payload: bytes) -> bytes:
    """A complete, unmasked, unfragmented WebSocket text frame (server → client, RFC 6455 §5.2).

    Uncompressed frames are valid even where permessage-deflate was negotiated (RSV1 clear, RFC 7692
    §6), so one encoding serves every client.
    """
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class Message:
    """One bus message: its JSON frame (bytes, built once) and what the fan-out needs to route it."""

    __slots__ = ("_wire", "assignee", "channel", "codes", "data", "frame", "offset", "text", "type")

    def __init__(self, channel: str, offset: int, type_: str, data: dict[str, Any], frame: bytes) -> None:
        self.channel = channel
        self.offset = offset
        self.type = type_
        self.data = data
        self.frame = frame
        self._wire: bytes | None = None
        self.text: str | None = None
        #: For ``events`` and ``cameras``: the event's (camera's) location codes, and the event's assignee
        #: (who sees it wherever they are).
        self.codes: tuple[str, ...] = ()
        self.assignee: int | None = None
        if channel in SCOPED and isinstance(data, dict):
            self.codes = tuple(
                {
                    c: None
                    for c in (
                        data.get("county_code"),
                        data.get("town_code"),
                        data.get("village_code"),
                        data.get("grid_code"),
                    )
                    if c
                }
            )
            assignee = data.get("assignee_id")
            self.assignee = assignee if isinstance(assignee, int) else None

    @classmethod
    def from_frame(cls, frame: bytes) -> Message:
        obj = loads(frame)
        return cls(obj["channel"], int(obj["offset"]), obj.get("type", ""), obj.get("data") or {}, frame)

    @classmethod
    def build(cls, channel: str, offset: int, type_: str, data: dict[str, Any], ts: int) -> Message:
        return cls(channel, offset, type_, data, frame_head(channel, offset) + frame_tail(type_, data, ts))

    @property
    def wire(self) -> bytes:
        """The frame as a ready WebSocket text frame (encoded on first use, shared by every client)."""
        if self._wire is None:
            self._wire = ws_text_frame(self.frame)
        return self._wire

    def as_text(self) -> str:
        if self.text is None:
            self.text = self.frame.decode()
        return self.text

    def __repr__(self) -> str:
        return f"Message({self.channel!r}, {self.offset}, {self.type!r})"


@dataclass(slots=True)
class History:
    """What a reader missed since an offset: the messages, or ``reset`` where the log cannot say."""

    latest: int
    epoch: int
    messages: list[Message] = field(default_factory=list)
    reset: bool = False


@dataclass(slots=True)
class Publication:
    channel: str
    type: str
    data: dict[str, Any]
    #: The outbox row this comes from: publishing the same row twice appends it once.
    outbox_id: int | None = None
    ts: int | None = None


class BusUnavailable(Exception):
    """The bus does not answer (Redis down): try again later."""


Sink = Callable[[Message], None]
ResetHandler = Callable[[str, int], None]


class Bus(abc.ABC):
    """The interface every engine implements. The hub's fan-out is its only consumer."""

    def __init__(self) -> None:
        self.sink: Sink = lambda message: None
        self.on_reset: ResetHandler = lambda channel, latest: None
        #: Called after the engine lost and regained its connection (messages may have been missed).
        self.on_reconnect: Callable[[], None] = lambda: None

    async def start(self) -> None:  # noqa: B027
        pass

    async def close(self) -> None:  # noqa: B027
        pass

    @abc.abstractmethod
    async def ready(self) -> bool: ...

    @abc.abstractmethod
    async def publish_many(self, items: Sequence[Publication]) -> list[int]:
        """Append (durable) or broadcast (transient); the offset of each, in order."""

    async def publish(self, channel: str, type_: str, data: dict[str, Any], *, outbox_id: int | None = None) -> int:
        return (await self.publish_many([Publication(channel, type_, data, outbox_id)]))[0]

    @abc.abstractmethod
    async def history(self, channel: str, since: int | None, limit: int) -> History:
        """The latest offset and, where ``since`` is given, the messages after it (or ``reset``)."""

    @abc.abstractmethod
    async def latest_transient(self, channel: str) -> Message | None:
        """The last aggregate published on a transient channel, if any is kept."""

    @abc.abstractmethod
    async def watch(self, channel: str) -> None:
        """Start delivering ``channel`` to the sink (returns once live messages will arrive)."""

    @abc.abstractmethod
    async def unwatch(self, channel: str) -> None: ...

    async def lead(self, token: str, ttl_s: float) -> bool:
        """Acquire or renew the relay lease (one relay per deployment); always ours in-process."""
        return True

    async def resign(self, token: str) -> None:  # noqa: B027
        pass


def message_cost(message: Message) -> int:
    """What one kept message costs in memory, roughly: its frame, its WebSocket frame (made on first
    delivery), the decoded ``data`` and the object itself."""
    return 3 * len(message.frame) + 600


class _Ring:
    __slots__ = ("bytes", "epoch", "last_used", "latest", "messages", "relayed")

    def __init__(self, maxlen: int) -> None:
        self.epoch = new_epoch()
        self.latest = self.epoch
        self.messages: deque[Message] = deque(maxlen=maxlen)
        self.relayed: dict[int, int] = {}  # outbox id → offset (bounded below)
        self.bytes = 0
        self.last_used = time.monotonic()

    def append(self, message: Message, max_bytes: int) -> None:
        """Keep ``message``; drop the oldest while over ``maxlen`` entries or ``max_bytes``."""
        messages = self.messages
        if len(messages) == messages.maxlen and messages:
            self.bytes -= message_cost(messages[0])
        messages.append(message)
        self.bytes += message_cost(message)
        while self.bytes > max_bytes and len(messages) > 1:
            self.bytes -= message_cost(messages.popleft())


class MemoryBus(Bus):
    """The embedded engine: one ring buffer per channel in this process; watching is implicit.

    Bounds: each ring keeps at most ``maxlen`` messages and about ``max_bytes`` of memory (the oldest go
    first; a reader behind them gets ``reset``), and a ring nobody watches and nobody published to for
    ``idle_s`` is forgotten by ``expire_idle()`` (its next reader starts a new epoch: ``reset`` again), so
    subscribing to ever new channel names cannot grow the hub.
    """

    def __init__(self, maxlen: int = 100_000, *, max_bytes: int = 32 * 1024 * 1024, idle_s: float = 3600.0) -> None:
        super().__init__()
        self.maxlen = maxlen
        self.max_bytes = max_bytes
        self.idle_s = idle_s
        self.rings: dict[str, _Ring] = {}
        self.transient: dict[str, Message] = {}
        self.watched: set[str] = {CONTROL}

    def _ring(self, channel: str) -> _Ring:
        ring = self.rings.get(channel)
        if ring is None:
            ring = self.rings[channel] = _Ring(self.maxlen)
        ring.last_used = time.monotonic()
        return ring

    def expire_idle(self, now: float | None = None) -> int:
        """Forget the rings (and latest aggregates) of channels idle for ``idle_s``; how many went."""
        now = time.monotonic() if now is None else now
        idle = [
            name
            for name, ring in self.rings.items()
            if name not in self.watched and name != EVENTS and now - ring.last_used >= self.idle_s
        ]
        for name in idle:
            del self.rings[name]
            self.transient.pop(name, None)
        return len(idle)

    async def ready(self) -> bool:
        return True

    async def publish_many(self, items: Sequence[Publication]) -> list[int]:
        offsets: list[int] = []
        for item in items:
            ts = item.ts or now_ms()
            ring = self._ring(item.channel)
            if item.outbox_id is not None and item.outbox_id in ring.relayed:
                offsets.append(ring.relayed[item.outbox_id])
                continue
            ring.latest += 1
            message = Message.build(item.channel, ring.latest, item.type, item.data, ts)
            if is_transient(item.channel):
                self.transient[item.channel] = message
            else:
                ring.append(message, self.max_bytes)
            if item.outbox_id is not None:
                ring.relayed[item.outbox_id] = ring.latest
                if len(ring.relayed) > 20_000:
                    for key in list(itertools.islice(ring.relayed, 10_000)):
                        del ring.relayed[key]
            offsets.append(ring.latest)
            if item.channel in self.watched:
                self.sink(message)
        return offsets

    async def history(self, channel: str, since: int | None, limit: int) -> History:
        ring = self._ring(channel)
        result = History(latest=ring.latest, epoch=ring.epoch)
        if since is None or since == ring.latest:
            return result
        first = ring.messages[0].offset if ring.messages else ring.latest + 1
        if since > ring.latest or since < first - 1 or ring.latest - since > limit:
            result.reset = True
            return result
        result.messages = list(itertools.islice(ring.messages, since - first + 1, None))
        return result

    async def latest_transient(self, channel: str) -> Message | None:
        return self.transient.get(channel)

    async def watch(self, channel: str) -> None:
        self.watched.add(channel)

    async def unwatch(self, channel: str) -> None:
        self.watched.discard(channel)


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch
