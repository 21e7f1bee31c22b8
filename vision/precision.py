"""Ground truth from the dispatchers: of the candidates a rule raised, how many were accepted.

An event still in 待受理 is undecided; rejected (不予受理) counts against the rule; any other state means a
dispatcher accepted it. ``suggested_min_score`` is the lowest score at which the decided candidates at or
above it reach ``target`` precision (None until enough have been decided).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import Event, Jurisdiction, State, User
from stream.models import Camera
from vision.models import VisionCandidate

MIN_DECIDED = 5


def suggest_threshold(decided: list[tuple[float, bool]], target: float) -> float | None:
    if len(decided) < MIN_DECIDED:
        return None
    ranked = sorted(decided, key=lambda x: -x[0])
    best = None
    accepted = 0
    for n, (score, ok) in enumerate(ranked, start=1):
        accepted += ok
        if accepted / n >= target:
            best = score
    return round(best, 4) if best is not None else None


async def precision_report(db_session: AsyncSession, user: User, *, target: float = 0.9) -> list[dict[str, Any]]:
    query = (
        select(
            VisionCandidate.rule_id,
            VisionCandidate.rule_name,
            VisionCandidate.camera_id,
            VisionCandidate.score,
            Event.state,
        )
        .join(Event, Event.id == VisionCandidate.event_id)
        .join(Camera, Camera.id == VisionCandidate.camera_id)
        .join(Jurisdiction, Jurisdiction.code == Camera.grid_code)
        .where(Jurisdiction.path.startswith(user.jurisdiction.path, autoescape=True))
    )
    per_rule: dict[tuple[int | None, str, int], list[tuple[float, str]]] = {}
    for rule_id, name, camera_id, score, state in await db_session.execute(query):
        per_rule.setdefault((rule_id, name, camera_id), []).append((score, state))
    out = []
    for (rule_id, name, camera_id), rows in sorted(per_rule.items(), key=lambda kv: (kv[0][2], kv[0][0] or 0)):
        decided = [(score, state != State.REJECTED.value) for score, state in rows if state != State.PENDING.value]
        accepted = sum(ok for _, ok in decided)
        out.append(
            {
                "rule_id": rule_id,
                "rule_name": name,
                "camera_id": camera_id,
                "raised": len(rows),
                "decided": len(decided),
                "accepted": accepted,
                "rejected": len(decided) - accepted,
                "precision": round(accepted / len(decided), 4) if decided else None,
                "target": target,
                "suggested_min_score": suggest_threshold(decided, target),
            }
        )
    return out
