"""One validated Settings object, read from ``GRIDHUB_*`` environment variables (and ``.env``)."""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.addresses import Network, parse_networks

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Embedded defaults (SQLite file, in-process bus) unless the environment says otherwise."""

    model_config = SettingsConfigDict(env_prefix="GRIDHUB_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("gridhub-data"), description="SQLite file, media, secrets.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means the SQLite file in data_dir. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    redis_url: str = Field(default="", description="redis://host:6379/0; empty means the in-process bus.")
    config_dir: Path = Field(default=PROJECT_ROOT / "config", description="Category taxonomy and other data.")
    secret_key: str = Field(
        default="", description="Signs access tokens; shared by every hub. Empty: generated in data_dir."
    )
    timezone: str = Field(default="Asia/Shanghai", description="How times without an offset are read.")
    demo_activity: bool = Field(
        default=False, description="Keep a believable day going (reports and workflow steps every few seconds)."
    )
    demo_phones_url: str = Field(
        default="",
        description="The hub's own /ws, where `gridhub demo` connects its grid workers' simulated phones "
        "(网格力量在线); empty: no phones.",
    )
    analytics_url: str = Field(
        default="http://127.0.0.1:8501",
        description="Where `gridhub analytics` (Streamlit) is served; the console's 统计分析 link leads there.",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest request body accepted.")
    token_ttl_minutes: int = Field(default=12 * 60, ge=5, le=7 * 24 * 60)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    login_rate_per_address: int = Field(
        default=100, ge=0, description="Login attempts per client address per window (0: no limit)."
    )
    login_rate_per_username: int = Field(
        default=20, ge=0, description="Login attempts per username per window, known or not (0: no limit)."
    )
    login_rate_window_s: float = Field(default=60.0, ge=1, le=3600, description="The login rate-limit window.")
    argon2_concurrency: int = Field(
        default=2, ge=1, le=64, description="Password checks and hashes run at once (off the event loop)."
    )
    db_pool_size: int = Field(default=10, ge=1, le=500)
    # Realtime delivery (DESIGN section 6).
    stream_maxlen: int = Field(default=100_000, ge=100, description="Entries kept per durable channel.")
    stream_idle_ttl_s: int = Field(
        default=7 * 86400,
        ge=0,
        description="Redis bus: a channel's keys expire after this long without a publish or a subscribe (0: never).",
    )
    stream_max_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024 * 1024, description="Memory kept per channel ring of the in-process bus."
    )
    channel_idle_s: float = Field(
        default=3600.0,
        gt=0,
        description="In-process bus: forget a channel nobody watched or published to for this long.",
    )
    outbox_retention_days: float = Field(default=7.0, gt=0, description="Keep published outbox rows this long.")
    dispatch_retention_days: float = Field(
        default=7.0, gt=0, description="Keep acknowledged dispatch records (realtime_dispatch) this long."
    )
    retention_sweep_s: float = Field(default=3600.0, gt=0, description="How often retention runs.")
    ws_queue_size: int = Field(default=256, ge=8, le=100_000, description="Per-client outgoing queue.")
    ws_heartbeat_s: float = Field(default=20.0, gt=0, le=300)
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=1024)
    ws_max_channels: int = Field(
        default=64,
        ge=1,
        le=10_000,
        description="Most channels one /ws connection may be subscribed to at once; a subscribe beyond it is refused "
        "with the error too_many_channels (the connection stays up).",
    )
    dispatch_redeliver_s: float = Field(default=10.0, gt=0, description="Re-send unacked dispatches after.")
    relay_poll_s: float = Field(
        default=0.05, gt=0, le=10, description="How often the relay looks for outbox rows written by other processes."
    )
    ws_send_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="Close a client whose backlog has not moved for this long."
    )
    ws_replay_max: int = Field(
        default=1000, ge=1, description="Most messages replayed on a resume; more missed means a reset."
    )
    dispatch_pending_max: int = Field(
        default=1000, ge=1, description="Most unacknowledged dispatches sent on a (re)subscription."
    )
    ws_account_recheck_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Re-check every /ws client's account (and token expiry) this often, besides on revocation.",
    )
    relay_lease_s: float = Field(
        default=5.0, gt=0, le=120, description="Outbox relay leadership lease (one relay among the hubs)."
    )
    # Audit trail (README "Audit trail").
    trusted_proxies: str = Field(
        default="", description="Comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed."
    )
    audit_retention_days: int = Field(
        default=180, ge=180, le=100 * 366, description="Audit rows kept at least this long (the law asks 6 months)."
    )
    audit_refusals_per_minute: int = Field(
        default=60, ge=1, le=100_000, description="Refusal rows per client address a minute; the rest are counted."
    )

    # Live view (stream/webrtc.py, stream/mjpeg.py).
    live_ice_hosts: list[str] = Field(
        default_factory=list,
        description='Addresses offered as WebRTC host candidates, e.g. ["127.0.0.1"]; empty: every interface but '
        "loopback (aioice's default).",
    )
    live_ice_servers: list[str] = Field(
        default_factory=list, description='STUN/TURN URLs for WebRTC, e.g. ["stun:10.0.0.1:3478"]; empty: none.'
    )
    live_resolve_mdns: bool = Field(
        default=False,
        description="Resolve browsers' mDNS (.local) ICE candidates by multicast (about 1 s per offer); off: "
        "they are dropped and ICE connects peer-reflexively.",
    )
    live_max_viewers_per_camera: int = Field(default=16, ge=1, le=1000, description="WebRTC viewers of one camera.")
    live_max_viewers: int = Field(default=100, ge=1, le=10_000, description="WebRTC viewers of one hub in all.")
    live_connect_timeout_s: float = Field(default=15.0, gt=0, le=300, description="Close a viewer not connected by.")
    live_start_timeout_s: float = Field(default=5.0, ge=0, le=60, description="Wait this long for a connecting camera.")
    mjpeg_max_fps: int = Field(default=10, ge=1, le=25, description="Highest MJPEG fallback rate.")
    mjpeg_max_viewers_per_camera: int = Field(default=32, ge=1, le=1000)

    # Cameras (stream/): readers, recording and lookback.
    streams_enabled: bool = Field(
        default=True, description="Run the camera readers (and recorders) in this hub process; one hub per camera set."
    )
    rtsp_transport: str = Field(default="tcp", pattern="^(tcp|udp)$", description="RTSP transport unless the URL says.")
    stream_open_timeout_s: float = Field(default=8.0, gt=0, le=120, description="Opening a camera gives up after.")
    stream_read_timeout_s: float = Field(default=8.0, gt=0, le=120, description="A camera silent this long is offline.")
    stream_backoff_max_s: float = Field(default=30.0, gt=0, le=3600, description="Longest wait between reconnects.")
    recording_enabled: bool = Field(default=True, description="Record every enabled H.264/H.265 camera continuously.")
    recording_dir: Path | None = Field(default=None, description="Where segments go; empty: data_dir/recordings.")
    recording_segment_s: float = Field(default=30.0, ge=2, le=600, description="Length of one recorded segment.")
    recording_retention_hours: float = Field(default=72.0, gt=0, description="Segments older than this are deleted.")
    recording_quota_gb: float = Field(default=50.0, gt=0, description="Oldest segments go first above this size.")
    # Detection (vision/, DESIGN section 2).
    vision_enabled: bool = Field(default=True, description="Run detection inside this hub (False: workers only).")
    vision_backend: str = Field(default="fastestdet", description="fastestdet (bundled) or ultralytics.")
    vision_model: str = Field(default="", description="Model path (.pt, .onnx, OpenVINO folder); empty: bundled.")
    vision_camera_models: dict[int, tuple[str, str]] = Field(
        default={}, description='Per camera backend and model, JSON: {"12": ["ultralytics", "/models/y.onnx"]}.'
    )
    vision_detect_fps: float = Field(default=5.0, gt=0, le=30, description="Frames a second looked at per camera.")
    vision_motion_gating: bool = Field(default=True, description="Run the detector only where something moves.")
    vision_lease_ttl_s: float = Field(
        default=3.0, ge=0.5, le=60, description="Camera lease among vision workers (Redis): handover time."
    )

    # The map's basemap (screens/: the big screen's 辖区地图). None: gridhub's own GeoJSON, offline.
    map_tiles: Literal["", "tianditu", "amap", "custom"] = Field(
        default="",
        description="Basemap tiles under gridhub's boundaries: empty (offline GeoJSON only), tianditu (天地图, needs "
        "map_tile_key), amap (高德) or custom (map_tile_url).",
    )
    map_tile_key: str = Field(default="", max_length=200, description="天地图 browser key (tk).")
    map_tile_url: str = Field(
        default="",
        max_length=500,
        description="custom: tile URL template with {z}, {x}, {y} (and {s} for map_tile_subdomains), "
        "http(s):// or a path on this host.",
    )
    map_tile_subdomains: str = Field(default="", max_length=20, description="custom: the letters {s} takes.")
    map_tile_crs: Literal["", "wgs84", "gcj02"] = Field(
        default="",
        description="The datum the tiles are drawn in: wgs84 (CGCS2000 is within centimetres of it) or gcj02 "
        "(China's offset datum); empty: the provider's own (tianditu wgs84, amap gcj02, custom wgs84).",
    )
    map_tile_dark: bool = Field(
        default=True, description="Invert a light street map to suit the dark screens (off for imagery)."
    )
    map_tile_attribution: str = Field(
        default="", max_length=200, description="custom: the credit shown on the map (tianditu/amap: their own)."
    )

    @model_validator(mode="after")
    def _tiles_complete(self) -> Self:
        if self.map_tiles == "tianditu" and not self.map_tile_key.strip():
            raise ValueError("GRIDHUB_MAP_TILES=tianditu needs GRIDHUB_MAP_TILE_KEY (the 天地图 tk)")
        if self.map_tiles == "custom":
            url = self.map_tile_url.strip()
            if not url.startswith(("http://", "https://", "/")):
                raise ValueError("GRIDHUB_MAP_TILE_URL must start with http://, https:// or / for map_tiles=custom")
            missing = [p for p in ("{z}", "{x}", "{y}") if p not in url]
            if missing:
                raise ValueError(f"GRIDHUB_MAP_TILE_URL lacks {', '.join(missing)}")
            if "{s}" in url and not self.map_tile_subdomains:
                raise ValueError("GRIDHUB_MAP_TILE_URL has {s}: set GRIDHUB_MAP_TILE_SUBDOMAINS (e.g. abc)")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        parse_networks(value)  # ValueError: pydantic reports it as a settings error
        return value

    @cached_property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gridhub.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @cached_property
    def signing_key(self) -> str:
        """The configured key, else one generated once and kept in ``data_dir/secret.key``.

        Read once per Settings object: every authenticated request needs it.
        """
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            _create_private(path, secrets.token_urlsafe(48))
        return path.read_text().strip()

    @property
    def resolved_recording_dir(self) -> Path:
        return self.recording_dir or self.data_dir / "recordings"


def _create_private(path: Path, content: str) -> None:
    """Write ``path`` readable by its owner only from its first byte on, atomically: the content goes to a
    temporary file created 0600, which is then linked into place (a hub starting at the same moment keeps
    the key that got there first; nobody ever sees a partial or world-readable key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
