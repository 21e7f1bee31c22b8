"""The fan-out's direct-write path must really be active under uvicorn, for every ws implementation we run.

It finds uvicorn's transport through Starlette's ``send`` wrappers; if an upgrade of either moves it,
delivery silently falls back to the slower queued path. This test makes that visible.
"""

from __future__ import annotations

import pytest

from tests.realtime.conftest import make_settings
from tests.realtime.helpers import InProcessHub, Raw, add_outbox, event_data, token
from tests.realtime.hubapp import build_app


@pytest.mark.parametrize("ws", ["websockets-sansio", "websockets"])
async def test_direct_write_path_is_found_and_delivers(tmp_path, ws: str) -> None:  # type: ignore[no-untyped-def]
    app = build_app(make_settings(tmp_path))
    async with InProcessHub(app, ws=ws) as hub:
        client = await Raw.connect(hub.url, token(2))
        assert (await client.subscribe("events"))["type"] == "subscribed"
        sessions = list(app.state.realtime.fanout.sessions)
        assert sessions and all(s.transport is not None for s in sessions), "fast path not found"
        await add_outbox(app.state.session_factory.kw["bind"], ("events", "event.report", event_data(1)))
        app.state.realtime.notify()
        message = await client.recv(5)
        assert message["channel"] == "events" and message["data"]["event_id"] == 1
        await client.close()
