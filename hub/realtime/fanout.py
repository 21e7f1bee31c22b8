"""This hub process's clients: who is subscribed to what, and the loop that hands bus messages out.

``events`` subscribers are indexed by jurisdiction code (and by user id, for assignees) so one message
costs a few dictionary lookups plus one transport write per client that may see it; every other channel
is a plain set. Subscribing replays what the client missed (``since``) while holding back live messages
for that channel, then releases them in order, so a client sees each offset once and in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

from hub import tasks
from hub.gcwatch import FreezePolicy
from hub.metrics import WS_CONNECTS, WS_SENT, kind_of
from hub.realtime.accounts import AccountChecker, refusal
from hub.realtime.bus import CONTROL, SCOPED, Bus, BusUnavailable, Message, is_durable, is_transient
from hub.realtime.pending import PendingStore, dispatch_user
from hub.realtime.session import DISPATCH, PING_PAYLOAD, Session, channel_kind
from hub.tasks import supervise

log = logging.getLogger("gridhub.realtime.fanout")


#: Clients served per slice of a large fan-out before the event loop gets a turn.
FANOUT_SLICE = 500
#: The heartbeat visits a share of the clients every heartbeat_s / HEARTBEAT_TICKS seconds.
HEARTBEAT_TICKS = 20


class Channel:
    __slots__ = (
        "admins",
        "backlog",
        "by_code",
        "by_user",
        "closing",
        "idle_since",
        "kind",
        "name",
        "ready",
        "subs",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = channel_kind(name)
        self.subs: set[Session] = set()
        self.by_code: dict[str, set[Session]] = {}
        self.by_user: dict[int, set[Session]] = {}
        self.admins: set[Session] = set()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closing: asyncio.Future[None] | None = None
        self.idle_since = 0.0
        #: Messages waiting for (or in) a sliced fan-out, oldest first.
        self.backlog: deque[Message] = deque()

    def add(self, s: Session) -> None:
        self.subs.add(s)
        if self.name in SCOPED:
            if s.admin:
                self.admins.add(s)
            else:
                self.by_code.setdefault(s.jcode, set()).add(s)
                self.by_user.setdefault(s.user_id, set()).add(s)

    def discard(self, s: Session) -> None:
        self.subs.discard(s)
        if self.name in SCOPED:
            self.admins.discard(s)
            for index, key in ((self.by_code, s.jcode), (self.by_user, s.user_id)):
                group = index.get(key)
                if group is not None:
                    group.discard(s)
                    if not group:
                        del index[key]
        if not self.subs:
            self.idle_since = time.monotonic()


def sees(s: Session, msg: Message) -> bool:
    """Whether an ``events`` subscriber may see this message (same rule as the indexed fan-out)."""
    return s.admin or s.jcode in msg.codes or (msg.assignee is not None and msg.assignee == s.user_id)


class Fanout:
    def __init__(
        self,
        bus: Bus,
        pending: PendingStore,
        *,
        heartbeat_s: float,
        redeliver_s: float,
        replay_max: int,
        idle_unwatch_s: float = 30.0,
        accounts: AccountChecker | None = None,
        recheck_s: float = 60.0,
    ) -> None:
        self.bus = bus
        self.pending = pending
        self.heartbeat_s = heartbeat_s
        self.redeliver_s = redeliver_s
        self.replay_max = replay_max
        self.idle_unwatch_s = idle_unwatch_s
        self.accounts = accounts
        self.recheck_s = recheck_s
        self.sessions: set[Session] = set()
        self.channels: dict[str, Channel] = {}
        self.delivered = 0
        self.gc_policy = FreezePolicy()
        self._tasks: list[asyncio.Task[None]] = []
        self._bg: set[asyncio.Task[Any]] = set()
        bus.sink = self.deliver
        bus.on_reset = self.on_reset
        bus.on_reconnect = lambda: self.spawn(self.recheck())

    async def start(self) -> None:
        self._tasks = [
            supervise("ws-heartbeat", self._heartbeat),
            supervise("dispatch-redeliver", self._redeliver),
            supervise("ws-channel-gc", self._gc),
            supervise("ws-account-recheck", self._recheck_loop),
        ]

    async def stop(self) -> None:
        await tasks.stop(*self._tasks)
        await asyncio.gather(
            *(s.close(1001, "server shutting down") for s in list(self.sessions)), return_exceptions=True
        )

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # the hot path ---------------------------------------------------------------------------------
    def deliver(self, msg: Message) -> None:
        """Hand a bus message to every local subscriber that may see it.

        A small audience is served at once. A large one (the ``events`` channel of a county's screens
        and phones) is served in slices of ``FANOUT_SLICE`` with a yield to the event loop between them,
        so a 10,000-client fan-out never holds a responder's dispatch, an HTTP request or a heartbeat
        behind it; the channel's later messages queue behind it to keep each client's order.
        """
        ch = self.channels.get(msg.channel)
        if ch is None:
            if msg.channel == CONTROL:
                self._control(msg)
            return
        if ch.backlog:
            ch.backlog.append(msg)
            return
        targets = self._targets(ch, msg)
        if len(targets) <= FANOUT_SLICE:
            self._send(targets, msg, ch.kind)
            return
        ch.backlog.append(msg)
        self.spawn(self._drain(ch, targets))

    def _targets(self, ch: Channel, msg: Message) -> list[Session]:
        if ch.name not in SCOPED:
            return list(ch.subs)
        codes = msg.codes
        targets: list[Session] = []
        for code in codes:
            group = ch.by_code.get(code)
            if group:
                targets.extend(group)
        targets.extend(ch.admins)
        if msg.assignee is not None:
            group = ch.by_user.get(msg.assignee)
            if group:
                targets.extend(s for s in group if s.jcode not in codes)
        return targets

    def _send(self, targets: list[Session], msg: Message, kind: int) -> None:
        for s in targets:
            s.send_msg(msg, kind)
        self.delivered += len(targets)
        WS_SENT[kind_of(msg.channel)].inc(len(targets))

    async def _drain(self, ch: Channel, targets: list[Session] | None) -> None:
        while ch.backlog:
            msg = ch.backlog[0]
            if targets is None:
                targets = self._targets(ch, msg)
            for start in range(0, len(targets), FANOUT_SLICE):
                self._send(targets[start : start + FANOUT_SLICE], msg, ch.kind)
                await asyncio.sleep(0)
            ch.backlog.popleft()
            targets = None

    def on_reset(self, channel: str, latest: int) -> None:
        """The bus lost continuity on ``channel``: clients reload; dispatches come back from the DB."""
        ch = self.channels.get(channel)
        if ch is None:
            return
        for s in list(ch.subs):
            if ch.kind == DISPATCH:
                self.spawn(self._send_pending(s, channel))
            else:
                s.send_reset(channel, latest)

    # accounts -------------------------------------------------------------------------------------
    def _control(self, msg: Message) -> None:
        """A hub-to-hub message: ``revoke`` re-checks that user's sockets on this hub now."""
        user_id = msg.data.get("user_id") if isinstance(msg.data, dict) else None
        if msg.type == "revoke" and isinstance(user_id, int) and not isinstance(user_id, bool):
            self.spawn(self.recheck(user_id, fail_closed=True))

    async def recheck(self, user_id: int | None = None, *, fail_closed: bool = False) -> int:
        """Close (4001, with the reason) the sockets whose account no longer matches their token: all of
        this hub's, or one user's. Where the database does not answer, ``fail_closed`` closes that
        user's sockets with 1013 (they reconnect, and the connect checks again). How many were closed."""
        if self.accounts is None:
            return 0
        targets = [s for s in self.sessions if user_id is None or s.user_id == user_id]
        if not targets:
            return 0
        try:
            states = await self.accounts.states(s.user_id for s in targets)
        except Exception:
            log.exception("re-checking the accounts of %d ws clients", len(targets))
            if not fail_closed:
                return 0
            closing = [(s, 1013, "account check unavailable, reconnect") for s in targets]
        else:
            now = time.time()
            closing = []
            for s in targets:
                reason = refusal(s.claims, states.get(s.user_id), now=now)
                if reason is not None:
                    closing.append((s, 4001, reason))
        for s, _, reason in closing:
            log.info("closing ws client user=%s: %s", s.user_id, reason)
        await asyncio.gather(*(s.close(code, reason) for s, code, reason in closing), return_exceptions=True)
        return len(closing)

    async def _recheck_loop(self) -> None:
        """The safety net under the revocations: every ``recheck_s`` (also closes expired tokens)."""
        while True:
            await asyncio.sleep(self.recheck_s)
            try:
                await self.recheck()
            except Exception:
                log.exception("ws account re-check")

    # sessions -------------------------------------------------------------------------------------
    def register(self, s: Session) -> None:
        self.sessions.add(s)
        s.on_close = self.unregister
        self.gc_policy.on_open()
        WS_CONNECTS.inc()

    def unregister(self, s: Session) -> None:
        """Forget a client (called on close and again when its handler ends: idempotent)."""
        live = s in self.sessions
        self.sessions.discard(s)
        for channel in list(s.subs):
            self._remove(s, channel)
        if live:
            self.gc_policy.on_close(len(self.sessions))

    async def _channel(self, name: str) -> Channel:
        """The channel's state, watching it on the bus first if this hub had nobody on it."""
        while True:
            ch = self.channels.get(name)
            if ch is None:
                ch = self.channels[name] = Channel(name)
                try:
                    await self.bus.watch(name)
                except BaseException as exc:
                    self.channels.pop(name, None)
                    ch.ready.set_exception(BusUnavailable(str(exc)))
                    ch.ready.exception()  # consumed here; waiters get their own copy below
                    raise
                ch.ready.set_result(None)
                return ch
            if ch.closing is not None:
                await asyncio.shield(ch.closing)
                continue
            if not ch.ready.done():
                await asyncio.shield(ch.ready)
            elif ch.ready.exception() is not None:
                continue
            return ch

    def _remove(self, s: Session, channel: str) -> None:
        s.subs.discard(channel)
        s.catchup.pop(channel, None)
        s.unacked.pop(channel, None)
        ch = self.channels.get(channel)
        if ch is not None:
            ch.discard(s)

    async def subscribe(self, s: Session, channel: str, since: int | None) -> None:
        if channel in s.subs:
            self._remove(s, channel)
        ch = await self._channel(channel)
        s.catchup[channel] = []
        s.subs.add(channel)
        ch.add(s)
        try:
            if ch.kind == DISPATCH:
                last = await self._subscribe_dispatch(s, channel, since)
            elif is_durable(channel):
                history = await self.bus.history(channel, since, self.replay_max)
                s.send_control(
                    {"type": "subscribed", "channel": channel, "offset": history.latest, "epoch": history.epoch}
                )
                last = history.latest
                is_events = channel in SCOPED
                if history.reset and since is not None:
                    s.send_reset(channel, history.latest)
                else:
                    for m in history.messages:
                        if not is_events or sees(s, m):
                            self._push(s, m, ch.kind)
            else:
                last = 0
                s.send_control({"type": "subscribed", "channel": channel, "offset": 0})
                if is_transient(channel):
                    latest = await self.bus.latest_transient(channel)
                    if latest is not None:
                        self._push(s, latest, ch.kind)
                        last = latest.offset
        except BaseException:
            self._remove(s, channel)
            raise
        held = s.catchup.pop(channel, None) or []
        for m in held:
            if m.offset > last or (ch.kind == DISPATCH and m.offset not in s.unacked.get(channel, {})):
                s.send_msg(m, ch.kind)

    async def _subscribe_dispatch(self, s: Session, channel: str, since: int | None) -> int:
        """Every unacknowledged dispatch (the database's record, which survives Redis), plus what the
        stream holds after ``since`` (or its last few entries) that the database has not recorded yet
        (the relay appends to the bus a moment before it commits)."""
        top = await self.bus.history(channel, None, 0)
        start = max(top.epoch, top.latest - 64) if since is None else since
        recent = await self.bus.history(channel, start, self.replay_max)
        s.send_control({"type": "subscribed", "channel": channel, "offset": recent.latest, "epoch": recent.epoch})
        user_id = dispatch_user(channel)
        owed: list[Message] = []
        known: set[int] = set()
        if user_id is not None:
            try:
                owed, known = await self.pending.state(user_id, start)
            except Exception:
                # Never let a phone believe it has everything: make it reconnect and ask again.
                log.exception("loading pending dispatches for %s", channel)
                await s.close(1013, "pending dispatches unavailable, reconnect")
                return recent.latest
        owed_offsets = {m.offset for m in owed}
        extra = [] if recent.reset else [m for m in recent.messages if m.offset not in known]
        for m in sorted(owed + [m for m in extra if m.offset not in owed_offsets], key=lambda m: m.offset):
            self._push_dispatch(s, m)
        return recent.latest

    def _push(self, s: Session, m: Message, kind: int) -> None:
        """Send outside the catch-up hold (history replay)."""
        held = s.catchup.pop(m.channel, None)
        try:
            s.send_msg(m, kind)
        finally:
            if held is not None:
                s.catchup[m.channel] = held

    def _push_dispatch(self, s: Session, m: Message) -> None:
        if m.offset in s.unacked.get(m.channel, {}):
            return
        self._push(s, m, DISPATCH)

    async def _pending_for(self, channel: str) -> list[Message]:
        user_id = dispatch_user(channel)
        if user_id is None:
            return []
        try:
            return await self.pending.unacked(user_id)
        except Exception:
            log.exception("loading pending dispatches for %s", channel)
            return []

    async def _send_pending(self, s: Session, channel: str) -> None:
        for m in await self._pending_for(channel):
            if channel in s.subs:
                self._push_dispatch(s, m)

    def unsubscribe(self, s: Session, channel: str) -> None:
        self._remove(s, channel)

    def ack(self, s: Session, channel: str, offset: int) -> None:
        ch = self.channels.get(channel)
        for other in ch.subs if ch is not None else (s,):
            pending = other.unacked.get(channel)
            if pending is not None:
                pending.pop(offset, None)
        user_id = dispatch_user(channel)
        if user_id is not None:
            self.spawn(self.pending.ack(user_id, offset))

    # timers ---------------------------------------------------------------------------------------
    async def _heartbeat(self) -> None:
        """Ping each client once per ``heartbeat_s``, spread over ``HEARTBEAT_TICKS`` ticks.

        Pinging 10,000 clients at once would bring 10,000 pongs back within milliseconds and stall live
        delivery behind them; a twentieth of the clients a tick keeps the load flat.
        """
        tick = 0
        while True:
            await asyncio.sleep(self.heartbeat_s / HEARTBEAT_TICKS)
            tick = (tick + 1) % HEARTBEAT_TICKS
            now = time.monotonic()
            limit = 3 * self.heartbeat_s
            for s in list(self.sessions):
                if hash(s) % HEARTBEAT_TICKS != tick:
                    continue
                if now - s.last_recv > limit:
                    s.abort(1008, "heartbeat timeout")
                elif not s.backlogged:
                    s.send_control(PING_PAYLOAD)

    async def _redeliver(self) -> None:
        period = max(0.1, min(self.redeliver_s / 4, 2.0))
        while True:
            await asyncio.sleep(period)
            self.redeliver_once(time.monotonic())

    def redeliver_once(self, now: float) -> None:
        """Re-send every dispatch unacknowledged for ``redeliver_s``.

        Re-sending can close a client (its queue is full), which drops its ``unacked``: iterate over
        copies and stop at a closed session.
        """
        for s in list(self.sessions):
            if not s.unacked:
                continue
            for entries in list(s.unacked.values()):
                for entry in list(entries.values()):
                    if s.closed:
                        break
                    if now - entry[1] >= self.redeliver_s:
                        entry[1] = now
                        s.resend(entry[0])

    async def _gc(self) -> None:
        """Stop watching channels nobody on this hub has wanted for a while."""
        while True:
            await asyncio.sleep(max(1.0, self.idle_unwatch_s / 3))
            now = time.monotonic()
            for name, ch in list(self.channels.items()):
                if ch.subs or ch.closing is not None or not ch.ready.done():
                    continue
                if now - ch.idle_since < self.idle_unwatch_s:
                    continue
                ch.closing = asyncio.get_running_loop().create_future()
                try:
                    await self.bus.unwatch(name)
                except Exception:
                    log.debug("unwatch %s failed", name, exc_info=True)
                finally:
                    self.channels.pop(name, None)
                    ch.closing.set_result(None)
