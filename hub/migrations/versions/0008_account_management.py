"""account management: must_change_password, report_source

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("report_source", sa.String(length=16), nullable=True))
    # Before contract C3 the detection worker created its own account as a leader (vision/account.py's
    # fallback): it becomes the service account it stood for, so ensure_service_account accepts it.
    op.execute(
        "UPDATE users SET role = 'service', report_source = 'detection' "
        "WHERE username = 'vision' AND display_name = 'service: detection'"
    )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("report_source")
        batch_op.drop_column("must_change_password")
