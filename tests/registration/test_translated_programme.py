"""Translated programme texts, speakers as objects, participants' details, and the pages that
show them in every language: the filter, the manage page's choices, the release step."""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from shared.contracts import TaskNames
from shared.migrations import upgrade
from tests.helpers import ORGANISER_TOKEN, bearer, create_postgres_database, now, require_postgres
from tests.registration.helpers import form, manage_path, page

ORGANISER = bearer(ORGANISER_TOKEN)
THEME = {"fr": "Drogues et criminalité organisée", "nl": "Drugs en georganiseerde misdaad"}
ROOM = {"fr": "Salle Horta", "nl": "Zaal Horta", "en": "Room Horta"}
BIO = {"fr": "Procureur (Pays-Bas)", "nl": "Officier van justitie (Nederland)"}


def outbox(registration_app: Any, task_name: str) -> list[dict[str, Any]]:
    from services.registration.extensions import db
    from services.registration.models import Outbox

    with registration_app.app_context():
        rows = db.session.scalars(select(Outbox).where(Outbox.task_name == task_name)).all()
        return [row.payload for row in rows]


# --- the migration -------------------------------------------------------------------------------


def test_migration_adds_translations_and_turns_speakers_into_objects(backend, tmp_path):
    if backend == "postgresql":
        require_postgres()
        url = create_postgres_database(f"agora_test_migration_{os.getpid()}")
    else:
        url = f"sqlite:///{tmp_path / 'before.sqlite3'}"
    upgrade("registration", url, "0004")
    engine = create_engine(url)
    moment = datetime(2027, 2, 3, 9, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, slug, title, title_translations, city, timezone,"
                " starts_on, ends_on, languages, registration_opens_at, registration_closes_at,"
                " feedback_closes_at, created_at) VALUES (1, 'old', 'Old', '{}', 'Brussels',"
                " 'Europe/Brussels', :day, :day, '[\"en\"]', :at, :at, :at, :at)"
            ),
            {"day": date(2027, 2, 3), "at": moment},
        )
        conn.execute(
            text(
                "INSERT INTO sessions (id, event_id, code, title, title_translations, description,"
                " kind, theme, starts_at, ends_at, room, capacity, seats_taken, waitlist_counter,"
                " speakers, language) VALUES (1, 1, 'S1', 'Old session', '{}', '', 'thematic',"
                " 'Drugs', :at, :at, 'Room A', 10, 0, 0, '[\"A. Speaker\"]', 'en')"
            ),
            {"at": moment},
        )
    upgrade("registration", url)
    with engine.connect() as conn:
        session = conn.execute(text("SELECT * FROM sessions")).mappings().one()
        event = conn.execute(text("SELECT city_translations FROM events")).scalar_one()
    engine.dispose()

    def loaded(value: Any) -> Any:
        return value if not isinstance(value, str) else __import__("json").loads(value)

    assert loaded(session["speakers"]) == [{"name": "A. Speaker", "organisation": "", "bio": {}}]
    for column in ("theme_translations", "room_translations", "description_translations"):
        assert loaded(session[column]) == {}
    assert loaded(event) == {}


# --- the API -------------------------------------------------------------------------------------


def test_translations_and_speakers_go_in_and_out(
    registration_app, registration_client, make_event, make_session
):
    event = make_event(city_translations={"fr": "Bruxelles", "nl": "Brussel"})
    assert event["city_translations"] == {"fr": "Bruxelles", "nl": "Brussel"}
    session = make_session(
        event["slug"],
        theme_translations=THEME,
        room_translations=ROOM,
        description_translations={"fr": "Une description."},
        speakers=["Ana Name", {"name": "", "organisation": "Efus", "bio": BIO}],
    )
    assert session["theme_translations"] == THEME and session["room_translations"] == ROOM
    assert session["description_translations"] == {"fr": "Une description."}
    assert session["speakers"] == [
        {"name": "Ana Name", "organisation": "", "bio": {}},
        {"name": "", "organisation": "Efus", "bio": BIO},
    ]
    published = outbox(registration_app, TaskNames.SESSION_PUBLISHED)[-1]["session"]
    assert published["theme_translations"] == THEME and published["room_translations"] == ROOM
    assert outbox(registration_app, TaskNames.EVENT_PUBLISHED)[-1]["event"]["city_translations"]


def test_a_patch_changes_only_the_translations_it_names(
    registration_client, make_event, make_session
):
    event = make_event()
    session = make_session(event["slug"], theme_translations=THEME, title_translations={"fr": "T"})
    url = f"/api/v1/events/{event['slug']}/sessions/{session['code']}"
    changed = registration_client.patch(url, json={"room_translations": ROOM}, headers=ORGANISER)
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["room_translations"] == ROOM
    assert body["theme_translations"] == THEME and body["title_translations"] == {"fr": "T"}


@pytest.mark.parametrize(
    "field, value",
    [
        ("theme_translations", {"de": "Drogen"}),
        ("theme_translations", {"fr": "x" * 121}),
        ("room_translations", {"fr": ""}),
        ("description_translations", ["fr"]),
        ("speakers", [{"name": "", "bio": {}}]),
        ("speakers", [{"name": "A", "bio": {"es": "Fiscal"}}]),
        ("speakers", [{"name": "A", "title": "Dr"}]),
        ("speakers", [42]),
    ],
)
def test_bad_translations_and_speakers_get_422(
    registration_client, make_event, make_session, field, value
):
    event = make_event()
    session = make_session(event["slug"])
    url = f"/api/v1/events/{event['slug']}/sessions/{session['code']}"
    response = registration_client.patch(url, json={field: value}, headers=ORGANISER)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]


def test_bad_city_translations_get_422(registration_client, organiser):
    from tests.helpers import event_body

    body = event_body(slug="bad-city", city_translations={"xx": "Brussel"})
    response = registration_client.post("/api/v1/events", json=body, headers=organiser)
    assert response.status_code == 422
    assert "city_translations" in response.get_json()["errors"]["json"]


# --- participants' details -----------------------------------------------------------------------


def test_a_participant_corrects_their_details(
    registration_app, registration_client, make_event, register
):
    event = make_event()
    token = register(event["slug"], [])
    headers = bearer(token.get_json()["manage_token"])
    changes = {
        "name": "  Ana Corrected ",
        "organisation": "Efus",
        "country": "fr",
        "language": "nl",
    }
    response = registration_client.patch("/api/v1/registrations/me", json=changes, headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["name"], body["organisation"], body["country"], body["language"]) == (
        "Ana Corrected",
        "Efus",
        "FR",
        "nl",
    )
    assert body["email"].startswith("person") and body["role"] == "local_government"
    (message,) = outbox(registration_app, TaskNames.DETAILS_CHANGED)
    assert message["participant"]["name"] == "Ana Corrected"
    assert message["participant"]["language"] == "nl"
    assert message["event"]["slug"] == event["slug"]
    me = registration_client.get("/api/v1/registrations/me", headers=headers)
    assert me.get_json()["organisation"] == "Efus"

    same = registration_client.patch("/api/v1/registrations/me", json=changes, headers=headers)
    assert same.status_code == 200
    assert len(outbox(registration_app, TaskNames.DETAILS_CHANGED)) == 1  # nothing changed


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"country": "XX"}, "country"),
        ({"role": "king"}, "role"),
        ({"language": "de"}, "language"),
        ({"email": "other@example.org"}, "email"),
        ({"city": "x" * 121}, "city"),
    ],
)
def test_bad_details_get_422_and_change_nothing(
    registration_app, registration_client, make_event, register, changes, field
):
    event = make_event()
    headers = bearer(register(event["slug"], []).get_json()["manage_token"])
    response = registration_client.patch("/api/v1/registrations/me", json=changes, headers=headers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert outbox(registration_app, TaskNames.DETAILS_CHANGED) == []


def test_details_need_the_participant_link(registration_client):
    response = registration_client.patch("/api/v1/registrations/me", json={"name": "X"})
    assert response.status_code == 401


def test_the_manage_page_corrects_details_and_keeps_typed_values(
    registration_app, registration_client, make_event
):
    event = make_event()
    path = manage_path(registration_client.post(f"/events/{event['slug']}/register", data=form()))
    refused = registration_client.post(
        f"{path}/details",
        data={"name": "Ana New", "organisation": "o" * 201, "country": "ZZ", "role": "researcher",
              "language": "fr", "city": "Gent"},
    )  # fmt: skip
    assert refused.status_code == 422
    body = page(refused)
    summary = body.index('id="error-summary"')
    assert 'tabindex="-1" autofocus' in body[summary : summary + 80]
    assert body.index('href="#organisation"') < body.index('href="#country"')
    assert 'value="Ana New"' in body and 'value="Gent"' in body
    assert outbox(registration_app, TaskNames.DETAILS_CHANGED) == []

    saved = registration_client.post(
        f"{path}/details",
        data={"name": "Ana New", "organisation": "Efus", "country": "NL", "role": "researcher",
              "language": "nl", "city": "Gent"},
    )  # fmt: skip
    assert saved.status_code == 303
    assert "Your details are saved." in page(registration_client.get(path))
    assert outbox(registration_app, TaskNames.DETAILS_CHANGED)[0]["participant"]["city"] == "Gent"


# --- the manage page -----------------------------------------------------------------------------


def test_the_add_list_leaves_out_overlapping_and_held_sessions(
    registration_client, make_event, make_session
):
    event = make_event()
    slug = event["slug"]
    start = now() + timedelta(days=20)
    at = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
    make_session(slug, code="HELD", title="Held session", **at)
    make_session(slug, code="SAME", title="Same time", **at)
    make_session(slug, code="LATER", title="Later session")
    path = manage_path(
        registration_client.post(f"/events/{slug}/register", data=form(session_codes=["HELD"]))
    )
    body = page(registration_client.get(f"{path}?lang=en"))
    add_list = body[
        body.index('<select id="code"') : body.index("</select>", body.index('id="code"'))
    ]
    options = re.findall(r'<option value="([A-Z]+)"', add_list)
    assert options == ["LATER"]
    assert "Sessions at the same time as one of yours are not listed" in body


def test_giving_up_a_place_asks_first(registration_client, make_event, make_session):
    event = make_event()
    make_session(event["slug"], code="TH1", title="Trust", title_translations={"fr": "Confiance"})
    path = manage_path(
        registration_client.post(
            f"/events/{event['slug']}/register", data=form(session_codes=["TH1"])
        )
    )
    manage = page(registration_client.get(path))
    assert f'href="{path}/sessions/TH1/drop"' in manage  # a link to the question, not a button

    question = registration_client.get(f"{path}/sessions/TH1/drop?lang=fr")
    assert question.status_code == 200
    body = page(question)
    assert "Confiance" in body and "Voulez-vous renoncer à votre place" in body
    assert f'action="{path}/sessions/TH1/drop"' in body and f'href="{path}"' in body
    assert "<title>Libérer ma place – " in body
    me = registration_client.get(path)  # still held after the question
    assert "Libérer ma place" in page(me) or "Give up my place" in page(me)

    assert registration_client.post(f"{path}/sessions/TH1/drop").status_code == 303
    assert "You have no session." in page(registration_client.get(f"{path}?lang=en"))
    assert registration_client.get(f"{path}/sessions/TH1/drop").status_code == 404


def test_the_rate_link_appears_once_a_held_session_has_started(
    registration_app, registration_client, make_event, make_session
):
    from services.registration.extensions import db
    from services.registration.models import ProgrammeSession

    event = make_event()
    make_session(event["slug"], code="TH1")
    path = manage_path(
        registration_client.post(
            f"/events/{event['slug']}/register", data=form(session_codes=["TH1"])
        )
    )
    token = path.rsplit("/", 1)[1]
    assert "/rate/" not in page(registration_client.get(path))
    with registration_app.app_context():
        session = db.session.scalar(select(ProgrammeSession).where(ProgrammeSession.code == "TH1"))
        session.starts_at = now() - timedelta(minutes=5)
        db.session.commit()
    feedback = registration_app.extensions["settings"].feedback_public_url.rstrip("/")
    assert f'href="{feedback}/rate/{token}"' in page(registration_client.get(path))


# --- the programme -------------------------------------------------------------------------------


def test_the_programme_shows_translated_texts_and_speakers(
    registration_client, make_event, make_session
):
    event = make_event(city_translations={"fr": "Bruxelles", "nl": "Brussel"})
    make_session(
        event["slug"],
        title="Drug markets",
        theme_translations=THEME,
        room_translations=ROOM,
        description="Open drug scenes.",
        description_translations={"nl": "Open drugsscènes."},
        speakers=[{"name": "", "organisation": "Efus", "bio": BIO}, "Ana Name"],
        language="en",
    )
    nl = page(registration_client.get(f"/events/{event['slug']}?lang=nl"))
    assert "Brussel" in nl and "Zaal Horta" in nl and "Drugs en georganiseerde misdaad" in nl
    assert "Open drugsscènes." in nl and "Officier van justitie (Nederland)" in nl
    assert "Ana Name" in nl and "in het Engels" in nl
    assert '<h3 lang="en">Drug markets</h3>' in nl  # no Dutch title: marked as English
    assert "Europe/Brussels" not in nl and "tijd" in nl

    fr = page(registration_client.get(f"/events/{event['slug']}?lang=fr"))
    assert "Bruxelles" in fr and "Salle Horta" in fr and "Procureur (Pays-Bas)" in fr
    assert '<p lang="en">Open drug scenes.</p>' in fr  # no French description
    assert "<title>Programme – " in fr


def test_the_programme_filters_by_theme_and_kind(registration_client, make_event, make_session):
    event = make_event()
    slug = event["slug"]
    make_session(slug, code="D1", title="Drugs one", theme="Drugs", theme_translations=THEME)
    make_session(slug, code="D2", title="Drugs visit", theme="Drugs", kind="field_visit")
    make_session(slug, code="T1", title="Trust one", theme="Trust")
    everything = page(registration_client.get(f"/events/{slug}?lang=fr"))
    assert '<option value="Drugs">Drogues et criminalité organisée</option>' in everything
    assert "Afficher toutes les sessions" not in everything

    drugs = page(registration_client.get(f"/events/{slug}?lang=fr&theme=Drugs"))
    assert "Drugs one" in drugs and "Drugs visit" in drugs and "Trust one" not in drugs
    assert '<option value="Drugs" selected>' in drugs
    assert f'href="/events/{slug}">Afficher toutes les sessions' in drugs

    visits = page(registration_client.get(f"/events/{slug}?theme=Drugs&kind=field_visit&lang=en"))
    assert "Drugs visit" in visits and "Drugs one" not in visits
    unknown = registration_client.get(f"/events/{slug}?theme=Nope&kind=%00&lang=en")
    assert unknown.status_code == 200 and "Trust one" in page(unknown)  # unknown = no filter


def test_days_have_anchors_and_a_one_day_event_shows_one_date(
    registration_client, make_event, make_session
):
    start = (now() + timedelta(days=30)).date()
    event = make_event(starts_on=start.isoformat(), ends_on=start.isoformat())
    make_session(event["slug"])
    make_session(event["slug"], starts_at=(now() + timedelta(days=31)).isoformat(),
                 ends_at=(now() + timedelta(days=31, hours=1)).isoformat())  # fmt: skip
    body = page(registration_client.get(f"/events/{event['slug']}?lang=en"))
    one_day = f"{start.day} {start:%B} {start.year}"
    assert f"· {one_day}</p>" in body and "–" + one_day not in body
    anchors = re.findall(r'<h2 id="(day-[0-9-]+)">', body)
    assert len(anchors) == 2
    assert all(f'href="#{anchor}"' in body for anchor in anchors)


@pytest.mark.parametrize(
    "language, day, clock",
    [("fr", "février", "09:30–11:00"), ("nl", "februari", "09:30–11:00"),
     ("en", "February", "09:30–11:00")],
)  # fmt: skip
def test_dates_and_times_are_written_the_local_way(
    registration_client, make_event, make_session, language, day, clock
):
    from zoneinfo import ZoneInfo

    year = now().year + 1
    starts = datetime(year, 2, 3, 9, 30, tzinfo=ZoneInfo("Europe/Brussels"))
    event = make_event(
        starts_on=f"{year}-02-03",
        ends_on=f"{year}-02-05",
        registration_closes_at=(starts - timedelta(days=1)).isoformat(),
    )
    make_session(event["slug"], starts_at=starts.isoformat(),
                 ends_at=(starts + timedelta(minutes=90)).isoformat())  # fmt: skip
    body = page(registration_client.get(f"/events/{event['slug']}?lang={language}"))
    assert f"3–5 {day} {year}" in body and clock in body
    assert "9:30 AM" not in body and f">{year}-02-03" not in body


# --- the error pages -----------------------------------------------------------------------------


def test_the_429_page_keeps_the_event(settings, registration_db, make_event):
    from services.registration.app import create_app

    event = make_event(title_translations={"fr": "Sécurité et villes"})
    settings = dataclasses.replace(
        settings, registration_database_url=registration_db, rate_limits_enabled=True
    )
    app = create_app({"TESTING": True, "SETTINGS": settings, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    address = f"10.{os.getpid() % 250}.{datetime.now().microsecond % 250}.9"
    url = f"/events/{event['slug']}/resend-link?lang=fr"
    email = f"x-{uuid.uuid4().hex[:12]}@example.org"  # its counter too lives in the shared Redis
    for _ in range(6):
        response = client.post(url, data={"email": email}, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 429
    body = page(response)
    assert "<title>Trop de tentatives – Sécurité et villes</title>" in body
    assert f'<a href="/events/{event["slug"]}">Sécurité et villes</a>' in body
