"""The ``/ws`` endpoint (DESIGN section 9): authenticate, then read client ops until the client leaves.

Client → server: ``{"op":"auth","token":…}`` (first message, where the URL has no ``token``),
``{"op":"subscribe","channel":C,"since":N?}``, ``{"op":"unsubscribe","channel":C}``,
``{"op":"ack","channel":C,"offset":N}``, ``{"op":"ping"}`` (→ pong), ``{"op":"pong"}`` (answer to the
server's ``{"type":"ping"}``; any message counts as a sign of life).

Server → client: ``{"channel","offset","type","data","ts"}`` (``ts``: publish time, Unix ms),
``{"type":"subscribed","channel","offset","epoch"}``, ``{"type":"reset","channel","offset"}``,
``{"type":"unsubscribed","channel"}``, ``{"type":"error","code","message"}``, ``{"type":"pong"}``,
``{"type":"ping"}`` every ``ws_heartbeat_s``.

Limits: a connection holds at most ``ws_max_channels`` channels (beyond: error ``too_many_channels``, the
connection stays up); ``screen:`` channels are only those the hub publishes (channels.py); ``since`` and
``offset`` are non-negative integers below 2**63 (otherwise ``bad_request`` naming the field).

Close codes: 4001 invalid or missing token, or its account no longer matches it (logged out, deactivated,
role or jurisdiction changed: checked on connect and whenever the account changes); 1009 message too big;
1008 client too slow or silent for 3 heartbeats; 1013 the bus (or the account check) is unavailable
(reconnect later); 1001 server shutting down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from hub.realtime.bus import BusUnavailable, loads
from hub.realtime.channels import ChannelError, authorise, jurisdiction_code, subscription
from hub.realtime.pending import dispatch_user
from hub.realtime.session import PONG_PAYLOAD, Session
from hub.security import InvalidToken, decode_token

if TYPE_CHECKING:
    from hub.realtime import Realtime

log = logging.getLogger("gridhub.realtime.ws")

AUTH_TIMEOUT_S = 10.0


def _error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


def _offset(value: Any, name: str = "offset") -> int:
    """A channel offset: a non-negative integer (or its decimal string) below 2**63; ValueError otherwise."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    raise ValueError(f"{name} must be a non-negative integer offset (below 2**63), not {str(value)[:40]}")


def _parse(text: str) -> Any:
    """The JSON of a client message. orjson refuses numbers beyond a double's range (``1e400``) that are valid
    JSON; the stdlib reads those (as ``inf``) so that the op gets a clear error about its field instead of
    ``bad_json``. The stdlib's extensions (``NaN``, ``Infinity``) stay refused."""
    try:
        return loads(text)
    except ValueError:
        try:
            return json.loads(text, parse_constant=_refuse_constant)
        except RecursionError:  # nested deeper than the stdlib reads (orjson refused it too)
            raise ValueError("nested too deep") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def websocket_endpoint(rt: Realtime, websocket: WebSocket) -> None:
    settings = rt.settings
    max_bytes = settings.ws_max_message_bytes
    await websocket.accept()
    token = websocket.query_params.get("token")
    if not token:
        try:
            first = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT_S)
            obj = loads(first.get("text") or b"{}") if first["type"] == "websocket.receive" else {}
            if isinstance(obj, dict) and obj.get("op") == "auth" and isinstance(obj.get("token"), str):
                token = obj["token"]
        except (TimeoutError, ValueError, KeyError):
            token = None
        except Exception:
            return
    try:
        if not token:
            raise InvalidToken("missing token")
        claims = decode_token(token, secret=rt.secret)
    except InvalidToken:
        await websocket.close(4001, "invalid token")
        return

    s = Session(
        websocket,
        claims,
        # A department (职能部门) serves the events it is given, not every event of its level: no area scope,
        # as in dispatch/visibility.py; what is assigned to it still reaches it.
        "" if claims.role == "department" else jurisdiction_code(claims),
        limit=settings.ws_queue_size,
        send_timeout=rt.send_timeout_s,
        fast=rt.fast_path,
    )
    fanout = rt.fanout
    # Registered before the account check, so a revocation arriving meanwhile finds this socket.
    fanout.register(s)
    try:
        try:
            reason = await rt.accounts.check(claims)
        except Exception:
            log.exception("checking the account of ws user %s", claims.user_id)
            await s.close(1013, "account check unavailable, reconnect")
            return
        if reason is not None:
            await s.close(4001, reason)
            return
        while not s.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            s.last_recv = time.monotonic()
            text = message.get("text")
            raw = text if text is not None else message.get("bytes") or b""
            if len(raw) > max_bytes or (
                isinstance(raw, str) and len(raw) * 4 > max_bytes and len(raw.encode()) > max_bytes
            ):
                s.send_control(_error("too_large", f"messages are limited to {max_bytes} bytes"))
                await s.close(1009, "message too big")
                break
            if text is None:
                s.send_control(_error("bad_frame", "binary frames are not supported; send JSON text"))
                continue
            try:
                obj = _parse(text)
            except ValueError:
                s.send_control(_error("bad_json", "not a JSON message"))
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("op"), str):
                s.send_control(_error("bad_request", 'expected {"op": …}'))
                continue
            await _handle(rt, s, obj)
    except Exception as exc:
        if not s.closed:
            log.debug("ws connection of user %s ended: %r", s.user_id, exc)
    finally:
        s.closed = True
        fanout.unregister(s)


async def _handle(rt: Realtime, s: Session, obj: dict[str, Any]) -> None:
    op = obj["op"]
    if op == "ping":
        s.send_control(PONG_PAYLOAD)
    elif op in ("pong", "auth"):
        return
    elif op == "subscribe":
        channel = obj.get("channel")
        try:
            channel = authorise(s.claims, channel)
            limit = rt.settings.ws_max_channels
            if channel not in s.subs and len(s.subs) >= limit:
                raise ChannelError(
                    "too_many_channels",
                    f"a connection may hold at most {limit} channels: unsubscribe from one first",
                )
            channel = await subscription(rt.session_factory, s.claims, channel)
            since = None if obj.get("since") is None else _offset(obj.get("since"), "since")
        except ChannelError as exc:
            s.send_control(_error(exc.code, exc.message, channel=str(channel)[:100]))
            return
        except ValueError as exc:
            s.send_control(_error("bad_request", str(exc), channel=channel, field="since"))
            return
        try:
            await rt.fanout.subscribe(s, channel, since)
        except BusUnavailable:
            s.send_control(_error("unavailable", "the bus is unavailable; reconnect later", channel=channel))
            await s.close(1013, "bus unavailable")
    elif op == "unsubscribe":
        channel = obj.get("channel")
        if isinstance(channel, str) and channel in s.subs:
            rt.fanout.unsubscribe(s, channel)
        s.send_control({"type": "unsubscribed", "channel": str(channel)[:100]})
    elif op == "ack":
        channel = obj.get("channel")
        try:
            offset = _offset(obj.get("offset"))
        except ValueError as exc:
            s.send_control(_error("bad_request", str(exc)))
            return
        if not isinstance(channel, str) or dispatch_user(channel) is None:
            return  # acknowledging a non-dispatch channel means nothing; harmless
        try:
            authorise(s.claims, channel)
        except ChannelError as exc:
            s.send_control(_error(exc.code, exc.message, channel=channel))
            return
        assert offset is not None
        rt.fanout.ack(s, channel, offset)
    else:
        s.send_control(_error("unknown_op", f"unknown op {op[:40]!r}"))
