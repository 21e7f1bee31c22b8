"""A tiny, hand-made county for API tests: 1 county, 2 towns, 2 villages each, 2 grids each, and users.

Grids are 0.01° squares laid out on a lattice so positions and polygons are easy to reason about.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import Jurisdiction, User
from dispatch.passwords import hash_password

PASSWORD = "Testpass123"
BASE_LAT, BASE_LON = 30.0, 120.0
STEP = 0.01


def square(lat: float, lon: float, size_lat: float, size_lon: float) -> dict[str, object]:
    ring = [[lon, lat], [lon + size_lon, lat], [lon + size_lon, lat + size_lat], [lon, lat + size_lat], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class Grid:
    code: str
    lat: float  # a point inside it
    lon: float


def build_tree() -> tuple[list[Jurisdiction], dict[str, Grid]]:
    """County 330100 → towns 330100001/002 → villages …001/…002 → grids …001/…002."""
    nodes: list[Jurisdiction] = []
    grids: dict[str, Grid] = {}
    county = "330100"
    nodes.append(
        Jurisdiction(
            code=county,
            name="测试区",
            level="county",
            parent_code=None,
            path=f"/{county}/",
            center_lat=BASE_LAT + 2 * STEP,
            center_lon=BASE_LON + 2 * STEP,
            boundary=square(BASE_LAT, BASE_LON, 4 * STEP, 4 * STEP),
        )
    )
    for t in range(2):
        town = f"{county}{t + 1:03d}"
        t_lat, t_lon = BASE_LAT, BASE_LON + t * 2 * STEP
        nodes.append(
            Jurisdiction(
                code=town,
                name=f"第{t + 1}街道",
                level="town",
                parent_code=county,
                path=f"/{county}/{town}/",
                center_lat=t_lat + 2 * STEP,
                center_lon=t_lon + STEP,
                boundary=square(t_lat, t_lon, 4 * STEP, 2 * STEP),
            )
        )
        for v in range(2):
            village = f"{town}{v + 1:03d}"
            v_lat, v_lon = t_lat + v * 2 * STEP, t_lon
            nodes.append(
                Jurisdiction(
                    code=village,
                    name=f"第{t + 1}街道第{v + 1}社区",
                    level="village",
                    parent_code=town,
                    path=f"/{county}/{town}/{village}/",
                    center_lat=v_lat + STEP,
                    center_lon=v_lon + STEP,
                    boundary=square(v_lat, v_lon, 2 * STEP, 2 * STEP),
                )
            )
            for g in range(2):
                grid = f"{village}{g + 1:03d}"
                g_lat, g_lon = v_lat + g * STEP, v_lon
                nodes.append(
                    Jurisdiction(
                        code=grid,
                        name=f"网格{t + 1}-{v + 1}-{g + 1}",
                        level="grid",
                        parent_code=village,
                        path=f"/{county}/{town}/{village}/{grid}/",
                        center_lat=g_lat + STEP / 2,
                        center_lon=g_lon + STEP / 2,
                        boundary=square(g_lat, g_lon, STEP, 2 * STEP),
                    )
                )
                grids[grid] = Grid(grid, g_lat + STEP / 2, g_lon + STEP / 2)
    return nodes, grids


#: username → (role, jurisdiction code)
USERS: dict[str, tuple[str, str]] = {
    "admin": ("admin", "330100"),
    "county_dispatcher": ("dispatcher", "330100"),
    "leader": ("leader", "330100"),
    "t1_dispatcher": ("dispatcher", "330100001"),
    "t2_dispatcher": ("dispatcher", "330100002"),
    "t1_leader": ("leader", "330100001"),
    "t1_worker": ("responder", "330100001001001"),
    "t1_worker2": ("responder", "330100001002001"),
    "t2_worker": ("responder", "330100002001001"),
    "county_dept": ("department", "330100"),
}


async def insert_county(session: AsyncSession) -> dict[str, Grid]:
    nodes, grids = build_tree()
    for node in nodes:  # parents first: the list is in tree order
        session.add(node)
        await session.flush()
    password_hash = hash_password(PASSWORD)
    for username, (role, code) in USERS.items():
        grid = grids.get(code)
        session.add(
            User(
                username=username,
                display_name=username,
                password_hash=password_hash,
                role=role,
                jurisdiction_code=code,
                lat=grid.lat if grid else None,
                lon=grid.lon if grid else None,
            )
        )
    await session.commit()
    return grids
