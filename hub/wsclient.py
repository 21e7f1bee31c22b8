"""A small asyncio client of the hub's ``/ws`` (used by tests, benchmarks and the screens' server side).

    async with connect("ws://hub:8000/ws", token) as client:
        await client.subscribe("events")
        await client.subscribe(f"dispatch:{user_id}")
        async for msg in client:
            if msg.get("type") == "reset": reload(msg["channel"])
            elif "data" in msg: apply(msg)

It reconnects by itself (exponential back-off with full jitter), re-subscribes every channel from the
last offset it saw (``since``), drops duplicates, answers the server's heartbeat, and acknowledges
``dispatch:`` messages as it hands them out (``auto_ack=False``: call ``ack()``). A ``reset`` is handed
to the caller: reload that channel's state. An invalid token (close 4001) ends the iteration with
``AuthError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed

log = logging.getLogger("gridhub.wsclient")


class AuthError(Exception):
    """The hub refused the token (close code 4001)."""


class Client:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        auto_ack: bool = True,
        backoff_min: float = 0.1,
        backoff_max: float = 10.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.token = token
        self.auto_ack = auto_ack
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.open_timeout = open_timeout
        #: channel → last offset seen (None: subscribe from now)
        self.offsets: dict[str, int | None] = {}
        self._seen: dict[str, deque[int]] = {}
        self._queue: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closed = False
        self.connects = 0

    # life cycle -----------------------------------------------------------------------------------
    async def start(self, wait: bool = True) -> Client:
        self._task = asyncio.create_task(self._run(), name="gridhub-wsclient")
        if wait:
            await self.wait_connected()
        return self

    async def wait_connected(self, timeout: float = 10.0) -> None:
        waiter = asyncio.ensure_future(self._connected.wait())
        done, _ = await asyncio.wait({waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            if self._task in done and self._task.exception():
                raise self._task.exception()  # type: ignore[misc]
            raise TimeoutError("not connected")

    async def close(self) -> None:
        self._closed = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def __aenter__(self) -> Client:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # operations -----------------------------------------------------------------------------------
    async def subscribe(self, channel: str, since: int | None = None) -> None:
        """Subscribe now and after every reconnect (from the last offset seen)."""
        if since is not None or channel not in self.offsets:
            self.offsets[channel] = since
        await self._send_subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.offsets.pop(channel, None)
        await self._send({"op": "unsubscribe", "channel": channel})

    async def ack(self, channel: str, offset: int) -> None:
        await self._send({"op": "ack", "channel": channel, "offset": offset})

    async def _send_subscribe(self, channel: str) -> None:
        op: dict[str, Any] = {"op": "subscribe", "channel": channel}
        if self.offsets.get(channel) is not None:
            op["since"] = self.offsets[channel]
        await self._send(op)

    async def _send(self, obj: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            return  # sent on reconnect (subscriptions) or lost (acks are re-earned by redelivery)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(obj))

    # receiving ------------------------------------------------------------------------------------
    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> dict[str, Any]:
        item = await self._queue.get()
        if isinstance(item, BaseException):
            self._queue.put_nowait(item)
            if isinstance(item, StopAsyncIteration):
                raise item
            raise item
        return item

    async def next(self, timeout: float | None = None) -> dict[str, Any]:
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            try:
                async with websockets.connect(
                    f"{self.url}?token={self.token}", open_timeout=self.open_timeout, max_size=None
                ) as ws:
                    self._ws = ws
                    self.connects += 1
                    for channel in list(self.offsets):
                        await self._send_subscribe(channel)
                    self._connected.set()
                    async for raw in ws:
                        attempt = 0
                        await self._on_frame(raw)
                    code = ws.close_code
            except (OSError, ConnectionClosed, TimeoutError, websockets.InvalidHandshake) as exc:
                code = getattr(exc, "rcvd", None) and exc.rcvd.code  # type: ignore[union-attr]
            except asyncio.CancelledError:
                raise
            finally:
                self._ws = None
                self._connected.clear()
            if code == 4001:
                self._queue.put_nowait(AuthError("the hub refused the token"))
                return
            if self._closed:
                break
            attempt += 1
            delay = random.uniform(0, min(self.backoff_max, self.backoff_min * 2**attempt))
            log.debug("wsclient: reconnecting in %.2fs (close code %s)", delay, code)
            await asyncio.sleep(delay)
        self._queue.put_nowait(StopAsyncIteration())

    async def _on_frame(self, raw: str | bytes) -> None:
        msg = json.loads(raw)
        if not isinstance(msg, dict):
            return
        kind = msg.get("type")
        channel = msg.get("channel")
        if "data" in msg and isinstance(channel, str):
            offset = msg.get("offset")
            seen = self._seen.setdefault(channel, deque(maxlen=4096))
            dispatch = channel.startswith("dispatch:")
            if isinstance(offset, int):
                last = self.offsets.get(channel)
                duplicate = offset in seen if dispatch else (last is not None and offset <= last)
                if dispatch and self.auto_ack:
                    await self.ack(channel, offset)
                if duplicate:
                    return
                seen.append(offset)
                if channel in self.offsets and (last is None or offset > last):
                    self.offsets[channel] = offset
            self._queue.put_nowait(msg)
        elif kind == "ping":
            await self._send({"op": "pong"})
        elif kind == "subscribed" and isinstance(channel, str):
            if self.offsets.get(channel) is None and channel in self.offsets:
                self.offsets[channel] = msg.get("offset")
        elif kind == "reset" and isinstance(channel, str):
            if channel in self.offsets and isinstance(msg.get("offset"), int):
                self.offsets[channel] = msg["offset"]
            self._queue.put_nowait(msg)
        elif kind in ("error",):
            self._queue.put_nowait(msg)


def connect(url: str, token: str, **kw: Any) -> Client:
    """``async with connect(url, token) as client:`` (or ``await connect(url, token).start()``)."""
    return Client(url, token, **kw)
