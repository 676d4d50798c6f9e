"""The sample programme `make run` loads: the Brussels conference, open for registration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services.registration.models import Outbox
from services.registration.sample import SLUG, first_day, load_sample_programme

THEMATIC = ("thematic", "panel")


def load(registration_app) -> bool:
    from services.registration.extensions import db

    with registration_app.app_context(), db.transaction() as session:
        return load_sample_programme(session)


@pytest.fixture
def programme(registration_app, registration_client) -> list[dict]:
    assert load(registration_app) is True
    response = registration_client.get(f"/api/v1/events/{SLUG}/sessions")
    assert response.status_code == 200
    return response.get_json()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_sample_has_the_conference_structure(programme):
    kinds = [row["kind"] for row in programme]
    assert sum(kind in THEMATIC for kind in kinds) >= 20
    visits = [row for row in programme if row["kind"] == "field_visit"]
    assert len(visits) == 5
    assert all(12 <= row["capacity"] <= 25 for row in visits)
    plenaries = [row for row in programme if row["kind"] == "plenary"]
    assert plenaries[0]["code"] == "PL1" and plenaries[0]["capacity"] is None
    assert programme[0]["code"] == "PL1"  # the opening plenary comes first
    assert all(60 <= row["capacity"] <= 150 for row in programme if row["kind"] in THEMATIC)
    assert 6 <= len({row["theme"] for row in programme}) <= 10


def test_every_title_is_translated(registration_client, programme):
    event = registration_client.get(f"/api/v1/events/{SLUG}").get_json()
    for titled in [event, *programme]:
        translations = titled["title_translations"]
        assert set(translations) == {"fr", "nl", "en"}, titled["title"]
        assert all(text.strip() for text in translations.values())
        assert translations["fr"] != translations["nl"]


def test_sample_is_open_for_registration_and_not_started(registration_client, programme):
    event = registration_client.get(f"/api/v1/events/{SLUG}").get_json()
    now = datetime.now(UTC)
    assert parse(event["registration_opens_at"]) <= now < parse(event["registration_closes_at"])
    assert all(parse(row["starts_at"]) > now for row in programme)
    assert parse(event["registration_closes_at"]) < min(parse(r["starts_at"]) for r in programme)


def test_a_newcomer_can_register_for_a_session_and_a_field_visit(register, programme):
    response = register(SLUG, ["PL1", "TS01", "FV1"])
    assert response.status_code == 201, response.get_json()
    statuses = {s["code"]: s["status"] for s in response.get_json()["sessions"]}
    # A field visit's place waits for the email confirmation; the other sessions do not.
    assert statuses == {"PL1": "confirmed", "TS01": "confirmed", "FV1": "held"}
    assert {row["hold_minutes"] for row in programme if row["kind"] == "field_visit"} == {120}
    assert {row["hold_minutes"] for row in programme if row["kind"] != "field_visit"} == {None}


def test_parallel_sessions_share_a_slot_in_different_rooms(programme):
    slot = [row for row in programme if row["starts_at"] == programme[1]["starts_at"]]
    assert len(slot) >= 4
    assert len({row["room"] for row in slot}) == len(slot)


def test_loading_twice_is_a_no_op(registration_app, registration_client, programme):
    from services.registration.extensions import db

    with db.transaction() as session:
        events_before = session.scalar(select(func.count()).select_from(Outbox))
    assert load(registration_app) is False
    assert registration_client.get(f"/api/v1/events/{SLUG}/sessions").get_json() == programme
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Outbox)) == events_before
    assert events_before == 1 + len(programme)  # the event and each session are published


def test_the_sample_starts_on_a_wednesday_at_least_60_days_ahead():
    now = datetime(2024, 1, 19, 12, tzinfo=UTC)  # a Friday; 60 days later is Tuesday 19 March
    assert first_day(now).isoformat() == "2024-03-20"
