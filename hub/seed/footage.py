"""Live video in the demo with nothing to configure: a few seeded cameras play the bundled footage.

``attach_demo_footage`` gives the lowest-numbered camera of each of the first ``count`` towns the bundled
``stream/footage/vtest.mp4`` as a looped file source (tag ``demo``). On later runs it only refreshes those
cameras' path (the install may have moved) and leaves every other camera alone.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dispatch.models import Jurisdiction
from hub.db import create_session_factory
from stream.models import Camera
from stream.pool import footage_path

DEMO_TAG = "demo"


async def attach_demo_footage(engine: AsyncEngine, *, count: int = 6) -> list[int]:
    """Ids of the cameras that play the bundled footage (chosen on the first run)."""
    source = str(footage_path())
    async with create_session_factory(engine)() as session:
        cameras = list(await session.scalars(select(Camera).order_by(Camera.id)))
        chosen = [c for c in cameras if DEMO_TAG in (c.tags or [])]
        if not chosen:
            paths = dict((await session.execute(select(Jurisdiction.code, Jurisdiction.path))).all())
            towns: set[str] = set()
            for camera in cameras:
                codes = [c for c in paths.get(camera.grid_code or "", "").strip("/").split("/") if c]
                town = codes[1] if len(codes) > 1 else ""
                if town in towns:
                    continue
                towns.add(town)
                chosen.append(camera)
                if len(chosen) >= count:
                    break
        for camera in chosen:
            camera.source_url = source
            camera.enabled = True
            camera.tags = sorted({*(camera.tags or []), DEMO_TAG})
        await session.commit()
        return [c.id for c in chosen]
