"""programme translations and recommendation language

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN, never a batch copy: on SQLite (foreign keys on) a
    # batch drops and recreates the table, and dropping `events` would cascade to its sessions.
    op.add_column('events', sa.Column('city_translations', sa.JSON(), server_default='{}', nullable=False))
    op.add_column('sessions', sa.Column('theme_translations', sa.JSON(), server_default='{}', nullable=False))
    op.add_column('sessions', sa.Column('room_translations', sa.JSON(), server_default='{}', nullable=False))
    op.add_column('recommendations', sa.Column('language', sa.String(length=2), nullable=True))


def downgrade() -> None:
    op.drop_column('recommendations', 'language')
    op.drop_column('sessions', 'room_translations')
    op.drop_column('sessions', 'theme_translations')
    op.drop_column('events', 'city_translations')
