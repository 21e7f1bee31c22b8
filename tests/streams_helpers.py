"""Helpers of the stream tests (and bench/streams_ingest.py): the bundled clip as raw H.264, a real
RTSP server process on loopback that can be killed and restarted on the same port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
FOOTAGE = ROOT / "stream" / "footage" / "vtest.mp4"
SERVER_SCRIPT = ROOT / "tests" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_annexb_clip(path: Path, source: Path = FOOTAGE) -> Path:
    """The bundled MP4 as a raw H.264 byte stream (what GStreamer's multifilesrc loops), no re-encode."""
    if path.exists():
        return path
    with av.open(str(source)) as container:
        vs = container.streams.video[0]
        bsf = av.BitStreamFilterContext("h264_mp4toannexb", vs)
        with open(path, "wb") as out:
            for packet in container.demux(vs):
                for p in bsf.filter(packet):
                    out.write(bytes(p))
    return path


class RtspServer:
    """gst-rtsp-server serving ``clip`` at rtsp://127.0.0.1:PORT/<mount> for each mount."""

    def __init__(
        self,
        clip: Path,
        *,
        mounts: tuple[str, ...] = ("cam",),
        fps: int = 10,
        user: str = "",
        password: str = "",
        port: int = 0,
    ) -> None:
        self.clip = clip
        self.mounts = mounts
        self.fps = fps
        self.user = user
        self.password = password
        self.port = port
        self.proc: subprocess.Popen[str] | None = None

    def url(self, mount: str = "cam", *, credentials: str | None = None) -> str:
        auth = f"{credentials}@" if credentials else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}/{mount}"

    def start(self, timeout: float = 15.0) -> RtspServer:
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), str(self.clip), "--port", str(self.port), "--fps", str(self.fps)]
        cmd += ["--mounts", ",".join(self.mounts)]
        if self.user:
            cmd += ["--user", self.user, "--password", self.password]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().strip()
            if line.startswith("READY "):
                self.port = int(line.split()[1])
                return self
            self.proc.wait()
            if time.monotonic() > deadline:  # the port may still be held a moment after a kill
                raise RuntimeError(f"RTSP server did not start: {line!r}")
            time.sleep(0.3)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
