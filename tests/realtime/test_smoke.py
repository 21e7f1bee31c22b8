from __future__ import annotations

from pathlib import Path

from tests.realtime.conftest import make_settings
from tests.realtime.helpers import InProcessHub, Raw, add_outbox, event_data, token
from tests.realtime.hubapp import build_app


async def test_smoke(tmp_path: Path) -> None:
    app = build_app(make_settings(tmp_path))
    async with InProcessHub(app) as hub:
        c = await Raw.connect(hub.url, token(2))
        sub = await c.subscribe("events")
        assert sub["type"] == "subscribed", sub
        engine = app.state.session_factory.kw["bind"]
        await add_outbox(engine, ("events", "event.assign", event_data(1)))
        msg = await c.until(lambda m: "data" in m)
        assert msg["data"]["event_id"] == 1 and msg["offset"] == sub["offset"] + 1
        await c.close()
