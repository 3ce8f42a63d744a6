"""incident children and inhibition rules: the alerts of a site in outage kept under its
site incident; the alerts an administrator's rule mutes while their cause is open

Revision ID: 0018
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = '0018'
down_revision: str | None = '0011'
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
    op.create_table(
        'inhibition_rule',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=True),
        sa.Column('source_family', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column('source_check', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column('target_family', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column('target_check', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column('equal', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('expires_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'inhibition_audit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=False),
        sa.Column('at', models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['rule_id'], ['inhibition_rule.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_inhibition_audit_rule_id', 'inhibition_audit', ['rule_id'])


def downgrade() -> None:
    op.drop_index('ix_inhibition_audit_rule_id', table_name='inhibition_audit')
    op.drop_table('inhibition_audit')
    op.drop_table('inhibition_rule')
    op.drop_index('ix_incident_child_fingerprint', table_name='incident_child')
    op.drop_index('ix_incident_child_incident_case_id', table_name='incident_child')
    op.drop_table('incident_child')
