"""Detection rules per camera (admins) and the per-rule precision report (vision/)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from dispatch import audit
from dispatch.models import Role, User
from hub.deps import AdminUser, AppTaxonomy, RequireRole, SessionDep
from vision import precision, store
from vision.rules import RuleIn, RulePatch

router = APIRouter(prefix="/api/v1", tags=["vision"])

CameraId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The camera id.")]
RuleId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The rule id.")]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown camera or rule, or a camera outside your jurisdiction"},
    409: {"description": "the rule comes from config/vision.yaml and is edited there"},
    422: {"description": "invalid rule: the message says what (self-intersecting or out-of-frame zone, …)"},
}


class RuleList(BaseModel):
    camera_id: int
    items: list[dict[str, Any]]


async def _audit(request: Request, db_session: Any, user: User, kind: str, target: str, detail: dict[str, Any]) -> None:
    """Rule changes are security-relevant (contract C1): one audit row in the change's own transaction."""
    await audit.record(
        db_session, kind=kind, actor_id=user.id, actor_name=user.username, address=None, target=target, detail=detail
    )


@router.get("/cameras/{camera_id}/rules", response_model=RuleList, responses={404: ERRORS[404]})
async def list_rules(camera_id: CameraId, user: AdminUser, db_session: SessionDep) -> RuleList:
    """The camera's detection rules (admin)."""
    await store.camera_for(db_session, user, camera_id)
    return RuleList(
        camera_id=camera_id, items=[store.rule_dict(r) for r in await store.list_rules(db_session, camera_id)]
    )


@router.post("/cameras/{camera_id}/rules", status_code=201, responses={404: ERRORS[404], 422: ERRORS[422]})
async def create_rule(
    camera_id: CameraId, body: RuleIn, request: Request, user: AdminUser, db_session: SessionDep, taxonomy: AppTaxonomy
) -> dict[str, Any]:
    """Add a rule (admin). Zones and lines are in fractions of the frame (0…1); validated as a whole."""
    await store.camera_for(db_session, user, camera_id)
    rule = await store.create_rule(db_session, camera_id=camera_id, spec=body, taxonomy=taxonomy, user_id=user.id)
    await _audit(request, db_session, user, "rule.create", f"camera:{camera_id}/rule:{rule.id}", {"name": rule.name})
    await db_session.commit()
    return store.rule_dict(rule)


@router.patch("/cameras/{camera_id}/rules/{rule_id}", responses=ERRORS)
async def update_rule(
    camera_id: CameraId,
    rule_id: RuleId,
    body: RulePatch,
    request: Request,
    user: AdminUser,
    db_session: SessionDep,
    taxonomy: AppTaxonomy,
) -> dict[str, Any]:
    """Change some fields of a rule (admin); the merged rule must be valid."""
    await store.camera_for(db_session, user, camera_id)
    rule, changes = await store.update_rule(
        db_session, camera_id=camera_id, rule_id=rule_id, patch=body, taxonomy=taxonomy
    )
    await _audit(
        request, db_session, user, "rule.update", f"camera:{camera_id}/rule:{rule_id}", {"changed": sorted(changes)}
    )
    await db_session.commit()
    return store.rule_dict(rule)


@router.delete("/cameras/{camera_id}/rules/{rule_id}", status_code=204, responses={404: ERRORS[404], 409: ERRORS[409]})
async def delete_rule(
    camera_id: CameraId, rule_id: RuleId, request: Request, user: AdminUser, db_session: SessionDep
) -> Response:
    """Delete a rule (admin)."""
    await store.camera_for(db_session, user, camera_id)
    rule = await store.delete_rule(db_session, camera_id=camera_id, rule_id=rule_id)
    await _audit(request, db_session, user, "rule.delete", f"camera:{camera_id}/rule:{rule_id}", {"name": rule.name})
    await db_session.commit()
    return Response(status_code=204)


class PrecisionOut(BaseModel):
    target: float
    rules: list[dict[str, Any]]


PrecisionUser = Annotated[User, Depends(RequireRole(Role.ADMIN, Role.DISPATCHER, Role.LEADER))]


@router.get("/vision/precision", response_model=PrecisionOut)
async def rule_precision(
    user: PrecisionUser,
    db_session: SessionDep,
    target: Annotated[float, Query(gt=0, le=1, description="Precision the suggested threshold aims for.")] = 0.9,
) -> PrecisionOut:
    """Per rule: candidates raised, accepted ÷ decided by dispatchers, and a suggested minimum score."""
    return PrecisionOut(target=target, rules=await precision.precision_report(db_session, user, target=target))
