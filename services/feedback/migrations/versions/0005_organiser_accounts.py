"""organiser accounts: the copy of the registration service's accounts, their roles, and
the account of each organiser token (the tokens made before accounts: the legacy account)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:30:00.000000
"""

from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

from shared.db import UTCDateTime


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The tokens made before accounts keep working, as tokens of this account (a full admin).
LEGACY = {
    'id': 'legacy',
    'email': 'legacy@organisers.invalid',
    'name': 'Tokens made before accounts',
    'language': 'en',
    'version': 1,
}


def upgrade() -> None:
    accounts = op.create_table(
        'organiser_accounts',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('disabled_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('email'),
    )
    roles = op.create_table(
        'organiser_roles',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=80), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('account_id', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['organiser_accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_id', 'event'),
    )
    with op.batch_alter_table('organiser_roles', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_organiser_roles_account_id'), ['account_id'], unique=False
        )
    with op.batch_alter_table('organiser_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_organiser_tokens_account_id'), ['account_id'], unique=False
        )
        batch_op.create_foreign_key(
            'fk_organiser_tokens_account_id',
            'organiser_accounts',
            ['account_id'],
            ['id'],
            ondelete='CASCADE',
        )

    now = datetime.now(UTC)
    op.bulk_insert(accounts, [{**LEGACY, 'created_at': now, 'updated_at': now}])
    op.bulk_insert(roles, [{'account_id': LEGACY['id'], 'event': '*', 'role': 'admin'}])
    tokens = sa.table('organiser_tokens', sa.column('account_id', sa.String(length=32)))
    op.execute(tokens.update().values(account_id=LEGACY['id']))


def downgrade() -> None:
    with op.batch_alter_table('organiser_tokens', schema=None) as batch_op:
        batch_op.drop_constraint('fk_organiser_tokens_account_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_organiser_tokens_account_id'))
        batch_op.drop_column('account_id')
    with op.batch_alter_table('organiser_roles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organiser_roles_account_id'))
    op.drop_table('organiser_roles')
    op.drop_table('organiser_accounts')
