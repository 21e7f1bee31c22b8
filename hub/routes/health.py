"""/healthz (the process answers), /readyz (database and bus answer), /metrics (Prometheus)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from dispatch.db import utcnow
from dispatch.models import OutboxMessage
from hub import metrics as m
from hub.realtime.pending import DispatchDelivery

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with request.app.state.session_factory() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports any failure instead of raising it
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        checks["bus"] = "ok" if await request.app.state.realtime.ready() else "error: not ready"
    except Exception as exc:
        checks["bus"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )


PROMETHEUS_TEXT = {
    200: {
        "description": "Prometheus text exposition format.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@router.get("/metrics", response_class=Response, responses=PROMETHEUS_TEXT)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this hub; the state gauges (sockets, outbox, dispatches) are read now."""
    await refresh_state(request.app)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def refresh_state(app: Any) -> None:
    """Set the gauges that describe state: this hub's sockets and relay, the database's outbox and dispatches."""
    realtime = getattr(app.state, "realtime", None)
    if realtime is not None:
        fanout = realtime.fanout
        m.WS_CONNECTIONS.set(len(fanout.sessions))
        m.WS_CHANNELS.set(len(fanout.channels))
        by_kind = dict.fromkeys((*m.CHANNEL_KINDS, "other"), 0)
        for name, channel in fanout.channels.items():
            by_kind[m.kind_of(name)] += len(channel.subs)
        for kind, count in by_kind.items():
            m.WS_SUBSCRIPTIONS.labels(kind).set(count)
        m.RELAY_LEADER.set(1 if realtime.relay is not None and realtime.relay.leader else 0)
    try:
        async with app.state.session_factory() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(OutboxMessage.created_at)).where(OutboxMessage.published_at.is_(None))
                )
            ).one()
            unacked = await session.scalar(
                select(func.count()).select_from(DispatchDelivery).where(DispatchDelivery.acked_at.is_(None))
            )
    except Exception:  # the database is away: /readyz says so; keep the last values
        return
    m.OUTBOX_UNPUBLISHED.set(count)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    m.OUTBOX_LAG.set(max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0)
    m.DISPATCH_UNACKED.set(unacked or 0)
