"""Live-view benchmark (issue 7, must-show 3): first frame after the click, glass-to-glass latency, a wall of 16.

    python bench/streams_live.py [--trials 20] [--wall 16] [--window 10] [--out FILE]

Everything on loopback, bounded in time, one JSON object on stdout. The camera is bench/live_clock.py:
a live H.264 source (PyAV libx264) that draws the wall clock into each frame as a block pattern, served as
MPEG-TS over HTTP; a real `gridhub serve` (temporary SQLite, the real camera readers) ingests it as
``--wall`` cameras; Debian's Chromium runs screens/static/js/player.js.

Cases, each with its baseline from the same run:

* ``first_frame``: a new Player per trial, ``firstFrameMs`` = first decoded frame (rVFC) after start();
  WebRTC (H.264 pass-through from the cached GOP) vs. the MJPEG fallback.
* ``glass_to_glass``: Date.now() − the time drawn into the frame, read back from the decoded picture on a
  canvas at each rVFC (WebRTC) or each new MJPEG picture; baseline: PyAV decoding the source directly
  (encoder + MPEG-TS + decoder, no hub, no browser).
* ``wall``: ``--wall`` tiles in one page: frames per second per tile, hub CPU (% of one core) and
  Chromium CPU over ``--window`` s; WebRTC vs. the same wall in MJPEG, and the hub with no viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from live_clock import PATTERN_JS, latency_ms, read_clock  # noqa: E402

from tests.live.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the browser tests' own launch)

SECRET = "bench-live-secret-" + "x" * 32
PASSWORD = "Benchpass123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": pct(values, 0.5),
        "p95": pct(values, 0.95),
        "max": round(max(values), 1) if values else None,
        "mean": round(statistics.fmean(values), 1) if values else None,
    }


def log(msg: str) -> None:
    print(f"[streams_live] {msg}", file=sys.stderr, flush=True)


# ---- processes -------------------------------------------------------------------------------------
def start_clock(fps: int) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "live_clock.py"), "--port", "0", "--fps", str(fps)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        proc.kill()
        raise RuntimeError(f"clock source did not start: {line!r}")
    return proc, int(line.split()[1])


async def prepare_db(env: dict[str, str], cameras: int, source_url: str) -> list[int]:
    """Migrate a fresh SQLite, add a county with one grid, an admin and the cameras."""
    subprocess.run([sys.executable, "-m", "hub.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
    os.environ.update(env)
    from dispatch.models import Jurisdiction, User
    from dispatch.passwords import hash_password
    from hub.db import create_engine, create_session_factory
    from hub.settings import Settings
    from stream.models import Camera

    settings = Settings()
    engine = create_engine(settings)
    async with create_session_factory(engine)() as session:
        session.add(Jurisdiction(code="330100", name="测试区", level="county", parent_code=None, path="/330100/"))
        await session.flush()
        grid = "330100001001001"
        session.add(Jurisdiction(code=grid, name="网格", level="grid", parent_code="330100", path=f"/330100/{grid}/"))
        await session.flush()
        session.add(
            User(
                username="bench",
                display_name="bench",
                password_hash=hash_password(PASSWORD),
                role="dispatcher",
                jurisdiction_code="330100",
            )
        )
        rows = [
            Camera(name=f"时钟{i + 1}", lat=30.0, lon=120.0, grid_code=grid, source_url=source_url)
            for i in range(cameras)
        ]
        session.add_all(rows)
        await session.commit()
        ids = [c.id for c in rows]
    await engine.dispose()
    return ids


def start_hub(env: dict[str, str], port: int, logfile: Path) -> subprocess.Popen[bytes]:
    with logfile.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_online(client: httpx.AsyncClient, token: str, ids: list[int], timeout: float = 60) -> None:
    """Each camera answers its MJPEG route 200 (its reader is online)."""
    deadline = time.monotonic() + timeout
    pending = set(ids)
    last = ""
    while pending:
        for cid in list(pending):
            async with client.stream("GET", f"/api/v1/cameras/{cid}/live.mjpeg", params={"token": token}) as r:
                if r.status_code == 200:
                    pending.discard(cid)
                else:
                    last = (await r.aread()).decode(errors="replace")
        if pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"cameras not online after {timeout}s: {sorted(pending)}: {last}")
            await asyncio.sleep(0.5)


# ---- browser cases ---------------------------------------------------------------------------------
FIRST_FRAME_JS = """
async ({camera, token, mode}) => {
  const { Player } = await import('/static/js/player.js');
  const box = document.createElement('div');
  box.style.cssText = 'width:384px;height:288px';
  document.body.append(box);
  const p = new Player(box, { camera, token, mode, fallback: false, startupTimeoutMs: 10000 });
  p.start();
  try {
    await new Promise((resolve, reject) => {
      const t = setInterval(() => {
        if (p.frames > 0) { clearInterval(t); resolve(); }
        else if (p.state === 'error') { clearInterval(t); reject(new Error(JSON.stringify(p.info()))); }
      }, 5);
    });
    return [p.firstFrameMs, p.timings];
  } finally {
    p.stop();
    box.remove();
  }
}
"""

G2G_JS = (
    PATTERN_JS
    + """
async ({camera, token, mode, seconds}) => {
  const { Player } = await import('/static/js/player.js');
  const box = document.createElement('div');
  box.style.cssText = 'width:768px;height:576px';
  document.body.append(box);
  const p = new Player(box, { camera, token, mode, fallback: false, mjpegFps: 10 });
  p.start();
  const canvas = document.createElement('canvas');
  canvas.width = 768; canvas.height = 576;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const samples = []; let unreadable = 0, last = null;
  const read = () => {
    const m = p.media;
    if (!m) return;
    ctx.drawImage(m, 0, 0, 768, 576);
    const ms = readClock(ctx);
    if (ms === null) { unreadable++; return; }
    if (ms !== last) { last = ms; samples.push(clockLatency(ms)); }
  };
  await new Promise((resolve) => {
    const t = setInterval(() => { if (p.frames > 0) { clearInterval(t); resolve(); } }, 10);
  });
  const end = performance.now() + seconds * 1000;
  if (mode === 'live') {
    await new Promise((resolve) => {
      const tick = () => {
        if (performance.now() > end) return resolve();
        read();
        p.media.requestVideoFrameCallback(tick);
      };
      p.media.requestVideoFrameCallback(tick);
    });
  } else {
    while (performance.now() < end) { read(); await new Promise((r) => setTimeout(r, 10)); }
  }
  p.stop(); box.remove();
  return { samples, unreadable };
}
"""
)

WALL_FRAMES_JS = """
async () => Promise.all(window.players.map(async (p) => {
  let decoded = null;
  if (p._pc) {
    const stats = await p._pc.getStats();
    stats.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') decoded = s.framesDecoded; });
  }
  return [p.frames, p.state, p.mode, decoded];
}))
"""


def direct_baseline(url: str, seconds: float) -> dict[str, Any]:
    """Latency of the source decoded directly with PyAV (what a reader sees before the hub adds anything)."""
    import av

    samples: list[float] = []
    container = av.open(url, options={"fflags": "nobuffer", "analyzeduration": "300000", "probesize": "200000"})
    stream = container.streams.video[0]
    stream.codec_context.thread_count = 1
    end = time.monotonic() + seconds
    try:
        for frame in container.decode(stream):
            ms = read_clock(frame.to_ndarray(format="bgr24"))
            if ms is not None:
                samples.append(latency_ms(ms, time.time() * 1000))
            if time.monotonic() > end:
                break
    finally:
        container.close()
    return summary(samples)


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def chromium_procs(browser_pid: int | None) -> list[psutil.Process]:
    if browser_pid is None:
        return []
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(browser_pid)
        return [root, *root.children(recursive=True)]
    return []


async def wall_case(
    page: Any,
    hub_url: str,
    token: str,
    ids: list[int],
    mode: str,
    window: float,
    hub: psutil.Process,
    browser_pid: int | None,
) -> dict[str, Any]:
    cams = ",".join(str(i) for i in ids)
    await page.goto(f"{hub_url}/screens/player?camera={cams}&mode={mode}&fps=10&fallback=0#token={token}")
    await page.wait_for_function(
        "window.players && window.players.every((p) => p.frames > 0 || p.state === 'error')", timeout=90_000
    )
    await asyncio.sleep(2)
    chrome = chromium_procs(browser_pid)
    f0, h0, c0, t0 = await page.evaluate(WALL_FRAMES_JS), cpu_seconds([hub]), cpu_seconds(chrome), time.monotonic()
    await asyncio.sleep(window)
    f1, h1, c1, t1 = await page.evaluate(WALL_FRAMES_JS), cpu_seconds([hub]), cpu_seconds(chrome), time.monotonic()
    elapsed = t1 - t0
    fps = [round((b[0] - a[0]) / elapsed, 2) for a, b in zip(f0, f1, strict=True)]
    decoded = [round((b[3] - a[3]) / elapsed, 2) for a, b in zip(f0, f1, strict=True) if a[3] is not None]
    shot = Path(tempfile.gettempdir()) / f"streams_live_wall_{mode}.png"
    await page.screenshot(path=str(shot))
    await page.goto("about:blank")
    return {
        "tiles": len(ids),
        "states": sorted({f"{m}:{s}" for _, s, m, _ in f1}),
        "fps_per_tile": {"min": min(fps), "p50": pct(fps, 0.5), "max": max(fps)},
        "decoded_fps_per_tile": {"min": min(decoded), "p50": pct(decoded, 0.5), "max": max(decoded)}
        if decoded
        else None,
        "hub_cpu_pct": round(100 * (h1 - h0) / elapsed, 1),
        "chromium_cpu_pct": round(100 * (c1 - c0) / elapsed, 1),
        "screenshot": str(shot),
    }


async def idle_cpu(hub: psutil.Process, window: float) -> float:
    h0, t0 = cpu_seconds([hub]), time.monotonic()
    await asyncio.sleep(window)
    return round(100 * (cpu_seconds([hub]) - h0) / (time.monotonic() - t0), 1)


# ---- run ---------------------------------------------------------------------------------------------
async def run(trials: int = 20, wall: int = 16, window: float = 10.0, fps: int = 10) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix="gridhub-bench-live-"))
    clock, clock_port = start_clock(fps)
    source_url = f"http://127.0.0.1:{clock_port}/live.ts"
    hub_proc = None
    result: dict[str, Any] = {"bench": "streams_live", "fps": fps, "source": "bench/live_clock.py (768x576 H.264)"}
    try:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "GRIDHUB_DATA_DIR": str(tmp),
            "GRIDHUB_DATABASE_URL": "",
            "GRIDHUB_REDIS_URL": "",
            "GRIDHUB_SECRET_KEY": SECRET,
            "GRIDHUB_LIVE_ICE_HOSTS": '["127.0.0.1"]',
            "GRIDHUB_VISION_ENABLED": "false",
            "GRIDHUB_LIVE_MAX_VIEWERS_PER_CAMERA": "64",
            "GRIDHUB_MJPEG_MAX_FPS": "10",
        }
        ids = await prepare_db(env, max(1, wall), source_url)
        port = free_port()
        hub_proc = start_hub(env, port, tmp / "hub.log")
        hub_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=hub_url, timeout=30) as client:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            r = await client.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD})
            r.raise_for_status()
            token = r.json()["access_token"]
            await wait_online(client, token, ids)
        log(f"hub up, {len(ids)} cameras online")
        hub = psutil.Process(hub_proc.pid)
        result["hub_idle_cpu_pct"] = await idle_cpu(hub, min(window, 5))

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            browser_pid = None
            with contextlib.suppress(Exception):
                browser_pid = next(
                    c.pid for c in psutil.Process().children(recursive=True) if "chromium" in c.name().lower()
                )
            page = await browser.new_page(viewport={"width": 1280, "height": 960})
            await page.goto(f"{hub_url}/screens/player")
            first: dict[str, list[float]] = {"live": [], "mjpeg": []}
            marks: dict[str, list[float]] = {}
            for i in range(trials):
                for mode in ("live", "mjpeg"):
                    args = {"camera": ids[0], "token": token, "mode": mode}
                    ms, timings = await page.evaluate(FIRST_FRAME_JS, args)
                    first[mode].append(float(ms))
                    if mode == "live":
                        for mark, at in timings.items():
                            marks.setdefault(mark, []).append(float(at))
                    await asyncio.sleep(0.3)
                if i == 0:
                    log(f"first frame: live {first['live'][0]} ms, mjpeg {first['mjpeg'][0]} ms")
            result["first_frame_ms"] = {
                "webrtc": summary(first["live"]),
                "baseline_mjpeg": summary(first["mjpeg"]),
                "webrtc_steps_p50_ms": {mark: pct(v, 0.5) for mark, v in marks.items()},
                "target_p95_ms": 1000,
                "met": (pct(first["live"], 0.95) or 1e9) < 1000,
            }
            log(f"first frame p95: {result['first_frame_ms']['webrtc']['p95']} ms")

            g2g: dict[str, Any] = {}
            base: dict[str, Any] = {}
            thread = threading.Thread(target=lambda: base.update(direct_baseline(source_url, window)))
            thread.start()
            for mode in ("live", "mjpeg"):
                out = await page.evaluate(G2G_JS, {"camera": ids[0], "token": token, "mode": mode, "seconds": window})
                key = "webrtc" if mode == "live" else "mjpeg"
                g2g[key] = {**summary(out["samples"]), "unreadable": out["unreadable"]}
            thread.join()
            g2g["baseline_direct_pyav"] = base
            g2g["target_p95_ms"] = 500
            g2g["met"] = (g2g["webrtc"]["p95"] or 1e9) < 500
            if base.get("p50") and g2g["webrtc"].get("p50"):
                g2g["hub_and_browser_added_p50_ms"] = round(g2g["webrtc"]["p50"] - base["p50"], 1)
            result["glass_to_glass_ms"] = g2g
            log(f"glass-to-glass: {json.dumps(g2g)}")

            if wall:
                result["wall"] = {
                    "webrtc": await wall_case(page, hub_url, token, ids, "live", window, hub, browser_pid),
                    "baseline_mjpeg": await wall_case(page, hub_url, token, ids, "mjpeg", window, hub, browser_pid),
                    "hub_no_viewer_cpu_pct": result["hub_idle_cpu_pct"],
                }
                w = result["wall"]
                if w["baseline_mjpeg"]["hub_cpu_pct"]:
                    w["hub_cpu_ratio_webrtc_over_mjpeg"] = round(
                        w["webrtc"]["hub_cpu_pct"] / w["baseline_mjpeg"]["hub_cpu_pct"], 2
                    )
                log(f"wall: {json.dumps(w)}")
            await browser.close()
        result["machine"] = {"cpus": psutil.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
        return result
    finally:
        for proc in (hub_proc, clock):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="gridhub live-view benchmark (JSON on stdout)")
    parser.add_argument("--trials", type=int, default=20, help="first-frame trials per mode")
    parser.add_argument("--wall", type=int, default=16, help="cameras on the wall (0: skip the wall)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per measurement window")
    parser.add_argument("--fps", type=int, default=10, help="the clock source's frame rate")
    parser.add_argument("--out", default="", help="also write the JSON here")
    args = parser.parse_args()
    result = asyncio.run(run(args.trials, args.wall, args.window, args.fps))
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
