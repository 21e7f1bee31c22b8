"""One reader per camera, shared by every consumer (contract C4).

A :class:`CameraReader` owns one thread that opens the source with PyAV, demuxes without decoding and
reconnects with exponential back-off and jitter. The event loop never blocks on a camera: packets
cross to it with ``call_soon_threadsafe`` only while an async consumer exists. What it offers:

* ``status()``: ``state`` no_source | connecting | online | offline | error, ``reason``, measured ``fps``,
  ``width``, ``height``, ``codec``, ``last_frame_ts``;
* ``packets()``: H.264/H.265 as Annex-B with SPS/PPS in band, starting at the current GOP's keyframe
  (kept per camera so a new viewer starts at once), then live; a consumer that falls behind skips to
  the next keyframe;
* ``frames(fps)``: decoded :class:`~stream.frames.Frame` objects at ``fps`` at most, latest-frame
  semantics; decoding runs only while such a consumer (or a snapshot) exists;
* ``latest_frame()`` and ``snapshot()``; ``video_info`` (codec, width, height, time_base);
* thread-side sinks (the recorder) that get every packet in the reader thread, without the event loop.

Memory per camera is bounded: one GOP (capped in packets and bytes), one bounded queue per consumer,
one latest frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import av

from stream.decoder import Decoder
from stream.frames import Frame
from stream.sources import Source, SourceError, open_options, parse, redact
from stream.wvp import WvpClient, WvpError

log = logging.getLogger("gridhub.stream.reader")

STATES = ("no_source", "connecting", "online", "offline", "error")
_ANNEXB_FILTERS = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
_START_CODE = re.compile(b"\x00\x00\x01")


@dataclass(frozen=True, slots=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    time_base: Fraction


class PacketSink(Protocol):
    """A consumer called in the reader thread (the recorder): must be quick and must not block."""

    def on_packet(self, packet: av.Packet, info: VideoInfo, received: float) -> None: ...

    def on_disconnect(self) -> None: ...


class _Stop(Exception):
    pass


class _SourceFailure(Exception):
    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


def _has_parameter_sets(data: bytes, codec: str) -> bool:
    """Whether an Annex-B access unit carries its SPS (H.264 NAL 7, H.265 NAL 33) in band."""
    for m in _START_CODE.finditer(data, 0, 4096):
        i = m.end()
        if i >= len(data):
            break
        nal = data[i] & 0x1F if codec == "h264" else (data[i] >> 1) & 0x3F
        if nal == (7 if codec == "h264" else 33):
            return True
    return False


def classify(exc: BaseException) -> tuple[str, str]:
    """(state, reason) for a failed open or read; the reason is safe to show (credentials redacted)."""
    text = redact(str(exc))[:300]
    if isinstance(exc, _SourceFailure):
        return exc.state, exc.reason
    if isinstance(exc, WvpError):
        return "error", text
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return "error", "unauthorized: wrong credentials? (" + text + ")"
    if isinstance(exc, av.error.HTTPNotFoundError | av.error.FileNotFoundError):
        return "error", "not found: " + text
    if isinstance(exc, av.error.InvalidDataError | av.error.DemuxerNotFoundError):
        return "error", "invalid data: " + text
    if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
        return "offline", "timed out: " + text
    if isinstance(exc, av.error.ConnectionRefusedError | ConnectionRefusedError):
        return "offline", "connection refused: " + text
    if isinstance(exc, OSError | av.FFmpegError):
        return "offline", text
    return "error", f"{type(exc).__name__}: {text}"


class _PacketConsumer:
    __slots__ = ("event", "items", "last_seq", "maxlen", "need_key")

    def __init__(self, maxlen: int) -> None:
        self.items: deque[av.Packet] = deque()
        self.event = asyncio.Event()
        self.last_seq = 0
        self.need_key = True
        self.maxlen = maxlen


class _FrameConsumer:
    __slots__ = ("event", "fps", "latest")

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.latest: Frame | None = None
        self.event = asyncio.Event()


class CameraReader:
    """The one reader of one camera. Create it on the event loop, then ``start()``."""

    def __init__(
        self,
        camera_id: int,
        url: str,
        *,
        rtsp_transport: str = "tcp",
        open_timeout_s: float = 8.0,
        read_timeout_s: float = 8.0,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        gop_max_packets: int = 600,
        gop_max_bytes: int = 16 * 1024 * 1024,
        consumer_queue: int = 300,
        on_status: Callable[[CameraReader], None] | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.url = url
        self.rtsp_transport = rtsp_transport
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.gop_max_packets = gop_max_packets
        self.gop_max_bytes = gop_max_bytes
        self.consumer_queue = consumer_queue
        self.on_status = on_status
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state = "no_source" if not url.strip() else "connecting"
        self._reason: str | None = None
        self._decode_error: str | None = None
        self._fps = 0.0
        self._last_frame_ts: float | None = None
        self._info: VideoInfo | None = None
        self._since = time.time()
        self._seq = 0
        self._gop: list[tuple[int, av.Packet]] | None = None
        self._gop_bytes = 0
        self._sinks: list[PacketSink] = []
        self._pkt_consumers: set[_PacketConsumer] = set()
        self._frame_consumers: set[_FrameConsumer] = set()
        self._decoder: Decoder | None = None
        self._latest: Frame | None = None
        self.connects = 0
        self.packets_read = 0

    # lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start reading (from the event loop). A camera without a source stays ``no_source``."""
        self._loop = asyncio.get_running_loop()
        if not self.url.strip() or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"gridhub-camera-{self.camera_id}", daemon=True)
        self._thread.start()

    async def stop(self, timeout: float = 3.0) -> None:
        """Stop the thread and every consumer's decoding; waits up to ``timeout`` for the thread."""
        self._stop.set()
        with self._lock:
            decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.stop()
        thread = self._thread
        deadline = time.monotonic() + timeout
        while thread is not None and thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for c in list(self._pkt_consumers):
            c.event.set()

    async def __aenter__(self) -> CameraReader:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # status ---------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def video_info(self) -> VideoInfo | None:
        return self._info

    @property
    def subscribers(self) -> int:
        """How many ``packets()`` consumers (live viewers) are attached now."""
        return len(self._pkt_consumers)

    @property
    def decoding(self) -> bool:
        """Whether pixels are being decoded now (someone iterates ``frames()`` or waits for a snapshot)."""
        return self._decoder is not None

    def status(self) -> dict[str, Any]:
        info = self._info
        online = self._state == "online"
        return {
            "state": self._state,
            "reason": self._reason if not online else self._decode_error,
            "fps": round(self._fps, 2) if online else None,
            "width": info.width if info else None,
            "height": info.height if info else None,
            "codec": info.codec if info else None,
            "last_frame_ts": self._last_frame_ts,
            "since": self._since,
            "source": redact(self.url),
        }

    def _set_state(self, state: str, reason: str | None) -> None:
        if state == self._state and reason == self._reason:
            return
        self._state, self._reason, self._since = state, reason, time.time()
        if state != "online":
            self._fps = 0.0
        log.info("camera %s %s%s", self.camera_id, state, f": {reason}" if reason else "")
        self._call_soon(self._notify)

    def _notify(self) -> None:
        if self.on_status is not None:
            try:
                self.on_status(self)
            except Exception:
                log.exception("status callback of camera %s", self.camera_id)

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(fn, *args)

    # thread side ----------------------------------------------------------------------------------
    def add_sink(self, sink: PacketSink) -> None:
        with self._lock:
            self._sinks = [*self._sinks, sink]

    def remove_sink(self, sink: PacketSink) -> None:
        with self._lock:
            self._sinks = [s for s in self._sinks if s is not sink]

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stop

    def _run(self) -> None:
        try:
            src = parse(self.url, default_transport=self.rtsp_transport)
        except SourceError as exc:
            self._set_state("error", redact(str(exc)))
            return
        wvp = WvpClient(src.url, timeout_s=self.open_timeout_s) if src.kind == "wvp" else None
        backoff = self.backoff_min_s
        while not self._stop.is_set():
            self._set_state("connecting", self._reason)
            online_before = self.connects
            try:
                self._session(src, wvp)
                state, reason = ("offline", "stream ended") if src.is_live else ("error", "no video packets")
            except _Stop:
                break
            except Exception as exc:
                state, reason = classify(exc)
            finally:
                self._end_session()
            if self._stop.is_set():
                break
            self._set_state(state, reason)
            if self.connects > online_before:
                backoff = self.backoff_min_s
            delay = backoff * random.uniform(0.5, 1.0)
            backoff = min(backoff * 2, self.backoff_max_s)
            try:
                self._sleep(delay)
            except _Stop:
                break

    def _end_session(self) -> None:
        with self._lock:
            self._gop = None
            self._gop_bytes = 0
            sinks = self._sinks
        for sink in sinks:
            try:
                sink.on_disconnect()
            except Exception:
                log.exception("sink of camera %s", self.camera_id)

    def _session(self, src: Source, wvp: WvpClient | None) -> None:
        url = src.url
        if wvp is not None:
            url = wvp.play_url()
            src = parse(url, default_transport=self.rtsp_transport)
            url = src.url
        options = open_options(src, open_timeout_s=self.open_timeout_s)
        container = av.open(url, options=options, timeout=(self.open_timeout_s, self.read_timeout_s))
        try:
            if not container.streams.video:
                raise _SourceFailure("error", "the source has no video stream")
            self._demux(container, src)
        finally:
            container.close()

    def _demux(self, container: Any, src: Source) -> None:
        vs = container.streams.video[0]
        ctx = vs.codec_context
        codec = ctx.name
        info = VideoInfo(codec=codec, width=ctx.width, height=ctx.height, time_base=vs.time_base or Fraction(1, 90000))
        extradata = bytes(ctx.extradata or b"")
        bsf = None
        prefix = b""
        if codec in _ANNEXB_FILTERS and extradata[:1] == b"\x01":
            bsf = av.BitStreamFilterContext(_ANNEXB_FILTERS[codec], vs)
        elif codec in _ANNEXB_FILTERS and extradata:
            prefix = extradata  # Annex-B parameter sets out of band (SDP): put them back before keyframes
        with self._lock:
            self._info = info
            decoder = self._decoder
        if decoder is not None:
            decoder.reset(codec)
        paced = not src.is_live
        tb = float(info.time_base)
        offset = 0  # pts added on each loop of a file
        first_pts: int | None = None
        loop_end = 0
        wall0 = 0.0
        window_start, window_count = time.monotonic(), 0
        got_any = False
        while True:
            count_this_pass = 0
            for raw in container.demux(vs):
                if self._stop.is_set():
                    raise _Stop
                if raw.size == 0:
                    continue
                for packet in bsf.filter(raw) if bsf is not None else (raw,):
                    pts = packet.pts if packet.pts is not None else packet.dts
                    if pts is None:
                        continue
                    if paced:
                        if first_pts is None:
                            first_pts, wall0 = pts, time.monotonic()
                        pts = pts - first_pts + offset
                        packet.pts = pts
                        packet.dts = pts
                        loop_end = max(loop_end, pts + (packet.duration or 0))
                        delay = wall0 + pts * tb - time.monotonic()
                        if delay > 0:
                            self._sleep(delay)
                    elif packet.pts is None:
                        packet.pts = pts
                    if prefix and packet.is_keyframe and not _has_parameter_sets(bytes(packet), codec):
                        key = packet.is_keyframe
                        packet = _with_prefix(packet, prefix, key)
                    count_this_pass += 1
                    now = time.time()
                    if not got_any:
                        got_any = True
                        self.connects += 1
                        self._set_state("online", None)
                    self._on_packet(packet, info, now)
                    window_count += 1
                    mono = time.monotonic()
                    if mono - window_start >= 2.0:
                        self._fps = window_count / (mono - window_start)
                        window_start, window_count = mono, 0
            if not paced or count_this_pass == 0:
                return
            offset = loop_end
            first_pts = None
            wall0 = 0.0
            container.seek(0)
            if bsf is not None:
                bsf.flush()

    def _on_packet(self, packet: av.Packet, info: VideoInfo, received: float) -> None:
        self.packets_read += 1
        self._last_frame_ts = received
        key = packet.is_keyframe
        with self._lock:
            self._seq += 1
            seq = self._seq
            if key:
                self._gop = [(seq, packet)]
                self._gop_bytes = packet.size
            elif self._gop is not None:
                self._gop.append((seq, packet))
                self._gop_bytes += packet.size
                if len(self._gop) > self.gop_max_packets or self._gop_bytes > self.gop_max_bytes:
                    self._gop = None
            sinks = self._sinks
            decoder = self._decoder
            deliver = bool(self._pkt_consumers)
        for sink in sinks:
            try:
                sink.on_packet(packet, info, received)
            except Exception:
                log.exception("sink of camera %s", self.camera_id)
                self.remove_sink(sink)
        if decoder is not None:
            decoder.feed(packet, received)
        if deliver:
            self._call_soon(self._deliver, seq, packet)

    # packets (event loop side) --------------------------------------------------------------------
    def _deliver(self, seq: int, packet: av.Packet) -> None:
        key = packet.is_keyframe
        for c in self._pkt_consumers:
            if seq <= c.last_seq:
                continue
            c.last_seq = seq
            if c.need_key and not key:
                continue
            if len(c.items) >= c.maxlen:
                c.items.clear()
                if not key:
                    c.need_key = True
                    continue
            c.need_key = False
            c.items.append(packet)
            c.event.set()

    async def packets(self) -> AsyncIterator[av.Packet]:
        """Annex-B packets from the current GOP's keyframe on, then live, until the reader stops.

        The packets are shared by every consumer: read them, do not modify them.
        """
        c = _PacketConsumer(self.consumer_queue)
        with self._lock:
            gop = list(self._gop or ())
            self._pkt_consumers.add(c)
        if gop:
            c.items.extend(p for _, p in gop)
            c.last_seq = gop[-1][0]
            c.need_key = False
        try:
            while not self._stop.is_set():
                if not c.items:
                    c.event.clear()
                    await c.event.wait()
                    continue
                yield c.items.popleft()
        finally:
            with self._lock:
                self._pkt_consumers.discard(c)

    # frames ---------------------------------------------------------------------------------------
    def _decode_failed(self, reason: str | None) -> None:
        self._decode_error = reason

    def _on_frame(self, frame: Frame) -> None:
        self._latest = frame
        for c in self._frame_consumers:
            c.latest = frame
            c.event.set()

    def _frame_from_thread(self, frame: Frame) -> None:
        self._call_soon(self._on_frame, frame)

    def _update_decoder(self) -> None:
        """Start, retune or stop the decoder for the current frame consumers (event loop side)."""
        with self._lock:
            wanted = max((c.fps for c in self._frame_consumers), default=0.0)
            decoder = self._decoder
            if wanted <= 0 or self._stop.is_set():
                self._decoder = None
                if decoder is not None:
                    decoder.stop()
                return
            if decoder is not None:
                decoder.fps = wanted
                return
            codec = self._info.codec if self._info else "h264"
            decoder = Decoder(self.camera_id, codec, self._frame_from_thread, self._decode_failed, fps=wanted)
            for _, packet in self._gop or ():
                decoder.feed(packet, self._last_frame_ts or time.time())
            self._decoder = decoder
        decoder.start()

    async def frames(self, fps: float = 5.0) -> AsyncIterator[Frame]:
        """Decoded frames at ``fps`` at most (latest-frame semantics), while the caller iterates."""
        if fps <= 0:
            raise ValueError("fps must be positive")
        c = _FrameConsumer(fps)
        self._frame_consumers.add(c)
        self._update_decoder()
        interval = 1.0 / fps
        last_index: tuple[float, int] | None = None
        next_at = 0.0
        try:
            while not self._stop.is_set():
                await c.event.wait()
                c.event.clear()
                wait = next_at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                frame = c.latest
                if frame is None or (frame.ts, frame.index) == last_index:
                    continue
                last_index = (frame.ts, frame.index)
                next_at = max(time.monotonic(), next_at) + 0.85 * interval  # jitter of the source's grid
                yield frame
        finally:
            self._frame_consumers.discard(c)
            self._update_decoder()

    def latest_frame(self) -> Frame | None:
        """The last decoded frame (None when nothing was decoded yet); may be old: check ``ts``."""
        return self._latest

    async def snapshot(self, *, max_age_s: float = 2.0, timeout_s: float = 5.0) -> Frame | None:
        """A recent frame: the latest if fresh, else one decoded from the current GOP (None on timeout)."""
        latest = self._latest
        if latest is not None and time.time() - latest.ts <= max_age_s:
            return latest
        if self._state != "online":
            return None
        agen = self.frames(fps=25.0)
        try:
            async with asyncio.timeout(timeout_s):
                async for frame in agen:
                    return frame
        except TimeoutError:
            return None
        finally:
            await agen.aclose()
        return None


def _with_prefix(packet: av.Packet, prefix: bytes, key: bool) -> av.Packet:
    out = av.Packet(prefix + bytes(packet))
    out.pts, out.dts, out.time_base, out.duration = packet.pts, packet.dts, packet.time_base, packet.duration
    out.is_keyframe = key
    return out
