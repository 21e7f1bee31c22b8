"""screen layout owner: the jurisdiction whose leaders (and those above them) may change a screen's layout

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 03:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: saved before layouts had owners, treated as the whole tree's (its top leaders and admins edit it)
    op.add_column("screen_layouts", sa.Column("owner_code", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("screen_layouts") as batch:
        batch.drop_column("owner_code")
