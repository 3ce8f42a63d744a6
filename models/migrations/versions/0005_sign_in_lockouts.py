"""sign-in lock-outs (issue 11): the audit of the sign-in limits, and an index per address

Revision ID: 0005
Revises: 0007
Create Date: 2026-12-01 11:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = '0005'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sign_in_lockout',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('until', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('ip', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sign_in_lockout', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_lockout_at'), ['at'], unique=False)
        batch_op.create_index('ix_sign_in_lockout_subject', ['scope', 'subject', 'until'],
                              unique=False)
    with op.batch_alter_table('sign_in_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_sign_in_address', ['ip', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sign_in_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_sign_in_address')
    with op.batch_alter_table('sign_in_lockout', schema=None) as batch_op:
        batch_op.drop_index('ix_sign_in_lockout_subject')
        batch_op.drop_index(batch_op.f('ix_sign_in_lockout_at'))
    op.drop_table('sign_in_lockout')
