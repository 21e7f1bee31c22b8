"""realtime dispatch deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 23:34:04.902627
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatch.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "realtime_dispatch",
        sa.Column("outbox_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("frame", sa.Text(), nullable=False),
        sa.Column("created_at", dispatch.db.Timestamp(timezone=True), nullable=False),
        sa.Column("acked_at", dispatch.db.Timestamp(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_realtime_dispatch")),
    )
    with op.batch_alter_table("realtime_dispatch", schema=None) as batch_op:
        batch_op.create_index("ix_realtime_dispatch_user_unacked", ["user_id", "acked_at", "offset"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("realtime_dispatch", schema=None) as batch_op:
        batch_op.drop_index("ix_realtime_dispatch_user_unacked")

    op.drop_table("realtime_dispatch")
