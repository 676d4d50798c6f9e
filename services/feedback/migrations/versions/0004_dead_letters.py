"""dead letters

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

from shared.db import UTCDateTime


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dead_letters',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('task_id', sa.String(length=200), nullable=False),
        sa.Column('task_name', sa.String(length=80), nullable=False),
        sa.Column('message', sa.JSON(), nullable=False),
        sa.Column('subject', sa.String(length=32), nullable=True),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('first_failed_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_failed_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('replayed_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('task_id'),
    )
    with op.batch_alter_table('dead_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dead_letters_task_name'), ['task_name'], unique=False)
        batch_op.create_index(batch_op.f('ix_dead_letters_subject'), ['subject'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_dead_letters_last_failed_at'), ['last_failed_at'], unique=False
        )


def downgrade() -> None:
    op.drop_table('dead_letters')
