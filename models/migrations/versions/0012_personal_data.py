"""personal data: erasure requests, legal holds, the clients' payload keys (issue 20)

Revision ID: 0012
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '0012'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'erasure_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=True),
        sa.Column('subject', sa.String(), nullable=False),
        sa.Column('requested_by', sa.String(length=120), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('requested_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('detail', sa.String(), nullable=False),
        sa.Column('done_at', models.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_erasure_request_client_id', 'erasure_request', ['client_id'])
    op.create_table(
        'legal_hold',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('set_by', sa.String(length=120), nullable=False),
        sa.Column('set_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('released_by', sa.String(length=120), nullable=False),
        sa.Column('released_at', models.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_legal_hold_client_id', 'legal_hold', ['client_id'])
    op.create_table(
        'client_key',
        sa.Column('key_id', sa.String(length=40), nullable=False),
        sa.Column('wrapped', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key_id'),
    )


def downgrade() -> None:
    op.drop_table('client_key')
    op.drop_index('ix_legal_hold_client_id', table_name='legal_hold')
    op.drop_table('legal_hold')
    op.drop_index('ix_erasure_request_client_id', table_name='erasure_request')
    op.drop_table('erasure_request')
