"""Plane geometry of rules: polygons and lines in frame-relative coordinates (0…1 of width and height)."""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, float]


def _orient(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Whether the closed segments p1p2 and q1q2 share a point."""
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and _on_segment(q1, q2, p1))
        or (d2 == 0 and _on_segment(q1, q2, p2))
        or (d3 == 0 and _on_segment(p1, p2, q1))
        or (d4 == 0 and _on_segment(p1, p2, q2))
    )


def polygon_problem(points: Sequence[Sequence[float]]) -> str | None:
    """Why the polygon cannot be a zone (a sentence), or None when it is a simple polygon inside the frame."""
    if len(points) < 3:
        return f"a zone needs at least 3 points, got {len(points)}"
    pts = [(float(p[0]), float(p[1])) for p in points]
    for i, (x, y) in enumerate(pts):
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            return f"point {i} ({x}, {y}) is outside the frame: coordinates are fractions of width and height, 0…1"
    if len(set(pts)) != len(pts):
        return "the zone repeats a point"
    n = len(pts)
    edges = [(pts[i], pts[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbours share a corner
            if segments_intersect(*edges[i], *edges[j]):
                return f"the zone crosses itself (edge {i} meets edge {j})"
    if abs(area(pts)) < 1e-6:
        return "the zone has no area (its points are on one line)"
    return None


def line_problem(points: Sequence[Sequence[float]]) -> str | None:
    if len(points) != 2:
        return f"a line has exactly 2 points, got {len(points)}"
    for i, p in enumerate(points):
        if not (0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0):
            return f"point {i} ({p[0]}, {p[1]}) is outside the frame: coordinates are fractions, 0…1"
    if tuple(points[0]) == tuple(points[1]):
        return "the line's two points are the same"
    return None


def area(points: Sequence[Point]) -> float:
    return 0.5 * sum(points[i][0] * points[i - 1][1] - points[i - 1][0] * points[i][1] for i in range(len(points)))


def inside(point: Point, polygon: Sequence[Point]) -> bool:
    """Ray casting: whether the point lies inside the polygon (edges count as inside)."""
    x, y = point
    result = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[i - 1]
        if _orient((x1, y1), (x2, y2), point) == 0 and _on_segment((x1, y1), (x2, y2), point):
            return True
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            result = not result
    return result


def side(point: Point, a: Point, b: Point) -> int:
    """+1 left of the directed line a→b (image coordinates, y down: 'left' as seen walking a→b), -1 right, 0 on it."""
    o = _orient(a, b, point)
    return (o < 0) - (o > 0)


def crossed(prev: Point, cur: Point, a: Point, b: Point) -> int:
    """+1 when the move prev→cur crosses segment ab from its left to its right, -1 right to left, 0 none."""
    s0, s1 = side(prev, a, b), side(cur, a, b)
    if s0 == 0 or s1 == 0 or s0 == s1 or not segments_intersect(prev, cur, a, b):
        return 0
    return 1 if s0 > 0 else -1
