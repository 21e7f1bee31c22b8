"""GB/T 28181 channels through a WVP-GB28181-pro platform: a ``wvp://`` source resolved to its RTSP URL.

``wvp://user:password@host:port/{deviceId}/{channelId}`` (``wvps://`` for HTTPS;
``?api_key=KEY`` sends WVP's non-expiring ``api-key`` header instead of logging in). The reader calls
:func:`resolve` on every (re)connect: WVP answers the live stream when it still exists and re-invites
the camera otherwise, which is how an expired or closed stream is renewed.

Protocol (see shared VIDEO.md): ``GET /api/user/login?username=U&password=MD5HEX`` → ``data.accessToken``;
``GET /api/play/start/{deviceId}/{channelId}`` with header ``access-token`` → ``data.rtsp``. Every answer
is the envelope ``{"code": 0, "msg": …, "data": …}``; a non-zero code is the platform's refusal.
Blocking (urllib): it runs in the camera's reader thread, never on the event loop.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from urllib.parse import parse_qs, quote, unquote, urlsplit


class WvpError(Exception):
    """The platform refused or could not be reached; the message is safe to show (no credentials)."""


class WvpClient:
    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        scheme = "https" if parts.scheme.lower() == "wvps" else "http"
        port = f":{parts.port}" if parts.port else ""
        self.base = f"{scheme}://{parts.hostname}{port}"
        self.username = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.api_key = (parse_qs(parts.query).get("api_key") or [""])[0]
        device, channel = [s for s in parts.path.split("/") if s]
        self.device_id = unquote(device)
        self.channel_id = unquote(channel)
        self.timeout_s = timeout_s
        self.token: str | None = None

    def _get(self, path: str, headers: dict[str, str]) -> object:
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read(1_000_000)
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise _Unauthorized from None
            raise WvpError(f"WVP answered HTTP {exc.code} for {path.split('?')[0]}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WvpError(f"WVP unreachable: {reason}") from None
        try:
            envelope = json.loads(body)
        except ValueError:
            raise WvpError("WVP answered something that is not JSON") from None
        if not isinstance(envelope, dict):
            raise WvpError("WVP answered an unexpected shape")
        if envelope.get("code") != 0:
            raise WvpError(f"WVP refused (code {envelope.get('code')}): {str(envelope.get('msg'))[:200]}")
        return envelope.get("data")

    def login(self) -> None:
        digest = hashlib.md5(self.password.encode()).hexdigest()
        data = self._get(f"/api/user/login?username={quote(self.username)}&password={digest}", {})
        token = data.get("accessToken") if isinstance(data, dict) else None
        if not token:
            raise WvpError("WVP login answered no accessToken")
        self.token = str(token)

    def _auth_headers(self) -> dict[str, str]:
        if self.api_key:
            return {"api-key": self.api_key}
        if self.token is None:
            self.login()
        return {"access-token": self.token or ""}

    def play_url(self) -> str:
        """The channel's RTSP URL, logging in (again) when needed."""
        path = f"/api/play/start/{quote(self.device_id, safe='')}/{quote(self.channel_id, safe='')}"
        for attempt in range(2):
            try:
                data = self._get(path, self._auth_headers())
                break
            except _Unauthorized:
                if self.api_key or attempt:
                    raise WvpError("WVP refused the credentials (HTTP 401)") from None
                self.token = None
        url = data.get("rtsp") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url.startswith(("rtsp://", "rtsps://")):
            raise WvpError("WVP play answer holds no rtsp URL")
        return url


class _Unauthorized(Exception):
    pass


def resolve(url: str, *, timeout_s: float = 10.0) -> str:
    """The RTSP URL of a ``wvp://`` source (a fresh play request)."""
    return WvpClient(url, timeout_s=timeout_s).play_url()
