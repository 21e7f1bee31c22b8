"""/metrics: HTTP requests by route template and status, state gauges, login failures (both engines)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.conftest import Api


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_http_requests_by_route_template_and_status(api: Api) -> None:
    ev = await api.report()
    route = "/api/v1/events/{event_id}"
    before_ok = sample("gridhub_http_requests_total", method="GET", route=route, status="200")
    before_404 = sample("gridhub_http_requests_total", method="GET", route=route, status="404")
    before_unmatched = sample("gridhub_http_requests_total", method="GET", route="<unmatched>", status="404")
    assert (await api.get("t1_dispatcher", f"/api/v1/events/{ev['id']}")).status_code == 200
    assert (await api.get("t1_dispatcher", "/api/v1/events/999999")).status_code == 404
    assert (await api.client.get("/no/such/path/123")).status_code == 404
    assert sample("gridhub_http_requests_total", method="GET", route=route, status="200") == before_ok + 1
    assert sample("gridhub_http_requests_total", method="GET", route=route, status="404") == before_404 + 1
    assert (
        sample("gridhub_http_requests_total", method="GET", route="<unmatched>", status="404") == before_unmatched + 1
    )
    text = (await api.client.get("/metrics")).text
    assert (
        'gridhub_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/events/{event_id}"' in text
    )
    assert "/no/such/path" not in text  # raw paths never become labels


async def test_state_gauges_and_login_failures(api: Api) -> None:
    failures = sample("gridhub_login_failures_total")
    r = await api.client.post("/api/v1/auth/login", json={"username": "t2_worker", "password": "wrong-password-1"})
    assert r.status_code == 401
    assert sample("gridhub_login_failures_total") == failures + 1
    text = (await api.client.get("/metrics")).text
    for name in (
        "gridhub_outbox_unpublished",
        "gridhub_outbox_lag_seconds",
        "gridhub_dispatch_unacked",
        "gridhub_relay_leader 1.0",
        "gridhub_ws_connections",
        'gridhub_ws_subscriptions{kind="events"}',
        "gridhub_login_lockouts_total",
        "gridhub_task_restarts_total",
    ):
        assert name in text, name
