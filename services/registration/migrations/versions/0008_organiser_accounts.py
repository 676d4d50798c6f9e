"""organiser accounts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 16:30:00.000000
"""

from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

from shared.db import UTCDateTime


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# The tokens made before accounts existed keep working: they become the tokens of this account,
# a full admin with no password (it cannot sign in on the pages, only its tokens act).
LEGACY = {
    'id': 'legacy',
    'email': 'legacy@organisers.invalid',
    'name': 'Tokens made before accounts',
    'language': 'en',
    'version': 1,
}


def upgrade() -> None:
    op.create_table(
        'organiser_accounts',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('disabled_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=True),
        sa.Column('totp_secret', sa.String(length=64), nullable=True),
        sa.Column('totp_required', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('totp_confirmed_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('totp_last_step', sa.Integer(), nullable=True),
        sa.Column('last_sign_in_at', UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('email'),
    )
    op.create_table(
        'organiser_roles',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=80), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('account_id', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['organiser_accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_id', 'event'),
    )
    op.create_index(
        'ix_organiser_roles_account_id', 'organiser_roles', ['account_id'], unique=False
    )
    op.create_table(
        'organiser_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=32), nullable=False),
        sa.Column('purpose', sa.String(length=20), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['organiser_accounts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index(
        'ix_organiser_links_account_id', 'organiser_links', ['account_id'], unique=False
    )
    with op.batch_alter_table('organiser_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account_id', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_organiser_tokens_account_id', ['account_id'], unique=False)
        batch_op.create_foreign_key(
            'fk_organiser_tokens_account_id',
            'organiser_accounts',
            ['account_id'],
            ['id'],
            ondelete='CASCADE',
        )

    accounts = sa.table(
        'organiser_accounts',
        *(sa.column(name) for name in LEGACY),
        sa.column('created_at', UTCDateTime(timezone=True)),
        sa.column('updated_at', UTCDateTime(timezone=True)),
        sa.column('totp_required', sa.Boolean()),
    )
    roles = sa.table(
        'organiser_roles', sa.column('account_id'), sa.column('event'), sa.column('role')
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(
        accounts,
        [{**LEGACY, 'created_at': now, 'updated_at': now, 'totp_required': False}],
    )
    op.bulk_insert(roles, [{'account_id': LEGACY['id'], 'event': '*', 'role': 'admin'}])
    op.execute(
        sa.text("UPDATE organiser_tokens SET account_id = :legacy").bindparams(
            legacy=LEGACY['id']
        )
    )


def downgrade() -> None:
    with op.batch_alter_table('organiser_tokens', schema=None) as batch_op:
        batch_op.drop_constraint('fk_organiser_tokens_account_id', type_='foreignkey')
        batch_op.drop_index('ix_organiser_tokens_account_id')
        batch_op.drop_column('account_id')
    op.drop_index('ix_organiser_links_account_id', table_name='organiser_links')
    op.drop_table('organiser_links')
    op.drop_index('ix_organiser_roles_account_id', table_name='organiser_roles')
    op.drop_table('organiser_roles')
    op.drop_table('organiser_accounts')
