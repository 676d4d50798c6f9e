"""seat holds until the participant's email is confirmed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

from shared.db import UTCDateTime


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Plain ALTER TABLE, not batch mode: a batch rebuild on SQLite would drop the table and, through
# ON DELETE CASCADE, the rows that hang on it. All three columns are nullable: existing sessions
# need no confirmation, existing seats hold nothing, existing addresses are unconfirmed.


def upgrade() -> None:
    op.add_column('sessions', sa.Column('hold_minutes', sa.Integer(), nullable=True))
    op.add_column(
        'seats', sa.Column('hold_expires_at', UTCDateTime(timezone=True), nullable=True)
    )
    op.create_index('ix_seats_hold_expires_at', 'seats', ['hold_expires_at'], unique=False)
    op.add_column(
        'registrations',
        sa.Column('email_confirmed_at', UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column('registrations', 'email_confirmed_at')
    op.drop_index('ix_seats_hold_expires_at', table_name='seats')
    op.drop_column('seats', 'hold_expires_at')  # SQLite 3.35 and later drop a column in place
    op.drop_column('sessions', 'hold_minutes')
