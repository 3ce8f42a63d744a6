"""visit holds: a consultant's day offered to one client is held until answered

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'visit_hold',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('consultant_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('visit_id', sa.Integer(), nullable=False),
        sa.Column('claimed_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['consultant_id'], ['user.id'], ),
        sa.ForeignKeyConstraint(['visit_id'], ['visit.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('consultant_id', 'day'),
    )
    with op.batch_alter_table('visit_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_hold_visit_id'), ['visit_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('visit_hold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_hold_visit_id'))
    op.drop_table('visit_hold')
