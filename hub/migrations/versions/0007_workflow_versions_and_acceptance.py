"""workflow truth: timeline versions, acceptance deadlines, no dangling extension requests

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 17:10:00

- ``event_actions.version``: the event's version after each action. Existing timelines are numbered by
  position (report = 1) and each event's ``version`` is set to its number of actions, so that version,
  timeline and messages agree from here on (a client holding an older number reloads on its next 409).
- Pending events get the acceptance time limit (受理时限) of the taxonomy, from their report or reopening.
- Extension requests left waiting on events no longer in 办理中 are closed, and the event's flag cleared.
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

import dispatch.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WARN_FRACTION = 0.8

events = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("state", sa.String),
    sa.column("category_code", sa.String),
    sa.column("urgency", sa.String),
    sa.column("deadline_at", dispatch.db.Timestamp()),
    sa.column("warn_at", dispatch.db.Timestamp()),
    sa.column("created_at", dispatch.db.Timestamp()),
    sa.column("extension_pending", sa.Boolean),
    sa.column("version", sa.Integer),
)
actions = sa.table(
    "event_actions",
    sa.column("id", sa.Integer),
    sa.column("event_id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("created_at", dispatch.db.Timestamp()),
    sa.column("version", sa.Integer),
)
extensions = sa.table(
    "extension_requests",
    sa.column("event_id", sa.Integer),
    sa.column("status", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("event_actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))
    _number_timelines()
    with op.batch_alter_table("event_actions", schema=None) as batch_op:
        batch_op.alter_column("version", existing_type=sa.Integer(), nullable=False)
    _close_dangling_extensions()
    _acceptance_deadlines()


def _number_timelines() -> None:
    earlier = actions.alias("earlier")
    position = (
        sa.select(sa.func.count())
        .where(earlier.c.event_id == actions.c.event_id, earlier.c.id <= actions.c.id)
        .scalar_subquery()
    )
    op.execute(actions.update().values(version=position))
    counted = sa.select(sa.func.count()).where(actions.c.event_id == events.c.id).scalar_subquery()
    has_rows = sa.exists().where(actions.c.event_id == events.c.id)
    op.execute(events.update().where(has_rows).values(version=counted))


def _close_dangling_extensions() -> None:
    not_in_progress = sa.select(events.c.id).where(events.c.state != "in_progress")
    op.execute(
        extensions.update()
        .where(extensions.c.status == "pending", extensions.c.event_id.in_(not_in_progress))
        .values(status="closed")
    )
    op.execute(
        events.update()
        .where(events.c.extension_pending.is_(True), events.c.state != "in_progress")
        .values(extension_pending=False)
    )


def _acceptance_deadlines() -> None:
    from dispatch.taxonomy import load_taxonomy
    from hub.settings import Settings

    taxonomy = load_taxonomy(Settings().config_dir)
    conn = op.get_bind()
    started = (
        sa.select(sa.func.max(actions.c.created_at))
        .where(actions.c.event_id == events.c.id, actions.c.action.in_(["report", "reopen"]))
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(events.c.id, events.c.category_code, events.c.urgency, events.c.created_at, started).where(
            events.c.state == "pending", events.c.deadline_at.is_(None)
        )
    ).all()
    for event_id, category_code, urgency, created_at, start in rows:
        category = taxonomy.categories.get(category_code)
        if category is None:
            continue
        start = dispatch.db.as_utc(start) if start is not None else created_at
        hours = category.accept_hours_for(urgency)
        conn.execute(
            events.update()
            .where(events.c.id == event_id)
            .values(deadline_at=start + timedelta(hours=hours), warn_at=start + timedelta(hours=hours * WARN_FRACTION))
        )


def downgrade() -> None:
    with op.batch_alter_table("event_actions", schema=None) as batch_op:
        batch_op.drop_column("version")
