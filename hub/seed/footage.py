"""Live video in the demo with nothing to configure: a few seeded cameras play the bundled footage.

``attach_demo_footage`` gives the lowest-numbered camera of each of the first ``count`` towns the bundled
``stream/footage/vtest.mp4`` as a looped file source (tag ``demo``). On later runs it only refreshes those
cameras' path (the install may have moved) and leaves every other camera alone. The first two demo cameras
get a detection rule each (人员聚集, 人员逗留) when they have none, so the demo raises real candidate
events from the footage; the cooldowns keep it to one event per rule every few minutes.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from dispatch.models import Jurisdiction
from hub.db import create_session_factory
from stream.models import Camera
from stream.pool import footage_path
from vision.models import VisionRule
from vision.rules import RuleIn

DEMO_TAG = "demo"
#: The street in the footage, below the building (fractions of the frame).
_STREET = [[0.02, 0.3], [0.98, 0.3], [0.98, 0.98], [0.02, 0.98]]
DEMO_RULES = (
    RuleIn(name="路口人员聚集(演示)", kind="crowd", zone=_STREET, max_count=3, dwell_s=3, cooldown_s=240, dedupe_s=240),
    RuleIn(name="路口人员逗留(演示)", kind="loitering", zone=_STREET, dwell_s=10, cooldown_s=240, dedupe_s=240),
)


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
        ruled = set(
            await session.scalars(select(VisionRule.camera_id).where(VisionRule.camera_id.in_([c.id for c in chosen])))
        )
        for camera, rule in zip(chosen, DEMO_RULES, strict=False):
            if camera.id not in ruled:
                session.add(VisionRule(camera_id=camera.id, name=rule.name, spec=rule.model_dump(mode="json")))
        await session.commit()
        return [c.id for c in chosen]
