"""Camera registry (摄像头上图): what the API shows of a camera, queries, and the CSV import parser."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.geo import Found, bounding_box, nearest
from dispatch.models import Jurisdiction, User
from stream.models import Camera
from stream.sources import redact, validate

#: Columns of a camera CSV (header row required; ``name``, ``lat``, ``lon`` mandatory).
CSV_COLUMNS = ("name", "lat", "lon", "source_url", "grid_code", "tags", "enabled")
MAX_TAGS = 20


def camera_dict(
    camera: Camera, distance_m: float | None = None, *, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A camera as the API shows it: the source with its password masked, the reader's true status."""
    stream = status or {"state": "no_source" if not (camera.source_url or "").strip() else "offline"}
    out: dict[str, Any] = {
        "id": camera.id,
        "name": camera.name,
        "lat": camera.lat,
        "lon": camera.lon,
        "grid_code": camera.grid_code,
        "source_url": redact(camera.source_url or ""),
        "enabled": camera.enabled if camera.enabled is not None else True,
        "tags": list(camera.tags or []),
        "status": stream.get("state"),
        "stream": stream,
    }
    if distance_m is not None:
        out["distance_m"] = round(distance_m, 1)
    return out


def visible_cameras(user: User) -> Select[tuple[Camera]]:
    """The cameras a user sees (list, detail, media, nearby): those whose grid lies in the user's jurisdiction."""
    return (
        select(Camera)
        .join(Jurisdiction, Camera.grid_code == Jurisdiction.code)
        .where(Jurisdiction.path.startswith(user.jurisdiction.path, autoescape=True))
    )


def merge_source(current: str, incoming: str) -> str:
    """A PATCH that sends back the masked URL it was shown keeps the stored credentials."""
    if incoming == redact(current) and incoming != current:
        return current
    return incoming


async def nearby_cameras(
    *,
    db_session: AsyncSession,
    viewer: User,
    lat: float,
    lon: float,
    radius_m: float,
    limit: int = 50,
    status: Callable[[Camera], dict[str, Any]] | None = None,
) -> Found[dict[str, Any]]:
    """The viewer's cameras (``visible_cameras``) within ``radius_m`` of the point, nearest first (bounding box
    in SQL, exact distance here); ``status`` gives each camera's true reader status where the caller has it."""
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
    cameras = await db_session.scalars(
        visible_cameras(viewer).where(Camera.lat.between(min_lat, max_lat), Camera.lon.between(min_lon, max_lon))
    )
    found = nearest(cameras, lat, lon, radius_m, limit, lambda c: (c.lat, c.lon))
    items = [camera_dict(c, d, status=status(c) if status else None) for d, c in found.items]
    return Found(items, found.total)


@dataclass
class ImportRow:
    line: int
    name: str
    lat: float
    lon: float
    source_url: str = ""
    grid_code: str | None = None
    tags: list[str] = field(default_factory=list)
    enabled: bool = True


@dataclass
class ParsedCsv:
    rows: list[ImportRow]
    rejected: list[dict[str, Any]]


def _flag(value: str) -> bool:
    v = value.strip().lower()
    if v in ("", "1", "true", "yes", "y", "on", "是"):
        return True
    if v in ("0", "false", "no", "n", "off", "否"):
        return False
    raise ValueError(f"enabled must be true or false, not {value[:20]!r}")


def parse_csv(text: str, *, max_rows: int = 10_000) -> ParsedCsv:
    """Rows of a camera CSV; each row that cannot be a camera goes to ``rejected`` with its line and reason."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("name", "lat", "lon") if c not in header]
    if missing:
        raise ValueError(f"the CSV header must name the columns name, lat, lon (missing: {', '.join(missing)})")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise ValueError(f"unknown CSV columns: {', '.join(unknown)[:200]} (known: {', '.join(CSV_COLUMNS)})")
    reader.fieldnames = header
    rows: list[ImportRow] = []
    rejected: list[dict[str, Any]] = []
    for i, raw in enumerate(reader, start=2):
        if len(rows) + len(rejected) >= max_rows:
            raise ValueError(f"at most {max_rows} rows per import")
        if None in raw:
            rejected.append({"line": i, "error": "more fields than columns"})
            continue
        rec = {k: (v or "").strip() for k, v in raw.items()}
        try:
            rows.append(_row(i, rec))
        except ValueError as exc:
            rejected.append({"line": i, "name": rec.get("name", "")[:100], "error": str(exc)})
    return ParsedCsv(rows, rejected)


def _row(line: int, rec: dict[str, str]) -> ImportRow:
    name = rec.get("name", "")
    if not name or len(name) > 100:
        raise ValueError("name must be 1 to 100 characters")
    if "\x00" in "".join(rec.values()):
        raise ValueError("NUL characters are not allowed")
    try:
        lat, lon = float(rec["lat"]), float(rec["lon"])
    except ValueError:
        raise ValueError("lat and lon must be numbers") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("lat must lie in [-90, 90] and lon in [-180, 180]")
    source = rec.get("source_url", "")
    scheme, sep, rest = source.partition("://")
    if sep:
        source = scheme.lower() + sep + rest  # camera lists from vendors write RTSP:// too
    if len(source) > 500:
        raise ValueError("source_url is longer than 500 characters")
    problem = validate(source)
    if problem:
        raise ValueError(f"source_url: {problem}")
    tags = [t.strip() for t in rec.get("tags", "").replace("；", ";").split(";") if t.strip()]
    if len(tags) > MAX_TAGS or any(len(t) > 32 for t in tags):
        raise ValueError(f"at most {MAX_TAGS} tags of at most 32 characters")
    grid = rec.get("grid_code") or None
    if grid is not None and len(grid) > 32:
        raise ValueError("grid_code is longer than 32 characters")
    return ImportRow(line, name, lat, lon, source, grid, tags, _flag(rec.get("enabled", "")))
