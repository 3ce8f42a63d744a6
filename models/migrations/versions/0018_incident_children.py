"""incident children: the alerts of a site in outage, kept under its site incident

Revision ID: 0018
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = '0018'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'incident_child',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_case_id', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=600), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=True),
        sa.Column('server_id', sa.Integer(), nullable=True),
        sa.Column('host', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('family', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('check', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('target', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.Column('last_event_id', sa.Integer(), nullable=True),
        sa.Column('first_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('released_at', models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('released_by_event_id', sa.Integer(), nullable=True),
        sa.Column('case_workflow_id', sqlmodel.sql.sqltypes.AutoString(length=200),
                  nullable=True),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.ForeignKeyConstraint(['incident_case_id'], ['case.id']),
        sa.ForeignKeyConstraint(['last_event_id'], ['alert_event.id']),
        sa.ForeignKeyConstraint(['released_by_event_id'], ['alert_event.id']),
        sa.ForeignKeyConstraint(['server_id'], ['server.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('incident_case_id', 'fingerprint'),
    )
    op.create_index('ix_incident_child_incident_case_id', 'incident_child',
                    ['incident_case_id'])
    op.create_index('ix_incident_child_fingerprint', 'incident_child', ['fingerprint'])


def downgrade() -> None:
    op.drop_index('ix_incident_child_fingerprint', table_name='incident_child')
    op.drop_index('ix_incident_child_incident_case_id', table_name='incident_child')
    op.drop_table('incident_child')
