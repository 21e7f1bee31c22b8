"""The generated county: jurisdiction tree with nested GeoJSON boundaries, user accounts and cameras.

Everything is built in memory from a seeded ``random.Random`` so the same seed gives the same county.
Boundaries are rectangles that tile their parent: the county box is cut into town cells, each town
cell into village cells, each village cell into grid cells, with jittered cut lines so the map does not
look like graph paper. A child's rectangle always lies inside its parent's.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from dispatch.models import Level, Role
from hub.seed import names

#: (south, west, north, east) in degrees.
Rect = tuple[float, float, float, float]

#: The county's box: about 33 km north–south and 38 km east–west, north-east of Hangzhou.
COUNTY_BOX: Rect = (30.25, 119.72, 30.55, 120.12)


def polygon(rect: Rect) -> dict[str, Any]:
    """The GeoJSON Polygon (lon/lat, closed ring, counter-clockwise) of a rectangle."""
    s, w, n, e = (round(v, 6) for v in rect)
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def point_in_polygon(lat: float, lon: float, geometry: dict[str, Any]) -> bool:
    """Ray casting over the outer ring of a GeoJSON Polygon (boundary points count as inside)."""
    ring = geometry["coordinates"][0]
    inside = False
    for (x1, y1), (x2, y2) in pairwise(ring):
        if (x1 == x2 == lon and min(y1, y2) <= lat <= max(y1, y2)) or (
            y1 == y2 == lat and min(x1, x2) <= lon <= max(x1, x2)
        ):
            return True
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x:
                inside = not inside
    return inside


def _cuts(lo: float, hi: float, parts: int, rnd: random.Random) -> list[float]:
    """``parts + 1`` increasing cut positions from lo to hi, each inner cut jittered by up to 30 %."""
    step = (hi - lo) / parts
    inner = [lo + step * (i + rnd.uniform(-0.3, 0.3)) for i in range(1, parts)]
    return [lo, *inner, hi]


def split_rect(rect: Rect, n: int, rnd: random.Random) -> list[Rect]:
    """``n`` rectangles tiling ``rect``: rows of cells, rows holding as even a share of ``n`` as fits."""
    s, w, north, e = rect
    rows = max(1, round(math.sqrt(n * (north - s) / max(e - w, 1e-9))))
    rows = min(rows, n)
    per_row = [n // rows + (1 if i < n % rows else 0) for i in range(rows)]
    lat_cuts = _cuts(s, north, rows, rnd)
    cells: list[Rect] = []
    # North to south, west to east, so codes read like a map.
    for r in reversed(range(rows)):
        lon_cuts = _cuts(w, e, per_row[r], rnd)
        for c in range(per_row[r]):
            cells.append((lat_cuts[r], lon_cuts[c], lat_cuts[r + 1], lon_cuts[c + 1]))
    return cells


def centre(rect: Rect) -> tuple[float, float]:
    return (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2


def random_point(rect: Rect, rnd: random.Random, margin: float = 0.08) -> tuple[float, float]:
    """A point well inside ``rect`` (``margin`` of each side kept free)."""
    s, w, n, e = rect
    lat = s + (n - s) * rnd.uniform(margin, 1 - margin)
    lon = w + (e - w) * rnd.uniform(margin, 1 - margin)
    return round(lat, 6), round(lon, 6)


@dataclass(slots=True)
class Node:
    code: str
    name: str
    level: Level
    parent: Node | None
    rect: Rect
    urban: bool
    roads: tuple[str, ...] = ()
    children: list[Node] = field(default_factory=list)
    #: Relative share of events reported here (busy urban grids, quiet hill villages).
    weight: float = 1.0

    @property
    def path(self) -> str:
        codes: list[str] = []
        node: Node | None = self
        while node is not None:
            codes.append(node.code)
            node = node.parent
        return "/" + "/".join(reversed(codes)) + "/"

    def ancestor(self, level: Level) -> Node:
        node: Node | None = self
        while node is not None and node.level != level:
            node = node.parent
        if node is None:
            raise ValueError(f"{self.code} has no {level} ancestor")
        return node

    def row(self) -> dict[str, Any]:
        lat, lon = centre(self.rect)
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level.value,
            "parent_code": self.parent.code if self.parent else None,
            "path": self.path,
            "center_lat": round(lat, 6),
            "center_lon": round(lon, 6),
            "boundary": polygon(self.rect),
        }


@dataclass(slots=True)
class SeedUser:
    id: int
    username: str
    display_name: str
    role: Role
    jurisdiction: Node
    phone: str
    lat: float | None = None
    lon: float | None = None
    #: Platform a department serves (departments only): events of that platform go to it.
    platform: str | None = None

    def row(self, password_hash: str, created_at: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "password_hash": password_hash,
            "role": self.role.value,
            "jurisdiction_code": self.jurisdiction.code,
            "phone": self.phone,
            "lat": self.lat,
            "lon": self.lon,
            "is_active": True,
            "failed_logins": 0,
            "locked_until": None,
            "token_generation": 0,
            "must_change_password": False,
            "created_at": created_at,
        }


@dataclass(slots=True)
class County:
    root: Node
    towns: list[Node]
    villages: list[Node]
    grids: list[Node]
    users: list[SeedUser]
    #: Who works where: the lookups the event generator needs.
    county_dispatchers: list[SeedUser]
    town_dispatchers: dict[str, list[SeedUser]]
    leaders: list[SeedUser]
    grid_worker_of: dict[str, SeedUser]  # grid code → the grid worker covering it
    village_head_of: dict[str, SeedUser]  # village code → 村社网格长
    town_departments: dict[str, dict[str, list[SeedUser]]]  # town code → platform → departments
    county_departments: dict[str, list[SeedUser]]  # platform → departments
    cameras: list[dict[str, Any]]
    cameras_of_grid: dict[str, list[dict[str, Any]]]

    @property
    def nodes(self) -> list[Node]:
        return [self.root, *self.towns, *self.villages, *self.grids]


def _unique_name(rnd: random.Random, first: str, second: tuple[str, ...], suffix: str, used: set[str]) -> str:
    for _ in range(1000):
        name = rnd.choice(first) + rnd.choice(second) + suffix
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("name pool exhausted")


def _person(rnd: random.Random) -> str:
    return rnd.choice(names.SURNAMES) + rnd.choice(names.GIVEN)


def _phone(rnd: random.Random) -> str:
    return rnd.choice(("138", "139", "137", "135", "158", "159", "188", "187")) + f"{rnd.randrange(10**8):08d}"


def build_tree(rnd: random.Random) -> tuple[Node, list[Node], list[Node], list[Node]]:
    """County → 10 镇街 → ~150 村社 → ~600 网格, with codes, names and nested rectangles."""
    root = Node(names.COUNTY_CODE, names.COUNTY_NAME, Level.COUNTY, None, COUNTY_BOX, urban=True)
    towns: list[Node] = []
    villages: list[Node] = []
    grids: list[Node] = []
    counters = {"street": 0, "town": 100, "township": 200}
    used_names: set[str] = set()
    for (town_name, kind), rect in zip(names.TOWNS, split_rect(COUNTY_BOX, len(names.TOWNS), rnd), strict=True):
        counters[kind] += 1
        urban = kind == "street"
        town = Node(f"{root.code}{counters[kind]:03d}", town_name, Level.TOWN, root, rect, urban)
        town.weight = 1.6 if urban else 0.8
        root.children.append(town)
        towns.append(town)
        n_villages = rnd.randint(12, 18)
        community_no, village_no = 0, 200
        for vrect in split_rect(rect, n_villages, rnd):
            # Streets hold mostly 社区 (codes 0xx), towns mostly 村 (codes 2xx).
            is_community = rnd.random() < (0.85 if urban else 0.2)
            if is_community:
                community_no += 1
                code = f"{town.code}{community_no:03d}"
                vname = _unique_name(rnd, names.COMMUNITY_FIRST, names.COMMUNITY_SECOND, "社区", used_names)
                roads = tuple(rnd.choice(names.ROAD_PREFIX) + rnd.choice(names.ROAD_SUFFIX) for _ in range(3))
            else:
                village_no += 1
                code = f"{town.code}{village_no:03d}"
                vname = _unique_name(rnd, names.VILLAGE_FIRST, names.VILLAGE_SECOND, "村", used_names)
                roads = (
                    *(vname[:-1] + rnd.choice(names.VILLAGE_ROAD_SUFFIX) for _ in range(2)),
                    rnd.choice(names.ROAD_PREFIX) + "线",
                )
            village = Node(code, vname, Level.VILLAGE, town, vrect, is_community, roads=tuple(dict.fromkeys(roads)))
            village.weight = town.weight * rnd.lognormvariate(0, 0.4) * (1.3 if is_community else 0.8)
            town.children.append(village)
            villages.append(village)
            n_grids = rnd.choices((3, 4, 5, 6), weights=(2, 4, 3, 1))[0]
            for g, grect in enumerate(split_rect(vrect, n_grids, rnd), start=1):
                grid = Node(
                    f"{village.code}{g:03d}",
                    f"{vname}第{g}网格",
                    Level.GRID,
                    village,
                    grect,
                    is_community,
                    roads=village.roads,
                )
                grid.weight = village.weight * rnd.lognormvariate(0, 0.3)
                village.children.append(grid)
                grids.append(grid)
    return root, towns, villages, grids


def build_county(rnd: random.Random, *, cameras: int) -> County:
    root, towns, villages, grids = build_tree(rnd)
    users: list[SeedUser] = []

    def add(username: str, display: str, role: Role, node: Node, **kw: Any) -> SeedUser:
        user = SeedUser(len(users) + 1, username, display, role, node, _phone(rnd), **kw)
        users.append(user)
        return user

    add("admin", "系统管理员", Role.ADMIN, root)
    county_dispatchers = [
        add(
            "county_dispatcher" if i == 1 else f"county_dispatcher_{i:02d}",
            f"区指挥中心坐席员{_person(rnd)}",
            Role.DISPATCHER,
            root,
        )
        for i in (1, 2, 3)
    ]
    leaders = [
        add("leader", f"区委政法委{_person(rnd)}", Role.LEADER, root),
        add("deputy_leader", f"区社会治理中心{_person(rnd)}", Role.LEADER, root),
    ]
    county_departments: dict[str, list[SeedUser]] = {}
    for key, dname, platform in names.COUNTY_DEPARTMENTS:
        dept = add(f"county_{key}", dname, Role.DEPARTMENT, root, platform=platform)
        county_departments.setdefault(platform, []).append(dept)

    town_dispatchers: dict[str, list[SeedUser]] = {}
    town_departments: dict[str, dict[str, list[SeedUser]]] = {}
    for t, town in enumerate(towns, start=1):
        prefix = f"town{t:02d}"
        lat, lon = centre(town.rect)
        town_dispatchers[town.code] = [
            add(
                f"{prefix}_dispatcher" if i == 1 else f"{prefix}_dispatcher_{i:02d}",
                f"{town.name}综合信息指挥室{_person(rnd)}",
                Role.DISPATCHER,
                town,
            )
            for i in (1, 2)
        ]
        if t <= 3:
            leaders.append(add(f"{prefix}_leader", f"{town.name}党工委{_person(rnd)}", Role.LEADER, town))
        per_platform: dict[str, list[SeedUser]] = {}
        for key, dname, platform in names.TOWN_DEPARTMENTS:
            short = town.name.removesuffix("街道").removesuffix("镇").removesuffix("乡")
            dept = add(f"{prefix}_{key}", f"{short}{dname}", Role.DEPARTMENT, town, lat=lat, lon=lon, platform=platform)
            per_platform.setdefault(platform, []).append(dept)
        town_departments[town.code] = per_platform

    # Grid workers: one for about every three grids of a village, bound to the first grid they cover.
    grid_worker_of: dict[str, SeedUser] = {}
    village_head_of: dict[str, SeedUser] = {}
    worker_no = 0
    for village in villages:
        n_workers = max(1, round(len(village.children) / 3))
        workers: list[SeedUser] = []
        for k in range(n_workers):
            worker_no += 1
            home = village.children[k * len(village.children) // n_workers]
            lat, lon = random_point(home.rect, rnd)
            workers.append(
                add(f"grid_worker_{worker_no:03d}", f"网格员{_person(rnd)}", Role.RESPONDER, home, lat=lat, lon=lon)
            )
        for g, grid in enumerate(village.children):
            grid_worker_of[grid.code] = workers[g * n_workers // len(village.children)]
    for v, village in enumerate(villages, start=1):
        lat, lon = centre(village.rect)
        village_head_of[village.code] = add(
            f"village_head_{v:03d}",
            f"{village.name}网格长{_person(rnd)}",
            Role.RESPONDER,
            village,
            lat=round(lat, 6),
            lon=round(lon, 6),
        )

    camera_rows: list[dict[str, Any]] = []
    cameras_of_grid: dict[str, list[dict[str, Any]]] = {}
    weights = [g.weight for g in grids]
    for i, grid in enumerate(rnd.choices(grids, weights=weights, k=cameras), start=1):
        lat, lon = random_point(grid.rect, rnd, margin=0.05)
        road = rnd.choice(grid.roads)
        spot = rnd.choice(names.URBAN_LANDMARKS if grid.urban else names.RURAL_LANDMARKS)
        row = {
            "id": i,
            "name": f"{grid.parent.name if grid.parent else ''}{road}{spot}-{i:04d}",
            "source_url": "",
            "lat": lat,
            "lon": lon,
            "grid_code": grid.code,
            "status": "online" if rnd.random() < 0.93 else "offline",
        }
        camera_rows.append(row)
        cameras_of_grid.setdefault(grid.code, []).append(row)

    return County(
        root=root,
        towns=towns,
        villages=villages,
        grids=grids,
        users=users,
        county_dispatchers=county_dispatchers,
        town_dispatchers=town_dispatchers,
        leaders=leaders,
        grid_worker_of=grid_worker_of,
        village_head_of=village_head_of,
        town_departments=town_departments,
        county_departments=county_departments,
        cameras=camera_rows,
        cameras_of_grid=cameras_of_grid,
    )
