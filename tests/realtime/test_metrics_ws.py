"""WebSocket connections and messages are counted by channel kind."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.realtime.conftest import make_settings
from tests.realtime.helpers import InProcessHub, Raw, add_outbox, event_data, token
from tests.realtime.hubapp import build_app


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_connections_and_messages_by_channel_kind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = build_app(make_settings(tmp_path))
    engine = app.state.session_factory.kw["bind"]
    async with InProcessHub(app) as hub:
        connects = sample("gridhub_ws_connects_total")
        events, dispatches = (
            sample("gridhub_ws_messages_total", kind="events"),
            sample("gridhub_ws_messages_total", kind="dispatch"),
        )
        a, b = await Raw.connect(hub.url, token(21)), await Raw.connect(hub.url, token(22))
        for c in (a, b):
            await c.subscribe("events")
        await a.subscribe("dispatch:21")
        await add_outbox(
            engine,
            ("dispatch:21", "event.assigned", event_data(1, assignee=21)),
            ("events", "event.assign", event_data(1, grid="G1")),
        )
        app.state.realtime.notify()
        await a.until(lambda m: m.get("channel") == "events" and "data" in m)
        await b.until(lambda m: m.get("channel") == "events" and "data" in m)
        assert sample("gridhub_ws_connects_total") == connects + 2
        assert sample("gridhub_ws_messages_total", kind="events") == events + 2
        assert sample("gridhub_ws_messages_total", kind="dispatch") == dispatches + 1
        await a.close()
        await b.close()
