"""period indexes: events by report and closing time, actions by time (statistics and the big screen)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_created", "events", ["created_at"], unique=False)
    op.create_index("ix_events_closed", "events", ["closed_at"], unique=False)
    op.create_index("ix_event_actions_created", "event_actions", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_actions_created", table_name="event_actions")
    op.drop_index("ix_events_closed", table_name="events")
    op.drop_index("ix_events_created", table_name="events")
