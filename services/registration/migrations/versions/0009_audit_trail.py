"""audit trail

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 16:30:00.000000
"""

from alembic import op
import sqlalchemy as sa

from shared.db import UTCDateTime


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=32), nullable=False),
        sa.Column('action', sa.String(length=80), nullable=False),
        sa.Column('target', sa.String(length=200), nullable=True),
        sa.Column('event', sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_event'), ['event'], unique=False)


def downgrade() -> None:
    op.drop_table('audit_log')
