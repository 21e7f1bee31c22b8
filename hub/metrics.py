"""The hub's Prometheus metrics, in one place so every module increments the same objects.

Counters are incremented where things happen (``LOGIN_FAILURES.inc()`` in the login code,
``TASK_RESTARTS`` in hub/tasks.py, ``WS_MESSAGES`` in the fan-out). Gauges that describe state (open
sockets, outbox lag, unacknowledged dispatches, relay leadership) are refreshed by ``/metrics`` just
before it renders (see ``hub/routes/health.py``), so they cost nothing between scrapes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: Channel kinds used as the ``kind`` label (a bounded set: never the channel name itself).
CHANNEL_KINDS = ("events", "dispatch", "screen", "detections")

HTTP_REQUESTS = Counter(
    "gridhub_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "gridhub_http_request_duration_seconds",
    "Time to answer an HTTP request (until the response starts), by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

WS_CONNECTIONS = Gauge("gridhub_ws_connections", "WebSocket clients connected to this hub.")
WS_CONNECTS = Counter("gridhub_ws_connects_total", "WebSocket clients authenticated on this hub.")
WS_SUBSCRIPTIONS = Gauge("gridhub_ws_subscriptions", "Subscriptions of this hub's clients, by channel kind.", ["kind"])
WS_MESSAGES = Counter(
    "gridhub_ws_messages_total", "Messages handed to this hub's WebSocket clients, by channel kind.", ["kind"]
)
#: One child per kind, so the fan-out's hot path does no label lookup.
WS_SENT = {kind: WS_MESSAGES.labels(kind) for kind in (*CHANNEL_KINDS, "other")}
WS_CHANNELS = Gauge("gridhub_ws_channels", "Channels this hub watches on the bus.")

OUTBOX_UNPUBLISHED = Gauge("gridhub_outbox_unpublished", "Outbox rows written but not yet published.")
OUTBOX_LAG = Gauge("gridhub_outbox_lag_seconds", "Age of the oldest unpublished outbox row (0 when none).")
RELAY_LEADER = Gauge("gridhub_relay_leader", "1 while this hub holds the outbox relay lease.")
RELAY_PUBLISHED = Counter("gridhub_relay_published_total", "Outbox rows this hub's relay published.")
DISPATCH_UNACKED = Gauge("gridhub_dispatch_unacked", "Dispatches recorded and not yet acknowledged (database).")

TASK_RESTARTS = Counter(
    "gridhub_task_restarts_total", "Background tasks restarted after they failed, by task.", ["task"]
)
TASK_RUNNING = Gauge("gridhub_task_running", "Supervised background tasks running, by task.", ["task"])

RETENTION_DELETED = Counter(
    "gridhub_retention_deleted_total", "Rows removed by the retention sweep, by table.", ["table"]
)

LOGIN_FAILURES = Counter("gridhub_login_failures_total", "Refused logins (wrong password, unknown or locked account).")
LOGIN_LOCKOUTS = Counter("gridhub_login_lockouts_total", "Accounts locked after too many failed logins.")


def kind_of(channel: str) -> str:
    """The ``kind`` label of a channel name."""
    head = channel.split(":", 1)[0]
    return head if head in CHANNEL_KINDS else "other"
