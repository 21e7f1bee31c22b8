"""Small geometry helpers: great-circle distance, the nearest items around a point, point-in-polygon on GeoJSON
rings."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) of a box holding every point within ``radius_m``."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlon = math.degrees(radius_m / (EARTH_RADIUS_M * max(math.cos(math.radians(lat)), 1e-6)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    """What a search around a point found: the nearest ``items`` (at most its limit) and how many lie within
    the radius in all (``total`` ≥ ``len(items)``)."""

    items: list[T]
    total: int


def nearest(
    items: Iterable[T], lat: float, lon: float, radius_m: float, limit: int, position: Callable[[T], tuple[Any, Any]]
) -> Found[tuple[float, T]]:
    """``(distance_m, item)`` for the items within ``radius_m`` of the point, nearest first, at most ``limit``;
    ``total`` counts every item within the radius."""
    found = []
    for item in items:
        item_lat, item_lon = position(item)
        if item_lat is None or item_lon is None:
            continue
        distance = haversine_m(lat, lon, item_lat, item_lon)
        if distance <= radius_m:
            found.append((distance, item))
    found.sort(key=lambda pair: pair[0])
    return Found(found[:limit], len(found))


def _in_ring(lon: float, lat: float, ring: list[list[float]]) -> bool:
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i][0], ring[i][1]
        xj, yj = ring[j][0], ring[j][1]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / ((yj - yi) or 1e-300) + xi:
            inside = not inside
        j = i
    return inside


def polygon_contains(geometry: dict[str, Any] | None, lat: float, lon: float) -> bool:
    """Whether a GeoJSON Polygon or MultiPolygon holds the point (holes respected)."""
    if not geometry:
        return False
    kind = geometry.get("type")
    polygons = [geometry["coordinates"]] if kind == "Polygon" else geometry.get("coordinates", [])
    if kind not in ("Polygon", "MultiPolygon"):
        return False
    for rings in polygons:
        if rings and _in_ring(lon, lat, rings[0]) and not any(_in_ring(lon, lat, hole) for hole in rings[1:]):
            return True
    return False
