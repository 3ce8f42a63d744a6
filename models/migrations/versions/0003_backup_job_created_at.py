"""backup_job.created_at: when the desk first knew of a job

Revision ID: 0003
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("backup_job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("backup_job", schema=None) as batch_op:
        batch_op.drop_column("created_at")
