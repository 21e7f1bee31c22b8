"""Rules in the database: CRUD for the API, config/vision.yaml synced in, and the specs a camera runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import jurisdictions
from dispatch.db import utcnow
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.models import Jurisdiction, User
from dispatch.taxonomy import Taxonomy
from stream.models import Camera
from vision.models import VisionRule
from vision.rules import DEFAULT_CATEGORY, RuleIn, RulePatch

CONFIG_FILE = "vision.yaml"


def rule_dict(rule: VisionRule) -> dict[str, Any]:
    return {
        **rule.spec,
        "id": rule.id,
        "camera_id": rule.camera_id,
        "origin": rule.origin,
        "created_at": rule.created_at.isoformat() if rule.created_at else None,
        "updated_at": rule.updated_at.isoformat() if rule.updated_at else None,
    }


def validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def check_category(spec: RuleIn, taxonomy: Taxonomy) -> None:
    code = spec.category_code or DEFAULT_CATEGORY[spec.kind]
    try:
        taxonomy.get(code)
    except Exception:
        raise InvalidInput(f"unknown category_code {code!r}", field="category_code") from None


async def camera_for(db_session: AsyncSession, user: User, camera_id: int) -> Camera:
    """The camera, when it lies in the user's jurisdiction; NotFound otherwise."""
    camera = await db_session.get(Camera, camera_id)
    if camera is not None and camera.grid_code is not None:
        grid = await db_session.get(Jurisdiction, camera.grid_code)
        if grid is not None and jurisdictions.contains(user.jurisdiction.path, grid.path):
            return camera
    raise NotFound(f"camera {camera_id} not found")


async def list_rules(db_session: AsyncSession, camera_id: int) -> list[VisionRule]:
    rows = await db_session.scalars(select(VisionRule).where(VisionRule.camera_id == camera_id).order_by(VisionRule.id))
    return list(rows)


async def create_rule(
    db_session: AsyncSession, *, camera_id: int, spec: RuleIn, taxonomy: Taxonomy, user_id: int | None
) -> VisionRule:
    check_category(spec, taxonomy)
    now = utcnow()
    rule = VisionRule(
        camera_id=camera_id,
        name=spec.name,
        spec=spec.model_dump(mode="json"),
        origin="api",
        created_by=user_id,
        created_at=now,
        updated_at=now,
    )
    db_session.add(rule)
    await db_session.flush()
    return rule


async def get_rule(db_session: AsyncSession, camera_id: int, rule_id: int) -> VisionRule:
    rule = await db_session.get(VisionRule, rule_id)
    if rule is None or rule.camera_id != camera_id:
        raise NotFound(f"rule {rule_id} of camera {camera_id} not found")
    return rule


def _editable(rule: VisionRule) -> None:
    if rule.origin == "config":
        raise Conflict(f"rule {rule.id} comes from config/{CONFIG_FILE}: edit it there")


async def update_rule(
    db_session: AsyncSession, *, camera_id: int, rule_id: int, patch: RulePatch, taxonomy: Taxonomy
) -> tuple[VisionRule, dict[str, Any]]:
    """Apply the patch; the merged rule is validated as a whole. Returns the rule and the changed fields."""
    rule = await get_rule(db_session, camera_id, rule_id)
    _editable(rule)
    changes = patch.model_dump(exclude_unset=True)
    try:
        spec = RuleIn.model_validate({**rule.spec, **changes})
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from None
    check_category(spec, taxonomy)
    rule.spec = spec.model_dump(mode="json")
    rule.name = spec.name
    rule.updated_at = utcnow()
    await db_session.flush()
    return rule, changes


async def delete_rule(db_session: AsyncSession, *, camera_id: int, rule_id: int) -> VisionRule:
    rule = await get_rule(db_session, camera_id, rule_id)
    _editable(rule)
    await db_session.delete(rule)
    await db_session.flush()
    return rule


async def rules_by_camera(
    db_session: AsyncSession, camera_ids: list[int] | None = None
) -> dict[int, dict[int, RuleIn]]:
    """Every camera's enabled-or-not rules, parsed (a row that no longer parses is skipped)."""
    query = select(VisionRule)
    if camera_ids is not None:
        query = query.where(VisionRule.camera_id.in_(camera_ids))
    out: dict[int, dict[int, RuleIn]] = {}
    for rule in await db_session.scalars(query):
        try:
            out.setdefault(rule.camera_id, {})[rule.id] = RuleIn.model_validate(rule.spec)
        except ValidationError:
            continue
    return out


async def rules_stamp(db_session: AsyncSession) -> tuple[int, Any, int]:
    """Changes whenever a rule is added, edited or deleted (count, newest edit, highest id)."""
    row = (
        await db_session.execute(select(func.count(), func.max(VisionRule.updated_at), func.max(VisionRule.id)))
    ).one()
    return int(row[0]), row[1], int(row[2] or 0)


def read_config(config_dir: Path) -> list[tuple[int, RuleIn]]:
    """Rules of config/vision.yaml: ``rules: [{camera: ID, name: …, kind: …, …}]``; a bad rule is an error
    naming the file and the rule."""
    path = Path(config_dir) / CONFIG_FILE
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for i, item in enumerate(data.get("rules") or []):
        if not isinstance(item, dict) or not isinstance(item.get("camera"), int):
            raise ValueError(f"{path}: rule {i} needs camera: <camera id>")
        body = {k: v for k, v in item.items() if k != "camera"}
        try:
            out.append((item["camera"], RuleIn.model_validate(body)))
        except ValidationError as exc:
            raise ValueError(f"{path}: rule {i} ({body.get('name')!r}): {validation_message(exc)}") from None
    return out


async def sync_config(db_session: AsyncSession, config_dir: Path, taxonomy: Taxonomy) -> int:
    """Make the ``config`` rules in the database those of config/vision.yaml (cameras that exist only)."""
    wanted = read_config(config_dir)
    existing = {
        (r.camera_id, r.name): r
        for r in await db_session.scalars(select(VisionRule).where(VisionRule.origin == "config"))
    }
    cameras = set(await db_session.scalars(select(Camera.id).where(Camera.id.in_({c for c, _ in wanted}))))
    keep = set()
    now = utcnow()
    for camera_id, spec in wanted:
        if camera_id not in cameras:
            continue
        check_category(spec, taxonomy)
        keep.add((camera_id, spec.name))
        rule = existing.get((camera_id, spec.name))
        body = spec.model_dump(mode="json")
        if rule is None:
            db_session.add(
                VisionRule(
                    camera_id=camera_id, name=spec.name, spec=body, origin="config", created_at=now, updated_at=now
                )
            )
        elif rule.spec != body:
            rule.spec, rule.updated_at = body, now
    stale = [r.id for key, r in existing.items() if key not in keep]
    if stale:
        await db_session.execute(delete(VisionRule).where(VisionRule.id.in_(stale)))
    await db_session.commit()
    return len(keep)
