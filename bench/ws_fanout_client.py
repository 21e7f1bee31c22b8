"""Load client of bench/ws_fanout.py: many WebSocket connections in one process, measured cheaply.

Run by the orchestrator, one process per share of the connections; it talks over stdin/stdout, one JSON
object a line:

* reads its connections from ``--conns`` (JSON lines ``{"url", "subscribe": [channel…], "probe": bool}``),
  takes every ``--procs``-th line from ``--index``, connects them (at most ``--concurrency`` handshakes in
  flight, source addresses spread over ``--src-ips``) and prints ``{"event": "connected", …}``;
* on ``measure`` it starts counting, on ``stop`` it prints ``{"event": "result", …}`` and exits.

The WebSocket client is deliberately minimal (RFC 6455 by hand on an asyncio Protocol, no compression
offered): it shares two cores with the server under test, so it parses only the frame header and the
``"sent_ts":`` number of each text frame, answers pings, and keeps latencies in a 0.1 ms histogram. The
probe connection (the responder whose ``dispatch:`` channel the publisher pushes to) parses its messages
fully and acknowledges dispatches as a real client would.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import sys
import time
from collections import Counter

from bench_process import raise_nofile, run

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
#: Where a message's publish time is: ``"sent_ts":`` (seconds, set by the publisher) or gridhub's
#: envelope ``,"ts":`` (ms, the outbox row's created_at); set by --ts-key.
TS_KEY = b'"sent_ts":'
TS_LEN = len(TS_KEY)
TS_SCALE = 1.0
DISPATCH_CHANNEL = b'"channel":"dispatch:'
APP_PING = b'{"type":"ping"}'
PING_LEN = len(APP_PING)
APP_PONG = '{"op":"pong"}'
BUCKET_S = 1e-4  # histogram resolution: 0.1 ms


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (FIN set)."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return head + key + masked


class Stats:
    """What one process measures, shared by its connections."""

    def __init__(self) -> None:
        self.measuring = False
        self.received = 0  # messages carrying sent_ts, first delivery
        self.duplicates = 0  # sent_ts not newer than the last one on that connection
        self.other = 0  # frames without sent_ts (acks, heartbeats, …)
        self.hist: Counter[int] = Counter()
        self.max_latency = 0.0
        self.probe_hist: Counter[int] = Counter()
        self.probe_received = 0
        self.probe_max = 0.0
        self.closed = Counter()  # close code → connections closed by the server
        self.lost_connections = 0


class Conn(asyncio.Protocol):
    __slots__ = (
        "buf",
        "close_code",
        "handshaken",
        "last_ts",
        "probe",
        "probe_last",
        "stats",
        "transport",
        "waiter",
    )

    def __init__(self, stats: Stats, probe: bool, waiter: asyncio.Future[None]) -> None:
        self.stats = stats
        self.probe = probe
        self.waiter = waiter
        self.buf = bytearray()
        self.handshaken = False
        self.last_ts = 0.0
        self.probe_last = 0.0
        self.transport: asyncio.Transport | None = None
        self.close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"closed during handshake: {exc}"))
        elif self.handshaken:
            self.stats.lost_connections += 1
            self.stats.closed[self.close_code if self.close_code is not None else -1] += 1
        self.transport = None

    def send_text(self, text: str) -> None:
        if self.transport is not None:
            self.transport.write(mask_frame(0x1, text.encode()))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    self.transport.close()  # type: ignore[union-attr]
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 101 " not in status + b" ":
                if not self.waiter.done():
                    self.waiter.set_exception(ConnectionError(status.decode(errors="replace")))
                self.transport.close()  # type: ignore[union-attr]
                return
            del buf[: end + 4]
            self.handshaken = True
            if not self.waiter.done():
                self.waiter.set_result(None)
        self.parse_frames(time.time())

    def parse_frames(self, now: float) -> None:
        buf = self.buf
        pos = 0
        size = len(buf)
        stats = self.stats
        while size - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                if size - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + n
            if end > size:
                break
            opcode = b0 & 0x0F
            if opcode == 0x1 or opcode == 0x0:  # text (fragmented messages are not expected: small frames)
                i = buf.rfind(TS_KEY, start, end)
                if i < 0:
                    stats.other += 1
                    if end - start == PING_LEN and buf[start:end] == APP_PING:
                        self.send_text(APP_PONG)  # gridhub's application heartbeat
                    elif self.probe:
                        self.on_probe_message(bytes(buf[start:end]), now)
                else:
                    i += TS_LEN
                    j = buf.find(b",", i, end)
                    k = buf.find(b"}", i, end)
                    if j < 0 or (0 <= k < j):
                        j = k
                    sent = float(buf[i:j]) * TS_SCALE
                    if self.probe and buf.find(DISPATCH_CHANNEL, start, end) >= 0:
                        self.on_probe_message(bytes(buf[start:end]), now, sent)
                    elif sent > self.last_ts:
                        self.last_ts = sent
                        if stats.measuring:
                            stats.received += 1
                            lat = now - sent
                            stats.hist[int(lat / BUCKET_S)] += 1
                            if lat > stats.max_latency:
                                stats.max_latency = lat
                    elif stats.measuring:
                        stats.duplicates += 1
            elif opcode == 0x9:  # ping → pong
                if self.transport is not None:
                    self.transport.write(mask_frame(0xA, bytes(buf[start:end])))
            elif opcode == 0x8:  # close: answer and let the server close the socket
                self.close_code = (buf[start] << 8 | buf[start + 1]) if n >= 2 else 1005
                if self.transport is not None:
                    self.transport.write(mask_frame(0x8, bytes(buf[start : start + 2])))
            pos = end
        if pos:
            del buf[:pos]

    def on_probe_message(self, payload: bytes, now: float, sent: float | None = None) -> None:
        """The dispatch probe: parse fully, record the latency of each new dispatch, ack it."""
        try:
            msg = json.loads(payload)
        except ValueError:
            return
        channel = msg.get("channel") or ""
        if not channel.startswith("dispatch:") or sent is None:
            return
        offset = msg.get("offset")
        if offset is not None:
            self.send_text(json.dumps({"op": "ack", "channel": channel, "offset": offset}))
        stats = self.stats
        if sent > self.probe_last:
            self.probe_last = sent
            if stats.measuring:
                lat = now - sent
                stats.probe_received += 1
                stats.probe_hist[int(lat / BUCKET_S)] += 1
                stats.probe_max = max(stats.probe_max, lat)


async def open_conn(
    loop: asyncio.AbstractEventLoop,
    host: str,
    port: int,
    src_ip: str | None,
    path: str,
    subscribe: list[str],
    probe: bool,
    stats: Stats,
    timeout: float,
) -> tuple[Conn, float]:
    t0 = time.perf_counter()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if src_ip:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((src_ip, 0))
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
    except BaseException:
        sock.close()
        raise
    waiter: asyncio.Future[None] = loop.create_future()
    _, conn = await loop.create_connection(lambda: Conn(stats, probe, waiter), sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    conn.transport.write(  # type: ignore[union-attr]
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    try:
        await asyncio.wait_for(waiter, timeout)
    except BaseException:
        if conn.transport is not None:
            conn.transport.abort()
        raise
    for channel in subscribe:
        conn.send_text(json.dumps({"op": "subscribe", "channel": channel}))
    return conn, time.perf_counter() - t0


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def main(args: argparse.Namespace) -> None:
    global TS_KEY, TS_LEN, TS_SCALE
    if args.ts_key == "ts":
        TS_KEY, TS_SCALE = b',"ts":', 1e-3
        TS_LEN = len(TS_KEY)
    raise_nofile()
    loop = asyncio.get_running_loop()
    with open(args.conns) as f:
        specs = [json.loads(line) for i, line in enumerate(f) if i % args.procs == args.index]
    src_ips = [ip for ip in args.src_ips.split(",") if ip]
    stats = Stats()
    sem = asyncio.Semaphore(args.concurrency)
    conns: list[Conn] = []
    times: list[float] = []
    errors: Counter[str] = Counter()

    async def one(i: int, spec: dict) -> None:
        async with sem:
            try:
                conn, dt = await open_conn(
                    loop,
                    args.host,
                    args.port,
                    src_ips[i % len(src_ips)] if src_ips else None,
                    spec["path"],
                    spec.get("subscribe", []),
                    bool(spec.get("probe")),
                    stats,
                    args.timeout,
                )
            except (TimeoutError, OSError, ConnectionError) as exc:
                errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                return
            conns.append(conn)
            times.append(dt)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i, spec) for i, spec in enumerate(specs)))
    total = time.perf_counter() - t0
    emit(
        {
            "event": "connected",
            "ok": len(conns),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(5)),
            "seconds": total,
            "connect_times": times,
        }
    )

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "measure":
            stats.measuring = True
            stats.lost_connections = 0
            stats.closed.clear()
        elif line in ("stop", ""):
            stats.measuring = False
            break
    open_now = sum(1 for c in conns if c.transport is not None)
    emit(
        {
            "event": "result",
            "connections_open": open_now,
            "received": stats.received,
            "duplicates": stats.duplicates,
            "other_frames": stats.other,
            "hist": dict(stats.hist),
            "max_latency": stats.max_latency,
            "probe_received": stats.probe_received,
            "probe_hist": dict(stats.probe_hist),
            "probe_max": stats.probe_max,
            "closed_during_measure": stats.lost_connections,
            "close_codes": {str(k): v for k, v in stats.closed.items()},
        }
    )
    for c in conns:
        if c.transport is not None:
            c.transport.abort()


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", required=True, help="JSON lines file of connections")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--src-ips", default="", help="comma-separated loopback source addresses")
    p.add_argument("--concurrency", type=int, default=256, help="handshakes in flight")
    p.add_argument("--timeout", type=float, default=30.0, help="per-connection handshake timeout")
    p.add_argument("--ts-key", choices=("sent_ts", "ts"), default="sent_ts")
    p.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True)
    return p.parse_args(argv)


if __name__ == "__main__":
    ns = parse_args()
    run(main(ns), use_uvloop=ns.uvloop)
