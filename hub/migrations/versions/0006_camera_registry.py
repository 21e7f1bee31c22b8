"""camera registry: enabled, tags, updated_at

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatch.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("tags", dispatch.db.JsonType, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("updated_at", dispatch.db.Timestamp(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cameras", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("tags")
        batch_op.drop_column("enabled")
