"""calendar feed keys per user, and lock-outs an administrator lifted (issue 21, part C)

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-07 17:10:00

The feed links signed before this revision carried no key: they stop working, and each
user makes a new one from the "Mes visites" page (the finding was that they never expired).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = '0015'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'calendar_feed',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('changed_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('revoked_at', models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id'),
    )
    with op.batch_alter_table('sign_in_lockout', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lifted_at', models.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('lifted_by', sqlmodel.sql.sqltypes.AutoString(length=120),
                                      nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('sign_in_lockout', schema=None) as batch_op:
        batch_op.drop_column('lifted_by')
        batch_op.drop_column('lifted_at')
    op.drop_table('calendar_feed')
