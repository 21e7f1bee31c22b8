"""The realtime loops run supervised, and the dispatch redelivery survives a client closed mid-pass."""

from __future__ import annotations

from prometheus_client import REGISTRY

from hub.realtime.session import CONTROL
from tests.realtime.conftest import make_settings
from tests.realtime.helpers import InProcessHub, Raw, add_outbox, event_data, token
from tests.realtime.hubapp import build_app


def restarts(name: str) -> float:
    return REGISTRY.get_sample_value("gridhub_task_restarts_total", {"task": name}) or 0.0


async def test_redelivery_survives_a_client_closed_while_resending(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Re-sending to a client whose queue is full closes it, which drops its ``unacked``: the pass used to
    die on ``dictionary changed size during iteration`` and nobody's dispatches were re-sent again."""
    app = build_app(make_settings(tmp_path, ws_queue_size=8))
    realtime = app.state.realtime
    engine = app.state.session_factory.kw["bind"]
    async with InProcessHub(app) as hub:
        slow = await Raw.connect(hub.url, token(21))
        await slow.subscribe("dispatch:21")
        good = await Raw.connect(hub.url, token(22))
        await good.subscribe("dispatch:22")
        await add_outbox(
            engine,
            ("dispatch:21", "event.assigned", event_data(1, assignee=21)),
            ("dispatch:21", "event.assigned", event_data(2, assignee=21)),
            ("dispatch:22", "event.assigned", event_data(3, assignee=22)),
        )
        realtime.notify()
        first = await good.until(lambda m: "data" in m)
        await slow.until(lambda m: "data" in m)
        await slow.until(lambda m: "data" in m)

        (s,) = [x for x in realtime.fanout.sessions if x.user_id == 21]
        assert len(s.unacked["dispatch:21"]) == 2
        # The slow client's queue is full of frames that cannot be dropped: the next re-send closes it.
        s.transport, s.backlogged = None, True
        s.q.extend((CONTROL, "", b"{}") for _ in range(4 * s.limit))

        before = restarts("dispatch-redeliver")
        again = await good.until(lambda m: "data" in m, timeout=3)
        assert again["offset"] == first["offset"]  # re-sent: the pass ran
        for _ in range(3):  # and keeps running, pass after pass
            assert (await good.until(lambda m: "data" in m, timeout=3))["offset"] == first["offset"]
        assert s.closed and s not in realtime.fanout.sessions
        assert restarts("dispatch-redeliver") == before  # no pass failed
        await good.close()
        await slow.close()
