"""Camera registry queries: list, create, and cameras near a point."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.geo import bounding_box, nearest
from stream.models import Camera


def camera_dict(camera: Camera, distance_m: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": camera.id,
        "name": camera.name,
        "lat": camera.lat,
        "lon": camera.lon,
        "grid_code": camera.grid_code,
        "status": camera.status,
    }
    if distance_m is not None:
        out["distance_m"] = round(distance_m, 1)
    return out


async def nearby_cameras(
    *, db_session: AsyncSession, lat: float, lon: float, radius_m: float, limit: int = 50
) -> list[dict[str, Any]]:
    """Cameras within ``radius_m`` of the point, nearest first (bounding box in SQL, exact distance here)."""
    min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, radius_m)
    cameras = await db_session.scalars(
        select(Camera).where(Camera.lat.between(min_lat, max_lat), Camera.lon.between(min_lon, max_lon))
    )
    return [camera_dict(c, d) for d, c in nearest(cameras, lat, lon, radius_m, limit, lambda c: (c.lat, c.lon))]
