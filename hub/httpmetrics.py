"""Count every HTTP request and time it, by method, route template and status (pure ASGI, no body copies).

The route label is the matched route's template (``/api/v1/events/{event_id}``), never the raw path, so a
scanner trying a million paths adds one series (``<unmatched>``), not a million.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.metrics import HTTP_LATENCY, HTTP_REQUESTS

UNMATCHED = "<unmatched>"


class HttpMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        elapsed: float | None = None

        async def timed_send(message: Message) -> None:
            nonlocal status, elapsed
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = time.perf_counter() - started
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED
            if scope.get("root_path") and template != UNMATCHED and not template.startswith("/"):
                template = "/" + template
            labels = (scope["method"], template, str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_LATENCY.labels(*labels).observe(elapsed if elapsed is not None else time.perf_counter() - started)
