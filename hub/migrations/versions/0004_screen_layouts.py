"""screen layouts (big-screen layout documents)

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatch.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "screen_layouts",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("document", dispatch.db.JsonType, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", dispatch.db.Timestamp(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], name=op.f("fk_screen_layouts_updated_by_id_users")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_screen_layouts")),
    )


def downgrade() -> None:
    op.drop_table("screen_layouts")
