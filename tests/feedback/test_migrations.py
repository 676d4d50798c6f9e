"""The feedback database's migrations: rows written before a migration still load after it."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from services.feedback.models import Event, ProgrammeSession, Recommendation
from shared.migrations import upgrade
from tests.helpers import create_postgres_database

BEFORE_TRANSLATIONS = "0001"


def empty_database(backend: str, tmp_path) -> str:
    if backend == "postgresql":
        return create_postgres_database(f"agora_test_feedback_migrations_{os.getpid()}")
    return f"sqlite:///{tmp_path / 'feedback.sqlite3'}"


def test_programme_rows_from_before_translations_get_none(backend, tmp_path):
    url = empty_database(backend, tmp_path)
    upgrade("feedback", url, BEFORE_TRANSLATIONS)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, slug, title, title_translations, city, timezone, "
                "starts_on, ends_on, feedback_closes_at) VALUES (1, 'sdc', 'SDC', '{}', "
                "'Brussels', 'Europe/Brussels', '2027-02-03', '2027-02-05', "
                "'2027-03-01 00:00:00+00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO sessions (id, event_id, code, title, title_translations, kind, theme,"
                " starts_at, ends_at, room, language, attendees) VALUES (1, 1, 'TS01', 'Drugs',"
                " '{}', 'thematic', 'Drugs and organised crime', '2027-02-03 09:00:00+00:00',"
                " '2027-02-03 10:30:00+00:00', 'Room Horta', 'en', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO recommendations (id, event_id, theme, text, created_at) VALUES "
                "(1, 1, 'Drugs and organised crime', 'Fund it.', '2027-02-03 12:00:00+00:00')"
            )
        )
    upgrade("feedback", url)
    with Session(engine) as db:
        event = db.scalars(select(Event)).one()
        session = db.scalars(select(ProgrammeSession)).one()
        recommendation = db.scalars(select(Recommendation)).one()
        assert event.city_translations == {} and event.city_in("fr") == "Brussels"
        assert (session.theme_translations, session.room_translations) == ({}, {})
        assert recommendation.language is None
        event.city_translations = {"fr": "Bruxelles"}
        db.commit()
        assert db.scalars(select(Event)).one().city_in("fr") == "Bruxelles"
    engine.dispose()
