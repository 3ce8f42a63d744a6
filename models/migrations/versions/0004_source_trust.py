"""trust boundaries: per-client source rules, how each event's source was verified

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 11:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('source_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id', 'kind', 'value')
    )
    with op.batch_alter_table('source_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_source_rule_client_id'), ['client_id'], unique=False)
    with op.batch_alter_table('raw_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('helo', sqlmodel.sql.sqltypes.AutoString(length=255),
                                      nullable=False, server_default=''))
    with op.batch_alter_table('alert_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_check', sqlmodel.sql.sqltypes.AutoString(length=20),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('source_detail',
                                      sqlmodel.sql.sqltypes.AutoString(length=300),
                                      nullable=False, server_default=''))
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_verified', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('source_verified')
    with op.batch_alter_table('alert_event', schema=None) as batch_op:
        batch_op.drop_column('source_detail')
        batch_op.drop_column('source_check')
    with op.batch_alter_table('raw_message', schema=None) as batch_op:
        batch_op.drop_column('helo')
    with op.batch_alter_table('source_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_source_rule_client_id'))
    op.drop_table('source_rule')
