"""One connected client: what it may see, and a bounded outgoing queue that never blocks the fan-out.

Delivery is synchronous from the fan-out's point of view. Where the server is uvicorn (any of its
WebSocket implementations) the session holds the connection's transport and writes each message's
pre-encoded frame (built once per message, shared by all clients) straight into it while the
transport's write buffer is small: no task switch, no per-client encoding. When the buffer backs up,
or on other ASGI servers, frames go to a bounded per-client queue drained by one writer task:

* aggregates (``screen:``) coalesce: the latest per channel wins;
* ``events``/``detections:`` beyond ``ws_queue_size``: the queued ones of that channel are dropped and
  the client gets ``{"type":"reset","channel":C,"offset":N}`` (it reloads) instead;
* ``dispatch:`` is never dropped: it stays in the queue, in ``unacked`` (re-sent every
  ``dispatch_redeliver_s`` until acknowledged) and in the database (see pending.py);
* a client whose backlog does not move for ``ws_send_timeout_s`` (or whose queue holds 4× the bound of
  undroppable frames) is closed with 1008 and its transport aborted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from hub.realtime.bus import Message, dumps, ws_text_frame

log = logging.getLogger("gridhub.realtime.session")

CONTROL, DROPPABLE, DISPATCH, AGGREGATE, RESET = 0, 1, 2, 3, 4

PING_PAYLOAD = b'{"type":"ping"}'
PING_WIRE = ws_text_frame(PING_PAYLOAD)
PONG_PAYLOAD = b'{"type":"pong"}'

#: Unacknowledged dispatches a session re-sends by itself (per channel); older ones wait in the database.
UNACKED_MAX = 1000
#: Above this many bytes waiting in the transport, a client is backlogged; writing resumes below LOW.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


def channel_kind(channel: str) -> int:
    if channel.startswith("dispatch:"):
        return DISPATCH
    if channel.startswith("screen:"):
        return AGGREGATE
    return DROPPABLE


def find_transport(send: Any) -> asyncio.Transport | None:
    """The transport of uvicorn's WebSocket protocol behind an ASGI ``send`` (through Starlette's
    wrappers, which keep it in a closure variable named ``send``), or None on other servers."""
    fn = send
    for _ in range(12):
        if fn is None:
            return None
        owner = getattr(fn, "__self__", None)
        if owner is not None and type(owner).__module__.startswith("uvicorn.protocols.websockets"):
            transport = getattr(owner, "transport", None)
            if transport is not None and hasattr(transport, "get_write_buffer_size"):
                return transport
            return None
        code, closure = getattr(fn, "__code__", None), getattr(fn, "__closure__", None)
        nxt = None
        if code is not None and closure:
            for name, cell in zip(code.co_freevars, closure, strict=False):
                if name == "send":
                    with contextlib.suppress(ValueError):
                        nxt = cell.cell_contents
                    break
        fn = nxt
    return None


class Session:
    __slots__ = (
        "__weakref__",
        "admin",
        "agg",
        "backlog_since",
        "backlogged",
        "catchup",
        "claims",
        "closed",
        "jcode",
        "last_recv",
        "limit",
        "on_close",
        "q",
        "role",
        "send_timeout",
        "subs",
        "transport",
        "unacked",
        "user_id",
        "websocket",
        "writer",
    )

    def __init__(
        self,
        websocket: Any,
        claims: Any,
        jcode: str,
        *,
        limit: int,
        send_timeout: float,
        fast: bool = True,
    ) -> None:
        self.websocket = websocket
        self.claims = claims
        self.user_id: int = claims.user_id
        self.role: str = claims.role
        self.admin = claims.role == "admin"
        self.jcode = jcode
        self.transport: asyncio.Transport | None = find_transport(websocket._send) if fast else None
        self.limit = limit
        self.send_timeout = send_timeout
        self.subs: set[str] = set()
        #: channel → live messages held back while the subscription replays its history
        self.catchup: dict[str, list[Message]] = {}
        self.q: deque[tuple[int, str, Any]] = deque()
        self.agg: dict[str, Message] = {}
        self.backlogged = False
        self.backlog_since = 0.0
        self.writer: asyncio.Task[None] | None = None
        #: dispatch channel → offset → [message, last sent (monotonic)]
        self.unacked: dict[str, dict[int, list[Any]]] = {}
        self.closed = False
        self.last_recv = time.monotonic()
        self.on_close: Any = None

    # the hot path ---------------------------------------------------------------------------------
    def send_msg(self, msg: Message, kind: int) -> None:
        """Deliver a bus message (called by the fan-out for every matching client)."""
        if self.closed:
            return
        if self.catchup and msg.channel in self.catchup:
            self.catchup[msg.channel].append(msg)
            return
        if kind == DISPATCH:
            owed = self.unacked.setdefault(msg.channel, {})
            owed[msg.offset] = [msg, time.monotonic()]
            if len(owed) > UNACKED_MAX:  # the oldest stay owed in the database: sent again on resubscribe
                del owed[next(iter(owed))]
        t = self.transport
        if t is not None and not self.backlogged and t.get_write_buffer_size() <= HIGH_WATER:
            if not t.is_closing():
                t.write(msg.wire)
            return
        self._enqueue(kind, msg.channel, msg)

    def resend(self, msg: Message) -> None:
        """Re-send an unacknowledged dispatch (not tracked again)."""
        if self.closed:
            return
        t = self.transport
        if t is not None and not self.backlogged and t.get_write_buffer_size() <= HIGH_WATER:
            if not t.is_closing():
                t.write(msg.wire)
            return
        if not any(item[2] is msg for item in self.q):
            self._enqueue(DISPATCH, msg.channel, msg)

    def send_control(self, obj: dict[str, Any] | bytes) -> None:
        """A server frame (subscribed, error, pong, ping, reset, …), in order with the messages."""
        if self.closed:
            return
        payload = obj if isinstance(obj, bytes) else dumps(obj)
        t = self.transport
        if t is not None and not self.backlogged and t.get_write_buffer_size() <= HIGH_WATER:
            if not t.is_closing():
                t.write(PING_WIRE if payload is PING_PAYLOAD else ws_text_frame(payload))
            return
        self._enqueue(CONTROL, "", payload)

    def send_reset(self, channel: str, offset: int) -> None:
        self.send_control({"type": "reset", "channel": channel, "offset": offset})

    # the queue ------------------------------------------------------------------------------------
    def _enqueue(self, kind: int, channel: str, item: Any) -> None:
        if kind == AGGREGATE:
            self.agg[channel] = item
        else:
            q = self.q
            if len(q) >= self.limit:
                if kind == DROPPABLE:
                    self._overflow(channel, item.offset)
                    self._kick()
                    return
                if len(q) >= 4 * self.limit:
                    self.abort(1008, "client too slow")
                    return
            q.append((kind, channel, item))
        self._kick()

    def _overflow(self, channel: str, offset: int) -> None:
        """Drop the queued messages of ``channel`` in favour of one reset frame."""
        kept = deque(item for item in self.q if not ((item[0] == DROPPABLE or item[0] == RESET) and item[1] == channel))
        kept.append((RESET, channel, offset))
        self.q = kept

    def _kick(self) -> None:
        if not self.backlogged:
            self.backlogged = True
            self.backlog_since = time.monotonic()
        if self.writer is None or self.writer.done():
            self.writer = asyncio.get_running_loop().create_task(self._drain())

    def _next(self) -> tuple[int, str, Any] | None:
        if self.q:
            return self.q.popleft()
        if self.agg:
            channel = next(iter(self.agg))
            return AGGREGATE, channel, self.agg.pop(channel)
        return None

    async def _drain(self) -> None:
        try:
            while not self.closed:
                t = self.transport
                if t is not None:
                    while t.get_write_buffer_size() > LOW_WATER:
                        if t.is_closing():
                            return
                        if time.monotonic() - self.backlog_since > self.send_timeout:
                            self.abort(1008, "client too slow")
                            return
                        await asyncio.sleep(0.02)
                    self.backlog_since = time.monotonic()
                item = self._next()
                if item is None:
                    break
                kind, channel, obj = item
                if kind == RESET:
                    payload: bytes = dumps({"type": "reset", "channel": channel, "offset": obj})
                elif kind == CONTROL:
                    payload = obj
                else:
                    payload = b""
                if t is not None:
                    if t.is_closing():
                        return
                    t.write(obj.wire if payload == b"" else ws_text_frame(payload))
                else:
                    text = obj.as_text() if payload == b"" else payload.decode()
                    try:
                        await asyncio.wait_for(self.websocket.send_text(text), self.send_timeout)
                    except TimeoutError:
                        self.abort(1008, "client too slow")
                        return
                    except Exception:
                        self.closed = True
                        return
                    self.backlog_since = time.monotonic()
        finally:
            if not self.q and not self.agg:
                self.backlogged = False

    async def flush(self, timeout: float = 2.0) -> None:
        """Wait until the queue is written (best effort)."""
        if self.writer is not None and not self.writer.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.writer), timeout)

    # closing --------------------------------------------------------------------------------------
    def abort(self, code: int, reason: str) -> None:
        """Close without waiting on the client (slow or silent clients)."""
        if self.closed:
            return
        self.closed = True
        log.info("closing ws client user=%s: %s (%s)", self.user_id, reason, code)
        if self.on_close is not None:
            self.on_close(self)
        asyncio.get_running_loop().create_task(self._close(code, reason, abort=True))

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        await self.flush()
        self.closed = True
        if self.on_close is not None:
            self.on_close(self)
        await self._close(code, reason, abort=False)

    async def _close(self, code: int, reason: str, *, abort: bool) -> None:
        t = self.transport
        if abort and t is not None and t.get_write_buffer_size() > LOW_WATER:
            t.abort()  # its buffer is full: a close frame could never be written
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code, reason), 1.0)
        if abort and t is not None and not t.is_closing():
            await asyncio.sleep(1.0)
            if not t.is_closing():
                t.abort()
