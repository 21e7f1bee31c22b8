"""The fan-out's direct-write path must really be active under uvicorn, for every ws implementation we run.

It finds uvicorn's transport through Starlette's ``send`` wrappers; if an upgrade of either moves it,
delivery silently falls back to the slower queued path. This test makes that visible.
"""

from __future__ import annotations

import asyncio
import json

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


async def test_sliced_fan_out_keeps_every_clients_order_and_lets_dispatches_through(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With a large audience the fan-out yields between slices; order per client must not change."""
    import hub.realtime.fanout as fanout

    monkeypatch.setattr(fanout, "FANOUT_SLICE", 2)
    app = build_app(make_settings(tmp_path))
    async with InProcessHub(app) as hub:
        clients = [await Raw.connect(hub.url, token(2)) for _ in range(7)]
        for c in clients:
            assert (await c.subscribe("events"))["type"] == "subscribed"
        phone = await Raw.connect(hub.url, token(10))
        assert (await phone.subscribe("dispatch:10"))["type"] == "subscribed"
        rows = [("events", "event.report", event_data(i)) for i in range(1, 6)]
        rows.insert(2, ("dispatch:10", "dispatch.assigned", event_data(99, assignee=10)))
        await add_outbox(app.state.session_factory.kw["bind"], *rows)
        app.state.realtime.notify()
        assert (await phone.recv(5))["data"]["event_id"] == 99
        for c in clients:
            got = [(await c.recv(5))["data"]["event_id"] for _ in range(5)]
            assert got == [1, 2, 3, 4, 5]
        for c in [*clients, phone]:
            await c.close()


async def test_heartbeat_pings_every_client_and_closes_the_silent_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import websockets

    app = build_app(make_settings(tmp_path, ws_heartbeat_s=0.4))
    async with InProcessHub(app) as hub:
        silent = await Raw.connect(hub.url, token(2))
        lively = await Raw.connect(hub.url, token(3))
        pings = 0
        for _ in range(40):  # answer every ping for ~2 s
            try:
                frame = json.loads(await asyncio.wait_for(lively.ws.recv(), 0.1))
            except TimeoutError:
                continue
            if frame.get("type") == "ping":
                pings += 1
                await lively.send({"op": "pong"})
        assert pings >= 2, "each client is pinged about once per heartbeat"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(50):
                await asyncio.wait_for(silent.ws.recv(), 1)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        await lively.send({"op": "ping"})
        assert (await lively.recv(2))["type"] == "pong"
        await lively.close()
