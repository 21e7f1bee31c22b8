"""Fixtures of the stream tests: the bundled clip as raw H.264, one RTSP server per module, a fake WVP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.streams_helpers import RtspServer, write_annexb_clip


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_annexb_clip(tmp_path_factory.mktemp("clip") / "vtest.264")


@pytest.fixture(scope="module")
def rtsp(clip: Path) -> Iterator[RtspServer]:
    with RtspServer(clip, mounts=("cam", "cam2")) as server:
        yield server


class FakeWvp:
    """A small HTTP server answering like WVP-GB28181-pro: login, play/start (envelope ``{code,msg,data}``)."""

    def __init__(self) -> None:
        self.rtsp_url = ""
        self.token = "tok-1"
        self.refuse: tuple[int, str] | None = None
        self.logins = 0
        self.plays: list[tuple[str, str]] = []
        self.tokens_seen: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/api/user/login":
                    q = parse_qs(parts.query)
                    # admin123's MD5, as WVP expects
                    if q.get("username") == ["admin"] and q.get("password") == ["0192023a7bbd73250516f069df18b500"]:
                        fake.logins += 1
                        self._send(200, {"code": 0, "msg": "ok", "data": {"accessToken": fake.token}})
                    else:
                        self._send(200, {"code": -1, "msg": "用户名或密码错误", "data": None})
                    return
                if parts.path.startswith("/api/play/start/"):
                    token = self.headers.get("access-token", "")
                    if token != fake.token:
                        self._send(401, {"code": 401, "msg": "请登录后重新请求", "data": None})
                        return
                    fake.tokens_seen.append(token)
                    device, channel = parts.path.split("/")[-2:]
                    fake.plays.append((device, channel))
                    if fake.refuse:
                        self._send(200, {"code": fake.refuse[0], "msg": fake.refuse[1], "data": None})
                        return
                    stream = f"{device}_{channel}"
                    data = {
                        "app": "rtp",
                        "stream": stream,
                        "mediaServerId": "zlm",
                        "rtsp": fake.rtsp_url,
                        "flv": f"http://127.0.0.1:1/rtp/{stream}.live.flv",
                    }
                    self._send(200, {"code": 0, "msg": "成功", "data": data})
                    return
                self._send(404, {"code": 404, "msg": "not found", "data": None})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeWvp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def wvp() -> Iterator[FakeWvp]:
    with FakeWvp() as fake:
        yield fake
