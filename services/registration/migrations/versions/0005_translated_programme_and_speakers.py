"""translated city, themes, rooms and descriptions; speakers as objects

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

import shared.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# Existing rows get no translation; '{}' is a valid JSON default on SQLite and PostgreSQL.
# Plain ALTER TABLE, not batch mode: a batch rebuild of `events` on SQLite would drop the table
# and, through ON DELETE CASCADE, every session with it.
NO_TRANSLATIONS = sa.text("'{}'")
TRANSLATED = {
    'events': ('city_translations',),
    'sessions': ('description_translations', 'theme_translations', 'room_translations'),
}
SESSIONS = sa.table('sessions', sa.column('id', sa.Integer), sa.column('speakers', sa.JSON))


def upgrade() -> None:
    for table, columns in TRANSLATED.items():
        for column in columns:
            op.add_column(
                table, sa.Column(column, sa.JSON(), nullable=False, server_default=NO_TRANSLATIONS)
            )
    # A speaker was a name; it becomes {name, organisation, bio}.
    rewrite_speakers(
        lambda speaker: speaker if isinstance(speaker, dict)
        else {'name': speaker, 'organisation': '', 'bio': {}}
    )


def downgrade() -> None:
    rewrite_speakers(
        lambda speaker: speaker.get('name') or speaker.get('organisation') or ''
        if isinstance(speaker, dict) else speaker
    )
    for table, columns in TRANSLATED.items():
        for column in reversed(columns):
            op.drop_column(table, column)  # SQLite 3.35 and later drop a column in place


def rewrite_speakers(convert) -> None:
    connection = op.get_bind()
    for row in connection.execute(sa.select(SESSIONS.c.id, SESSIONS.c.speakers)).all():
        speakers = [convert(speaker) for speaker in row.speakers or []]
        if speakers != (row.speakers or []):
            connection.execute(
                SESSIONS.update().where(SESSIONS.c.id == row.id).values(speakers=speakers)
            )
