"""Camera source URLs: which kinds gridhub reads, how PyAV opens them, and how they are shown.

* RTSP ``rtsp://user:pw@10.0.0.5:554/main``: TCP unless ``GRIDHUB_RTSP_TRANSPORT=udp``;
  ``rtsp+udp://`` / ``rtsp+tcp://`` choose per camera;
* HTTP / MJPEG ``http://10.0.0.6/video.mjpg``: anything FFmpeg reads over HTTP(S);
* a local file ``/srv/clip.mp4`` or ``file:///srv/clip.mp4``: looped at its native rate (demo, tests);
* GB/T 28181 ``wvp://user:pw@wvp-host:18080/{deviceId}/{channelId}``: asks WVP-GB28181-pro for the
  channel's RTSP URL (``wvps://`` for HTTPS).

A URL is data: it is handed to FFmpeg as one argument, never to a shell, and only the schemes above
are accepted (FFmpeg's other protocols such as ``concat:`` or ``subfile:`` are refused).
Credentials never leave this module in clear: :func:`redact` is what logs and API answers show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

KINDS = ("rtsp", "http", "file", "wvp")
_SCHEMES = {
    "rtsp": "rtsp",
    "rtsps": "rtsp",
    "rtsp+tcp": "rtsp",
    "rtsp+udp": "rtsp",
    "http": "http",
    "https": "http",
    "file": "file",
    "wvp": "wvp",
    "wvps": "wvp",
}
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]*)@")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_CTL = r"\x00-\x1f\x7f"
_USER = r"(?:[A-Za-z0-9._~%!$&'()*+,;=:-]*@)?"
#: A host name or IPv4 address (IPv6 literals are not taken: give such a camera a host name).
_HOST = r"[A-Za-z0-9._~%!$&'()*+,;=-]+(?::[0-9]{0,5})?"
_SEGMENT = rf"[^{_CTL}\s/?#]+"
#: The syntax of a source URL, as the API's schema states it (JSON Schema ``pattern``, the common subset of
#: Python's and ECMAScript's regular expressions): empty (on the map only), an absolute path, a file URL, an
#: RTSP or HTTP URL with a host, or a WVP channel. :func:`validate` applies exactly this, then the kind's rules.
SOURCE_PATTERN = (
    rf"^(?:|/[^{_CTL}]*|file://(?:localhost)?/[^{_CTL}]*"
    rf"|(?:rtsps?|rtsp\+tcp|rtsp\+udp|https?)://{_USER}{_HOST}(?:[/?#][^{_CTL}]*)?"
    rf"|wvps?://{_USER}{_HOST}/{_SEGMENT}/{_SEGMENT}/?)$"
)
_SOURCE_RE = re.compile(SOURCE_PATTERN)
SOURCE_SYNTAX = (
    "rtsp:// (rtsps://, rtsp+tcp://, rtsp+udp://) or http(s):// with a host name or IPv4 address, an absolute path, "
    "file:///path, "
    "or wvp(s)://[user:password@]host:port/{deviceId}/{channelId} (lower-case scheme, no control characters)"
)


class SourceError(ValueError):
    """A source URL gridhub will not open (unknown scheme, malformed)."""


@dataclass(frozen=True, slots=True)
class Source:
    """A parsed camera source: ``kind`` in rtsp|http|file|wvp, ``url`` as FFmpeg (or WVP) gets it."""

    kind: str
    url: str
    transport: str | None = None  # rtsp only: tcp | udp

    @property
    def is_live(self) -> bool:
        return self.kind != "file"


def redact(text: str) -> str:
    """``rtsp://user:secret@host`` → ``rtsp://user:***@host`` wherever a URL with a password appears."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def parse(url: str, *, default_transport: str = "tcp") -> Source:
    """The Source a URL names; raises SourceError for anything gridhub does not read."""
    url = url.strip()
    if not url:
        raise SourceError("empty source")
    if _CONTROL.search(url):
        raise SourceError("control characters in source URL")
    if url.startswith("/"):
        return Source("file", url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    kind = _SCHEMES.get(scheme)
    if kind is None:
        raise SourceError(f"unsupported source scheme {scheme!r}: use rtsp, http(s), file or wvp")
    if kind == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise SourceError("file sources are file:///absolute/path")
        return Source("file", parts.path)
    if not parts.hostname:
        raise SourceError("source URL has no host")
    if kind == "rtsp":
        transport = default_transport
        if scheme in ("rtsp+tcp", "rtsp+udp"):
            transport = scheme[5:]
            url = "rtsp" + url[len(scheme) :]
        return Source("rtsp", url, transport)
    if kind == "wvp":
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) != 2:
            raise SourceError("wvp sources are wvp://[user:password@]host:port/{deviceId}/{channelId}")
    return Source(kind, url)


def validate(url: str) -> str | None:
    """None when the URL is acceptable (or empty: a camera on the map only), else the reason."""
    if not url:
        return None
    if not _SOURCE_RE.fullmatch(url):
        return f"not a source URL: use {SOURCE_SYNTAX}"
    try:
        src = parse(url)
    except SourceError as exc:
        return str(exc)
    if src.kind == "file" and not Path(src.url).is_absolute():
        return "file sources need an absolute path"
    return None


def open_options(src: Source, *, open_timeout_s: float) -> dict[str, str]:
    """FFmpeg options for opening ``src`` (small probe: a camera opens in a fraction of a second)."""
    opts = {"analyzeduration": "1000000", "probesize": "500000"}
    if src.kind == "rtsp":
        opts["rtsp_transport"] = src.transport or "tcp"
        opts["timeout"] = str(int(open_timeout_s * 1_000_000))  # socket I/O timeout, microseconds
        opts["allowed_media_types"] = "video"
        if src.transport == "udp":
            opts["buffer_size"] = str(2 * 1024 * 1024)
        opts["protocol_whitelist"] = "rtsp,rtsps,rtp,udp,tcp,tls,srtp,crypto"
    elif src.kind == "http":
        opts["rw_timeout"] = str(int(open_timeout_s * 1_000_000))
        opts["reconnect"] = "0"
        opts["protocol_whitelist"] = "http,https,tcp,tls,crypto"
    elif src.kind == "file":
        opts["protocol_whitelist"] = "file"
    return opts
