"""erasure tombstones

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 14:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

from shared.db import UTCDateTime


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'erased_registrations',
        sa.Column('registration_id', sa.String(length=32), nullable=False),
        sa.Column('erased_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('registration_id'),
    )


def downgrade() -> None:
    op.drop_table('erased_registrations')
