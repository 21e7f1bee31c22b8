"""Vision benchmark: detector backends side by side with a plain ultralytics ``model.predict`` loop.

One command, JSON on stdout, everything measured in the same run on the same frames of the bundled
footage (stream/footage/vtest.mp4):

* ms per frame per backend at 320 and 640: the same YOLO network (built from yolo11n.yaml: the speed of
  the architecture, weights do not change it) in torch, ONNX Runtime, OpenVINO and OpenVINO INT8 (NNCF,
  calibrated on the footage), each through gridhub's detector and as a bare ``model.predict`` loop, and the
  bundled FastestDet (352 fixed);
* the pipeline (gate + detector + ByteTrack + rules) per detected frame vs the bare predict of the same model;
* an idle camera's cost with motion gating (a still picture);
* how many cameras one worker serves at 5 detection fps: measured by running N paced cameras at once;
* detection → WebSocket latency (p50/p95) through a real hub (uvicorn, /ws, in-process bus).

Usage: python bench/vision.py [--frames 40] [--quick]   (--quick: FastestDet, gating and latency only)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stream.frames import Frame  # noqa: E402
from vision.detectors import load_detector  # noqa: E402
from vision.motion import MotionGate  # noqa: E402
from vision.pipeline import CameraLoop, Stages  # noqa: E402
from vision.rules import RuleIn, RuleSet  # noqa: E402
from vision.tracking import Tracker  # noqa: E402

FOOTAGE = ROOT / "stream" / "footage" / "vtest.mp4"


def footage(limit: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(FOOTAGE))
    out = []
    while len(out) < limit:
        ok, image = cap.read()
        if not ok:
            break
        out.append(image)
    cap.release()
    return out


def timed(fn: Any, frames: list[np.ndarray], warmup: int = 3) -> dict[str, float]:
    for image in frames[:warmup]:
        fn(image)
    samples = []
    for image in frames:
        started = time.perf_counter()
        fn(image)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "ms_mean": round(statistics.fmean(samples), 2),
        "ms_p50": round(samples[len(samples) // 2], 2),
        "ms_p95": round(samples[int(len(samples) * 0.95) - 1], 2),
    }


class NullSink:
    async def detections(self, frame: Frame, detections: Any, tracks: Any) -> None:
        pass

    async def fired(self, frame: Frame, firing: Any, tracks: Any) -> None:
        pass


def rules() -> RuleSet:
    rs = RuleSet("UTC")
    zone = [[0.3, 0.2], [0.9, 0.2], [0.9, 0.8], [0.3, 0.8]]
    rs.replace(
        {
            1: RuleIn(name="loiter", kind="loitering", zone=zone, dwell_s=5),
            2: RuleIn(name="crowd", kind="crowd", max_count=4, dwell_s=2),
        }
    )
    return rs


def pipeline_ms(detector: Any, frames: list[np.ndarray], *, gate: bool) -> dict[str, float]:
    """Mean wall ms per frame of CameraLoop.step (and per frame the detector actually ran on)."""
    loop = CameraLoop(Stages(detector, Tracker(fps=5), rules(), MotionGate() if gate else None), NullSink())

    warm = {"detected": 0}

    async def run() -> float:
        for i, image in enumerate(frames[:3]):
            await loop.step(Frame(1, i, 1000.0 + i / 5, image))
        warm["detected"] = loop.stats.detected
        started = time.perf_counter()
        for i, image in enumerate(frames):
            await loop.step(Frame(1, 10 + i, 1001.0 + i / 5, image))
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    detected = loop.stats.detected - warm["detected"]
    return {
        "ms_per_frame": round(elapsed * 1000 / len(frames), 2),
        "ms_per_detected_frame": round(elapsed * 1000 / max(1, detected), 2),
        "detected_share": round(detected / len(frames), 3),
    }


def idle_us(detector: Any, image: np.ndarray, n: int = 300) -> float:
    loop = CameraLoop(Stages(detector, Tracker(fps=5), rules(), MotionGate()), NullSink())

    async def run() -> float:
        for i in range(5):
            await loop.step(Frame(1, i, 1000.0 + i / 5, image))
        started = time.perf_counter()
        for i in range(n):
            await loop.step(Frame(1, 10 + i, 1002.0 + i / 5, image))
        return time.perf_counter() - started

    return round(asyncio.run(run()) * 1e6 / n, 1)


async def serve_cameras(detector_factory: Any, frames: list[np.ndarray], cameras: int, seconds: float) -> dict:
    """N cameras at 5 fps in one process (one event loop, detectors in threads); achieved fps per camera."""
    fps = 5.0
    detector = detector_factory()
    counts = [0] * cameras
    lag = [0.0] * cameras

    async def camera(k: int) -> None:
        loop = CameraLoop(Stages(detector, Tracker(fps=fps), rules(), MotionGate()), NullSink())
        start = time.monotonic() + k * (1 / fps) / cameras
        i = k * 7
        while True:
            due = start + counts[k] / fps
            now = time.monotonic()
            if now - start >= seconds:
                return
            if due > now:
                await asyncio.sleep(due - now)
            else:
                lag[k] = max(lag[k], now - due)
            image = frames[i % len(frames)]
            await loop.step(Frame(k, i, time.time(), image))
            counts[k] += 1
            i += 2  # 10 fps footage at 5 fps

    await asyncio.gather(*(camera(k) for k in range(cameras)))
    achieved = [c / seconds for c in counts]
    return {
        "cameras": cameras,
        "fps_min": round(min(achieved), 2),
        "fps_mean": round(statistics.fmean(achieved), 2),
        "keeps_up": min(achieved) >= fps * 0.95,
    }


async def ws_latency(frames: list[np.ndarray], n: int) -> dict[str, Any]:
    """Frame handed to the pipeline → its detections message received by a /ws client (real hub)."""
    import httpx  # noqa: F401  (the app's test client deps are installed with [test])
    import uvicorn

    from dispatch.models import Jurisdiction, User
    from dispatch.passwords import hash_password
    from hub.app import create_app
    from hub.db import create_engine, create_session_factory
    from hub.migrations import upgrade
    from hub.security import issue_token
    from hub.settings import Settings
    from hub.wsclient import connect
    from vision.reporting import CameraSink

    data_dir = Path(tempfile.mkdtemp(prefix="bench-vision-"))
    settings = Settings(data_dir=data_dir, secret_key="bench-" + "b" * 40, vision_enabled=False)
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings)
    async with create_session_factory(engine)() as session:
        session.add(Jurisdiction(code="330100", name="区", level="county", path="/330100/"))
        await session.flush()
        admin = User(
            username="admin",
            display_name="admin",
            password_hash=hash_password("Benchpass123"),
            role="admin",
            jurisdiction_code="330100",
        )
        session.add(admin)
        await session.commit()
        await session.refresh(admin, ["jurisdiction"])
        token = issue_token(admin, secret=settings.signing_key, ttl_minutes=60)
    await engine.dispose()
    app = create_app(settings)
    sock_port = 0
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        sock_port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=sock_port, ws="websockets-sansio", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    latencies: list[float] = []
    try:
        async with connect(f"ws://127.0.0.1:{sock_port}/ws", token) as client:
            await client.subscribe("detections:1")
            await asyncio.sleep(0.3)
            reporter = app.state.vision.reporter
            detector = load_detector("fastestdet")
            loop = CameraLoop(Stages(detector, Tracker(fps=5), rules(), MotionGate()), CameraSink(reporter, {}))
            sent: dict[int, float] = {}

            async def receive() -> None:
                while len(latencies) < n:
                    msg = await client.next(10)
                    if msg.get("channel") == "detections:1":
                        index = msg["data"]["frame"]
                        if index in sent:
                            latencies.append((time.time() - sent[index]) * 1000)

            receiver = asyncio.create_task(receive())
            for i in range(n):
                image = frames[(i * 2) % len(frames)]
                sent[i] = time.time()
                await loop.step(Frame(1, i, sent[i], image))
                await asyncio.sleep(0.2)  # 5 fps
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(receiver, 10)
    finally:
        server.should_exit = True
        await task
    latencies.sort()
    return {
        "messages": len(latencies),
        "ms_p50": round(latencies[len(latencies) // 2], 1),
        "ms_p95": round(latencies[int(len(latencies) * 0.95) - 1], 1),
        "ms_max": round(latencies[-1], 1),
    }


def yolo_backends(frames: list[np.ndarray], workdir: Path) -> dict[str, Any]:
    """The same network in torch, ONNX Runtime and OpenVINO: gridhub's detector and plain model.predict."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    out: dict[str, Any] = {}
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        for imgsz in (320, 640):
            base = load_detector("ultralytics", "yolo11n.yaml", imgsz=imgsz)
            paths = {
                "torch": "yolo11n.yaml",
                "onnxruntime": str(base.export("onnx", imgsz=imgsz)),
                "openvino": str(base.export("openvino", imgsz=imgsz)),
                # INT8 (NNCF), calibrated on 64 pictures spread over the bundled footage
                "openvino_int8": str(base.export("openvino", imgsz=imgsz, int8=True)),
            }
            for name, path in paths.items():
                model = base if name == "torch" else load_detector("ultralytics", path, imgsz=imgsz)
                plain = base.model if name == "torch" else YOLO(path, task="detect")
                bare = timed(
                    lambda im, m=plain, size=imgsz: m.predict(im, imgsz=size, conf=0.25, verbose=False, device="cpu"),
                    frames,
                )
                ours = timed(lambda im, m=model: m.detect(im), frames)
                out[f"{name}@{imgsz}"] = {"plain_predict": bare, "gridhub_detector": ours}
                if name.startswith("openvino"):
                    pipe = pipeline_ms(model, frames, gate=False)
                    out[f"pipeline_{name}@{imgsz}"] = {
                        **pipe,
                        "vs_bare_openvino_predict": round(pipe["ms_per_detected_frame"] / bare["ms_mean"], 2),
                        "speedup_vs_plain_torch_predict": round(
                            out[f"torch@{imgsz}"]["plain_predict"]["ms_mean"] / pipe["ms_per_detected_frame"], 2
                        ),
                    }
            # Rename exports so the other size does not overwrite them.
            for p in Path(".").glob("yolo11n*"):
                p.rename(f"{imgsz}-{p.name}")
    finally:
        os.chdir(cwd)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="skip the ultralytics backends and the camera count")
    parser.add_argument("--cameras", type=int, nargs="*", default=[8, 16, 24])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--latency-frames", type=int, default=60)
    args = parser.parse_args()
    frames = footage(max(args.frames, 60))
    sample = frames[: args.frames]
    report: dict[str, Any] = {"cpus": os.cpu_count(), "frames": len(sample), "frame_size": list(sample[0].shape)}

    fastest = load_detector("fastestdet")
    report["fastestdet@352"] = {"gridhub_detector": timed(fastest.detect, sample)}
    report["pipeline_fastestdet"] = {
        "no_gating": pipeline_ms(fastest, sample, gate=False),
        "gating": pipeline_ms(fastest, sample, gate=True),
    }
    # An idle camera: the empty street (the median of the footage removes the pedestrians).
    empty = np.median(np.stack(frames[::2]), axis=0).astype(np.uint8)
    report["idle_camera_us_per_frame"] = {
        "empty_scene": idle_us(fastest, empty),
        "still_scene_with_people": idle_us(fastest, sample[-1]),
        "bare_detector_us": round(report["fastestdet@352"]["gridhub_detector"]["ms_mean"] * 1000, 1),
    }
    decode = timed(lambda im: cv2.imdecode(cv2.imencode(".jpg", im)[1], cv2.IMREAD_COLOR), sample[:10])
    report["note"] = "ms per frame on this machine; the camera count excludes H.264 decoding (the reader's cost)"
    report["jpeg_roundtrip_ms"] = decode["ms_mean"]
    if not args.quick:
        try:
            # ultralytics prints progress on stdout: this report is the only thing printed there.
            with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(sys.stderr):
                report["yolo11n"] = yolo_backends(sample, Path(tmp))
        except ImportError as exc:
            report["yolo11n"] = {"skipped": f"ultralytics extra not installed ({exc})"}
        report["cameras_at_5fps"] = [
            asyncio.run(serve_cameras(lambda: load_detector("fastestdet"), frames, n, args.seconds))
            for n in args.cameras
        ]
    report["detection_to_ws_latency"] = asyncio.run(ws_latency(frames, args.latency_frames))
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
