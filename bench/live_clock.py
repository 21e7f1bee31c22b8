"""A live camera that shows the wall clock as a machine-readable pattern, served as MPEG-TS over HTTP.

Each frame carries the time it was drawn (UNIX ms) in two rows of 24 black/white 32×32 blocks at the
top (40 bits of milliseconds and an 8-bit checksum), big enough to survive H.264 at any sane
quality. A browser reads it back from the decoded picture (canvas), so glass-to-glass latency is
``Date.now() − drawn`` on the same machine clock. Encoded with PyAV's libx264 (baseline, no B-frames,
zerolatency, a keyframe a second, SPS/PPS before each), muxed to MPEG-TS and streamed over plain HTTP
to any number of clients (the hub's readers): ``python bench/live_clock.py --port 0`` prints
``READY <port>`` and serves ``/live.ts``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time
from fractions import Fraction

import av
import cv2
import numpy as np

WIDTH, HEIGHT = 768, 576
BLOCK = 32
PER_ROW = WIDTH // BLOCK  # 24
BITS = 2 * PER_ROW  # 40 bits of ms + 8 of checksum
PATTERN_JS = f"""
// Read the clock pattern from a drawn frame (canvas 2D context of {WIDTH}x{HEIGHT}); null if unreadable.
function readClock(ctx) {{
  const data = ctx.getImageData(0, 0, {WIDTH}, {2 * BLOCK}).data;
  const bits = [];
  for (let i = 0; i < {BITS}; i++) {{
    const x = (i % {PER_ROW}) * {BLOCK} + {BLOCK // 2}, y = Math.floor(i / {PER_ROW}) * {BLOCK} + {BLOCK // 2};
    const o = (y * {WIDTH} + x) * 4;
    bits.push((data[o] + data[o + 1] + data[o + 2]) / 3 > 128 ? 1 : 0);
  }}
  let ms = 0;
  for (let i = 0; i < 40; i++) ms = ms * 2 + bits[i];
  let check = 0;
  for (let i = 40; i < 48; i++) check = check * 2 + bits[i];
  let sum = 0, v = ms;
  for (let i = 0; i < 5; i++) {{ sum += v % 256; v = Math.floor(v / 256); }}
  return (sum % 256) === check ? ms : null;
}}
function clockLatency(ms) {{ return ((Date.now() % 2 ** 40) - ms + 2 ** 40) % 2 ** 40; }}
"""


def checksum(ms: int) -> int:
    return sum((ms >> (8 * i)) & 0xFF for i in range(5)) % 256


def clock_bits(ms: int) -> list[int]:
    ms &= (1 << 40) - 1
    value = (ms << 8) | checksum(ms)
    return [(value >> (BITS - 1 - i)) & 1 for i in range(BITS)]


def draw(ms: int, n: int) -> np.ndarray:
    """A BGR frame: the clock pattern on top, a moving bar and the time in text below."""
    image = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
    x = (n * 12) % WIDTH
    image[200:400, x : x + 40] = (40, 160, 230)
    for i, bit in enumerate(clock_bits(ms)):
        bx, by = (i % PER_ROW) * BLOCK, (i // PER_ROW) * BLOCK
        image[by : by + BLOCK, bx : bx + BLOCK] = 235 if bit else 16
    stamp = time.strftime("%H:%M:%S", time.localtime(ms / 1000)) + f".{ms % 1000:03d}"
    cv2.putText(image, stamp, (40, 500), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 4)
    return image


def read_clock(image: np.ndarray) -> int | None:
    """The ms a decoded BGR frame carries, or None when the pattern does not check out."""
    bits = []
    for i in range(BITS):
        x, y = (i % PER_ROW) * BLOCK + BLOCK // 2, (i // PER_ROW) * BLOCK + BLOCK // 2
        bits.append(1 if int(image[y, x].mean()) > 128 else 0)
    value = 0
    for b in bits:
        value = value * 2 + b
    ms, check = value >> 8, value & 0xFF
    return ms if checksum(ms) == check else None


def latency_ms(drawn_ms: int, now_ms: float) -> float:
    """now − drawn on the 40-bit clock the pattern carries."""
    return (now_ms - drawn_ms) % (1 << 40)


class ClockSource:
    """Encodes clock frames at ``fps`` in a thread; every HTTP client gets the MPEG-TS bytes from then on."""

    def __init__(self, fps: int = 10) -> None:
        self.fps = fps
        self.clients: set[asyncio.Queue[bytes]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self.frames = 0

    def _send(self, data: bytes) -> None:
        for q in list(self.clients):
            if q.qsize() < 500:
                q.put_nowait(data)

    def write(self, data: bytes) -> int:  # the muxer's output file
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._send, bytes(data))
        return len(data)

    def run(self) -> None:
        out = av.open(self, mode="w", format="mpegts", options={"flush_packets": "1"})
        stream = out.add_stream("libx264", rate=self.fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.options = {
            "profile": "baseline",
            "tune": "zerolatency",
            "preset": "veryfast",
            "bf": "0",
            "g": str(self.fps),
            "keyint_min": str(self.fps),
            "sc_threshold": "0",
            "crf": "28",
            "x264-params": "repeat-headers=1",
        }
        stream.codec_context.time_base = Fraction(1, self.fps)
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            due = start + n / self.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            frame = av.VideoFrame.from_ndarray(draw(int(time.time() * 1000), n), format="bgr24")
            frame.pts = n
            frame.time_base = Fraction(1, self.fps)
            for packet in stream.encode(frame):
                out.mux(packet)
            n += 1
            self.frames = n
        out.close()

    def stop(self) -> None:
        self._stop.set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n")
            self.clients.add(queue)
            while True:
                writer.write(await queue.get())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.clients.discard(queue)
            writer.close()


async def serve(port: int, fps: int) -> None:
    source = ClockSource(fps)
    source.loop = asyncio.get_running_loop()
    server = await asyncio.start_server(source.handle, "127.0.0.1", port)
    thread = threading.Thread(target=source.run, daemon=True)
    thread.start()
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    try:
        async with server:
            await server.serve_forever()
    finally:
        source.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.fps))


if __name__ == "__main__":
    main()
