"""Ingest benchmark (issue 7, must-show 3): cameras one hub process ingests and records, against ffmpeg.

    python bench/streams_ingest.py [--cameras 8,16,32] [--decoded 8,16] [--window 15] [--out FILE]

Loopback only, bounded in time, one JSON object on stdout. A real RTSP server (GStreamer, tests/rtsp_server.py,
the bundled clip at 10 fps, 768×576, one keyframe a second) serves one shared mount; for each N:

* ``gridhub``: one process (this file with ``--child``) runs what the hub runs for its cameras: a
  ``stream.pool.ReaderPool`` of N readers over RTSP/TCP, each with the ``stream.recorder.Recorder`` sink
  (fragmented MP4 segments, remux only) and, in the decoded cases, one ``frames(5)`` consumer per camera
  (vision's rate) that touches every frame it gets;
* ``ffmpeg``: the baseline, one ``ffmpeg -c copy`` recorder process per camera (what Frigate runs per
  camera: ``-f segment``, MP4 segments); in the decoded cases the same process also decodes and hands
  out BGR frames at 5 fps (``-vf fps=5 -f rawvideo``, as Frigate's detect stream) to /dev/null.

After a warm-up, CPU is measured over ``--window`` seconds with psutil: the process(es) under test (% of one
core and per camera), the RTSP server, and the whole machine. The machine is shared (other work shows in
``machine_cpu_pct``), so the 80 % criterion uses what this benchmark runs: (subject + RTSP server) as a
share of all cores. Each case also checks the work was done: segments written, frames handed out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.streams_helpers import RtspServer, write_annexb_clip  # noqa: E402

FPS = 10
DECODE_FPS = 5.0
SEGMENT_S = 10.0


def log(msg: str) -> None:
    print(f"[streams_ingest] {msg}", file=sys.stderr, flush=True)


# the subject: one process running the hub's readers and recorders -----------------------------------
async def child(url: str, cameras: int, decode_fps: float, root: Path, seconds: float) -> dict[str, Any]:
    from stream.pool import CameraEntry, ReaderPool, StreamOptions
    from stream.recorder import Recorder

    recorders: dict[int, Recorder] = {}

    def sink(reader: Any) -> Recorder:
        recorders[reader.camera_id] = Recorder(reader.camera_id, root, segment_s=SEGMENT_S)
        return recorders[reader.camera_id]

    pool = ReaderPool(StreamOptions(open_timeout_s=10, read_timeout_s=10), sink_factory=sink)
    await pool.start()
    for i in range(1, cameras + 1):
        await pool.configure(CameraEntry(i, url))
    frames = [0] * (cameras + 1)

    async def consume(camera_id: int) -> None:
        async for frame in pool.get(camera_id).frames(decode_fps):
            frames[camera_id] += int(frame.image[0, 0, 0] >= 0)  # touch the pixels, as a detector would

    consumers = [asyncio.create_task(consume(i)) for i in range(1, cameras + 1)] if decode_fps > 0 else []
    t0 = time.monotonic()
    while any(pool.status(i)["state"] != "online" for i in range(1, cameras + 1)) and time.monotonic() - t0 < 10:
        await asyncio.sleep(0.1)
    online_at = time.monotonic()
    await asyncio.sleep(max(0.0, seconds - (online_at - t0)))
    states = [pool.status(i)["state"] for i in range(1, cameras + 1)]
    packets = sum(pool.get(i).packets_read for i in range(1, cameras + 1))
    for task in consumers:
        task.cancel()
    await pool.stop()
    elapsed = time.monotonic() - online_at
    return {"online": states.count("online"), "packets": packets, "frames": sum(frames), "seconds": round(elapsed, 2)}


# the harness ------------------------------------------------------------------------------------------
def cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system + getattr(t, "children_user", 0) + getattr(t, "children_system", 0)
        except psutil.NoSuchProcess:
            pass
    return total


def segments_written(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*.mp4")]
    return len(files), sum(p.stat().st_size for p in files if p.exists())


def start_gridhub(url: str, n: int, decode_fps: float, root: Path, seconds: float) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--child", "--url", url, "--cameras", str(n)]
    cmd += ["--decode-fps", str(decode_fps), "--root", str(root), "--seconds", str(seconds)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)


def start_ffmpeg(url: str, n: int, decode_fps: float, root: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(1, n + 1):
        folder = root / str(i)
        folder.mkdir(parents=True, exist_ok=True)
        cmd = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url]
        cmd += ["-map", "0:v", "-c", "copy", "-f", "segment", "-segment_time", str(SEGMENT_S)]
        cmd += [
            "-segment_format",
            "mp4",
            "-segment_format_options",
            "movflags=frag_keyframe+empty_moov+default_base_moof",
        ]
        cmd += ["-reset_timestamps", "1", str(folder / "%05d.mp4")]
        if decode_fps > 0:
            cmd += ["-map", "0:v", "-vf", f"fps={decode_fps:g}", "-pix_fmt", "bgr24", "-f", "rawvideo", "/dev/null"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


async def measure(procs: list[psutil.Process], server: psutil.Process, warmup: float, window: float) -> dict[str, Any]:
    await asyncio.sleep(warmup)
    ncpu = psutil.cpu_count() or 1
    psutil.cpu_percent(None)
    c0, s0, t0 = cpu_s(procs), cpu_s([server]), time.monotonic()
    await asyncio.sleep(window)
    c1, s1, t1 = cpu_s(procs), cpu_s([server]), time.monotonic()
    machine = psutil.cpu_percent(None)
    elapsed = t1 - t0
    subject = 100 * (c1 - c0) / elapsed
    srv = 100 * (s1 - s0) / elapsed
    return {
        "cpu_pct_one_core": round(subject, 1),
        "server_cpu_pct_one_core": round(srv, 1),
        "machine_cpu_pct": round(machine, 1),
        "ours_pct_of_machine": round((subject + srv) / ncpu, 1),
        "cores": ncpu,
    }


async def case(
    kind: str, url: str, n: int, decode_fps: float, server: psutil.Process, warmup: float, window: float
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"gridhub-bench-{kind}-"))
    seconds = warmup + window + 2
    try:
        if kind == "gridhub":
            proc = start_gridhub(url, n, decode_fps, root, seconds)
            m = await measure([psutil.Process(proc.pid)], server, warmup, window)
            out, _ = await asyncio.to_thread(proc.communicate, timeout=seconds + 30)
            work = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
            if decode_fps > 0 and work.get("frames"):
                work["frames_per_camera_s"] = round(work["frames"] / n / work.get("seconds", seconds), 2)
        else:
            procs = start_ffmpeg(url, n, decode_fps, root)
            m = await measure([psutil.Process(p.pid) for p in procs], server, warmup, window)
            alive = sum(p.poll() is None for p in procs)
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            work = {"online": alive}
        files, size = segments_written(root)
        result = {
            "kind": kind,
            "cameras": n,
            "decode_fps": decode_fps,
            **m,
            "cpu_pct_per_camera": round(m["cpu_pct_one_core"] / n, 2),
            "segments": files,
            "recorded_mb": round(size / 1e6, 1),
            **{k: v for k, v in work.items()},
        }
        log(json.dumps(result))
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def run(cameras: list[int], decoded: list[int], warmup: float, window: float) -> dict[str, Any]:
    clip = write_annexb_clip(Path(tempfile.gettempdir()) / "gridhub-bench-vtest.264")
    results: list[dict[str, Any]] = []
    with RtspServer(clip, mounts=("cam",), fps=FPS) as server:
        url = server.url("cam")
        assert server.proc is not None
        sproc = psutil.Process(server.proc.pid)
        for decode_fps, counts in ((0.0, cameras), (DECODE_FPS, decoded)):
            for n in counts:
                for kind in ("gridhub", "ffmpeg"):
                    results.append(await case(kind, url, n, decode_fps, sproc, warmup, window))
    pairs = []
    for g in results:
        if g["kind"] != "gridhub":
            continue
        f = next(
            r
            for r in results
            if r["kind"] == "ffmpeg" and r["cameras"] == g["cameras"] and r["decode_fps"] == g["decode_fps"]
        )
        ratio = g["cpu_pct_per_camera"] / f["cpu_pct_per_camera"] if f["cpu_pct_per_camera"] else None
        pairs.append(
            {
                "cameras": g["cameras"],
                "decode_fps": g["decode_fps"],
                "gridhub_cpu_pct_per_camera": g["cpu_pct_per_camera"],
                "ffmpeg_cpu_pct_per_camera": f["cpu_pct_per_camera"],
                "cpu_ratio_gridhub_over_ffmpeg": round(ratio, 2) if ratio is not None else None,
                "gridhub_all_online": g.get("online") == g["cameras"],
                "gridhub_under_80pct": g["ours_pct_of_machine"] < 80,
            }
        )
    rec = [p for p in pairs if p["decode_fps"] == 0 and p["gridhub_all_online"] and p["gridhub_under_80pct"]]
    dec = [p for p in pairs if p["decode_fps"] > 0 and p["gridhub_all_online"] and p["gridhub_under_80pct"]]
    worst = max((p["cpu_ratio_gridhub_over_ffmpeg"] or 0 for p in pairs), default=None)
    return {
        "bench": "streams_ingest",
        "source": {"fps": FPS, "size": "768x576", "codec": "h264", "gop_s": 1.0, "transport": "rtsp/tcp"},
        "window_s": window,
        "cases": results,
        "pairs": pairs,
        "targets": {
            "recording_cameras_under_80pct": max((p["cameras"] for p in rec), default=0),
            "recording_target": 32,
            "decoded_cameras_under_80pct": max((p["cameras"] for p in dec), default=0),
            "decoded_target": 16,
            "worst_cpu_ratio_gridhub_over_ffmpeg": worst,
            "ratio_target": 1.5,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="gridhub camera ingest benchmark (JSON on stdout)")
    parser.add_argument("--cameras", default="8,16,32", help="recording-only camera counts")
    parser.add_argument("--decoded", default="8,16", help="camera counts decoded at 5 fps")
    parser.add_argument("--warmup", type=float, default=6.0)
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--out", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--decode-fps", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--root", default="", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(child(args.url, int(args.cameras), args.decode_fps, Path(args.root), args.seconds))
        print(json.dumps(result), flush=True)
        return
    counts = [int(x) for x in args.cameras.split(",") if x]
    decoded = [int(x) for x in args.decoded.split(",") if x]
    result = asyncio.run(run(counts, decoded, args.warmup, args.window))
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
