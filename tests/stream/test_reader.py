"""CameraReader against a real RTSP server (GStreamer on 127.0.0.1), a looped file and a fake WVP platform."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stream.pool import CameraEntry, ReaderPool, StreamOptions, open_source
from stream.reader import CameraReader
from tests.stream.conftest import FakeWvp
from tests.streams_helpers import FOOTAGE, RtspServer, free_port

FAST = {"open_timeout_s": 4.0, "read_timeout_s": 4.0, "backoff_min_s": 0.2, "backoff_max_s": 1.0}


async def wait_state(reader: CameraReader, states: set[str], timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = reader.status()
        if status["state"] in states:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"camera {reader.camera_id} never reached {states}: {reader.status()}")


async def first_frames(reader: CameraReader, n: int, fps: float = 5.0, timeout: float = 15.0) -> list:
    out = []
    async with asyncio.timeout(timeout):
        async for frame in reader.frames(fps):
            out.append(frame)
            if len(out) >= n:
                break
    return out


def nal_types(data: bytes) -> list[int]:
    out, i = [], data.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(data):
        out.append(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return out


@pytest.fixture
async def reader_of() -> AsyncIterator:
    started: list[CameraReader] = []

    def make(url: str, camera_id: int = 1, **kw: object) -> CameraReader:
        reader = CameraReader(camera_id, url, **{**FAST, **kw})  # type: ignore[arg-type]
        reader.start()
        started.append(reader)
        return reader

    yield make
    for reader in started:
        await reader.stop()


async def test_rtsp_frames_arrive_with_true_status(rtsp: RtspServer, reader_of) -> None:
    reader = reader_of(rtsp.url())
    frames = await first_frames(reader, 4, fps=5.0)
    assert [f.image.shape for f in frames] == [(576, 768, 3)] * 4
    assert all(not f.image.flags.writeable for f in frames)
    assert frames[-1].index > frames[0].index
    # at most the rate asked: 4 frames at 5 fps take at least ~0.6 s of wall clock
    assert frames[-1].ts - frames[0].ts >= 0.45
    await asyncio.sleep(2.5)  # fps is measured over 2 s windows
    status = reader.status()
    assert status["state"] == "online" and status["reason"] is None
    assert (status["width"], status["height"], status["codec"]) == (768, 576, "h264")
    assert 7 <= status["fps"] <= 16, status
    assert time.time() - status["last_frame_ts"] < 2
    assert reader.latest_frame() is not None
    assert reader.video_info is not None and reader.video_info.codec == "h264"


async def test_rtsp_over_udp(rtsp: RtspServer, reader_of) -> None:
    reader = reader_of(rtsp.url().replace("rtsp://", "rtsp+udp://"))
    frames = await first_frames(reader, 2)
    assert frames[0].width == 768


@pytest.mark.parametrize("kind", ["rtsp", "file"])
async def test_packets_start_at_a_keyframe_in_annexb_with_parameter_sets(rtsp: RtspServer, reader_of, kind) -> None:
    reader = reader_of(rtsp.url() if kind == "rtsp" else str(FOOTAGE))
    await wait_state(reader, {"online"})
    await asyncio.sleep(0.5)  # mid-GOP: a new consumer must still start at the GOP's keyframe
    got = []
    async with asyncio.timeout(10):
        async for packet in reader.packets():
            got.append(packet)
            if len(got) >= 25:
                break
    assert got[0].is_keyframe
    first = bytes(got[0])
    assert first.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01"))
    assert {7, 8, 5} <= set(nal_types(first)), nal_types(first)
    assert sum(p.is_keyframe for p in got) >= 2  # the clip has a keyframe every 10 frames
    pts = [p.pts for p in got]
    assert pts == sorted(pts)


async def test_slow_packet_consumer_skips_to_the_next_keyframe(rtsp: RtspServer, reader_of) -> None:
    reader = reader_of(str(FOOTAGE), consumer_queue=4)
    await wait_state(reader, {"online"})
    agen = reader.packets()
    first = await agen.__anext__()
    assert first.is_keyframe
    await asyncio.sleep(1.6)  # ~16 packets arrive, the queue holds 4: it overflows
    after = await agen.__anext__()
    await agen.aclose()
    assert after.is_keyframe
    assert after.pts - first.pts > 5 * 1024  # skipped ahead, not the next packet


async def test_file_source_loops_at_its_native_rate(reader_of) -> None:
    reader = reader_of(str(FOOTAGE))
    await wait_state(reader, {"online"})
    start = reader.packets_read
    await asyncio.sleep(2.0)
    rate = (reader.packets_read - start) / 2.0
    assert 7 <= rate <= 13, rate  # vtest.mp4 is 10 fps


async def test_server_killed_and_restarted_camera_comes_back_by_itself(clip: Path, reader_of) -> None:
    with RtspServer(clip, mounts=("cam",)) as server:
        reader = reader_of(server.url())
        await first_frames(reader, 1)
        server.kill()
        status = await wait_state(reader, {"offline", "error"}, timeout=15)
        assert status["reason"]
        server.start()  # same port
        await wait_state(reader, {"online"}, timeout=20)
        frames = await first_frames(reader, 2)
        assert frames[-1].width == 768
        assert reader.connects >= 2


async def test_bad_url_is_reported_and_does_not_disturb_other_cameras(rtsp: RtspServer, reader_of) -> None:
    good = reader_of(rtsp.url(), camera_id=1)
    await wait_state(good, {"online"})
    dead_port = free_port()
    bad = [
        reader_of(f"rtsp://127.0.0.1:{dead_port}/nothing", camera_id=2),
        reader_of(f"rtsp://127.0.0.1:{rtsp.port}/no-such-mount", camera_id=3),
        reader_of(f"rtsp://127.0.0.1:{dead_port}/x;$(touch /tmp/gridhub-pwned)`id`", camera_id=4),
        reader_of("concat:/etc/passwd|/etc/hosts", camera_id=5),
    ]
    before = good.packets_read
    lags = []
    t_end = time.monotonic() + 3.0
    while time.monotonic() < t_end:  # the event loop stays responsive meanwhile
        t0 = time.monotonic()
        await asyncio.sleep(0.01)
        lags.append(time.monotonic() - t0 - 0.01)
    states = [await wait_state(r, {"offline", "error"}) for r in bad]
    assert "refused" in states[0]["reason"]
    assert states[1]["state"] == "error" and "not found" in states[1]["reason"].lower(), states[1]
    assert states[3]["state"] == "error" and "unsupported source scheme" in states[3]["reason"]
    assert not Path("/tmp/gridhub-pwned").exists()
    assert good.packets_read - before >= 20  # ~10 fps for 3 s
    assert good.status()["state"] == "online"
    assert max(lags) < 0.25, max(lags)


async def test_wrong_credentials_show_the_reason_without_the_password(clip: Path, reader_of) -> None:
    with RtspServer(clip, user="admin", password="s3cret") as server:
        right = reader_of(server.url(credentials="admin:s3cret"), camera_id=1)
        wrong = reader_of(server.url(credentials="admin:guess-me"), camera_id=2)
        await wait_state(right, {"online"})
        status = await wait_state(wrong, {"error"})
        assert "unauthorized" in status["reason"]
        assert "guess-me" not in str(status) and "s3cret" not in str(right.status())
        assert status["source"] == server.url(credentials="admin:***")


async def test_corrupt_data_is_an_error_with_a_reason(tmp_path: Path, reader_of) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x01\xb3" + bytes(range(256)) * 400)
    reader = reader_of(str(garbage))
    status = await wait_state(reader, {"error"})
    assert status["reason"]


async def test_wvp_channel_resolves_to_the_rtsp_stream(rtsp: RtspServer, wvp: FakeWvp, reader_of) -> None:
    wvp.rtsp_url = rtsp.url()
    reader = reader_of(f"wvp://admin:admin123@127.0.0.1:{wvp.port}/34020000001320000001/34020000001320000002")
    frames = await first_frames(reader, 2)
    assert frames[0].width == 768
    assert wvp.logins == 1
    assert wvp.plays[-1] == ("34020000001320000001", "34020000001320000002")
    assert wvp.tokens_seen and all(t == wvp.token for t in wvp.tokens_seen)
    assert "admin123" not in str(reader.status())


async def test_wvp_refusal_is_the_cameras_reason(wvp: FakeWvp, reader_of) -> None:
    wvp.refuse = (100, "点播超时")
    reader = reader_of(f"wvp://admin:admin123@127.0.0.1:{wvp.port}/dev/chan", camera_id=7)
    status = await wait_state(reader, {"error"})
    assert "点播超时" in status["reason"] and "100" in status["reason"]


async def test_pool_gives_one_reader_per_camera_and_open_source(rtsp: RtspServer) -> None:
    seen: list[tuple[int, str]] = []
    pool = ReaderPool(StreamOptions(**FAST), on_status=lambda cid, st, meta: seen.append((cid, st["state"])))
    await pool.start()
    try:
        await pool.configure(CameraEntry(1, rtsp.url(), meta={"grid_code": "G1"}))
        await pool.configure(CameraEntry(2, ""))
        reader = pool.get(1)
        assert pool.get(1) is reader
        await wait_state(reader, {"online"})
        assert pool.status(2)["state"] == "no_source"
        await pool.configure(CameraEntry(1, rtsp.url(), enabled=False))
        assert 1 not in pool
        assert pool.status(1) == {**pool.status(1), "state": "offline", "reason": "disabled"}
        assert (1, "online") in seen
    finally:
        await pool.stop()
    async with open_source(str(FOOTAGE)) as adhoc:
        frames = await first_frames(adhoc, 1)
        assert frames[0].camera_id == 0


async def test_snapshot_decodes_the_current_gop_on_demand(rtsp: RtspServer, reader_of) -> None:
    reader = reader_of(rtsp.url())
    await wait_state(reader, {"online"})
    await asyncio.sleep(0.3)
    assert reader.latest_frame() is None  # nobody asked for pixels: nothing decoded
    frame = await reader.snapshot()
    assert frame is not None and frame.image.shape == (576, 768, 3)
    assert time.time() - frame.ts < 2.0


class MjpegServer:
    """An HTTP MJPEG camera (multipart/x-mixed-replace JPEGs at 10 fps), as many IP cameras serve."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import av
        import cv2

        with av.open(str(FOOTAGE)) as c:
            self.jpegs = [
                cv2.imencode(".jpg", f.to_ndarray(format="bgr24"))[1].tobytes()
                for _, f in zip(range(20), c.decode(video=0), strict=False)
            ]
        jpegs = self.jpegs

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    for i in range(600):
                        data = jpegs[i % len(jpegs)]
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(data)).encode()
                            + b"\r\n\r\n"
                            + data
                            + b"\r\n"
                        )
                        time.sleep(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/video.mjpg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_http_mjpeg_camera_gives_frames(reader_of) -> None:
    server = MjpegServer()
    try:
        reader = reader_of(server.url)
        frames = await first_frames(reader, 3, fps=5.0)
        assert frames[-1].image.shape == (576, 768, 3)
        status = reader.status()
        assert status["state"] == "online" and status["codec"] == "mjpeg"
    finally:
        server.close()


async def test_wvp_stream_gone_is_asked_again(clip: Path, rtsp: RtspServer, wvp: FakeWvp, reader_of) -> None:
    with RtspServer(clip) as first:
        wvp.rtsp_url = first.url()
        reader = reader_of(f"wvp://admin:admin123@127.0.0.1:{wvp.port}/dev1/ch1", camera_id=8)
        await first_frames(reader, 1)
        assert len(wvp.plays) == 1
        wvp.rtsp_url = rtsp.url("cam2")  # the platform re-invites the camera on another media server
        first.kill()
        await wait_state(reader, {"offline", "error"})
        await wait_state(reader, {"online"}, timeout=20)
        frames = await first_frames(reader, 1)
        assert frames[0].width == 768
        assert len(wvp.plays) >= 2 and wvp.logins == 1  # the token was kept
